"""Retrain the best: the best trial's params trained on training + validation data for the epochs
that trial needed, evaluated on the test set, recorded as its own MLflow run (``hpsearch retrain``).

* **Which trial**: :func:`~hpsearch.study._ranking.best_trial`, the one ranking; or any completed
  trial by number (``--trial``: another point of a Pareto front, say).
* **How long**: its best epoch (the epoch early stopping restored; the K-fold mean's best epoch),
  else the epochs it trained, else the study's ``training.max_epochs``; ``epochs`` overrides.
  There is no validation split left, so nothing stops training early.
* **Seed**: the trial's own (``seed + number of its first attempt``): the same initial weights
  and augmentation draws as the trial.
* **Record**: a run tagged ``hpsearch.role = retrain`` under the study's parent run, with the
  trial's params plus :class:`~hpsearch.keys.RetrainParam` ones, per-epoch training metrics
  (``train_steps``: the batches each epoch took), the test metrics and the model at
  ``model/best.keras``, where a trial keeps its model. Each retrain is a new run; ``export
  --retrained`` exports the newest finished one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch._errors import HPSearchError, RuntimeFailure, UsageError
from hpsearch.config import StudyConfig
from hpsearch.data._types import Dataset
from hpsearch.keys import RetrainParam, RunStatus, State, StudyAttr, Tag, TrialAttr
from hpsearch.space._sample import sample
from hpsearch.study._loop import first_attempt
from hpsearch.study._ranking import best_trial
from hpsearch.study._reporter import NullReporter, Reporter

__all__ = ["RetrainResult", "best_to_retrain", "retrain_epochs", "retrain_best"]


@dataclass
class RetrainResult:
    """What ``hpsearch retrain`` did."""

    source_trial: int
    run_id: str
    epochs: int
    epochs_from: str  #: ``best_epoch``, ``epochs_trained``, ``max_epochs`` or ``--epochs``
    examples: int  #: training examples per epoch
    steps_per_epoch: int
    test_metrics: dict[str, float]
    earlier_runs: int  #: retrain runs of the study before this one
    search_test: dict[str, Any] | None = None  #: the trial's best checkpoint's test metrics, from the search
    data_note: str | None = None
    notes: list[str] = field(default_factory=list)


def best_to_retrain(study: optuna.Study, number: int | None = None) -> FrozenTrial:
    """The best trial (or completed trial ``number``), or one line saying why there is none.

    Raises:
        RuntimeFailure: no completed trial yet.
        UsageError: trial ``number`` does not exist or did not complete (with the ones that did).
    """
    if number is not None:
        trials = study.get_trials(deepcopy=False)
        done = [t.number for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        found = next((t for t in trials if t.number == number), None)
        if found is not None and found.number in done:
            return found
        what = f"has no trial {number}" if found is None else f"trial {number} is {found.state.name}"
        shown = ", ".join(map(str, done[:20])) + (", ..." if len(done) > 20 else "")
        raise UsageError(
            f"--trial {number}: study {study.study_name!r} {what}; completed trials you can retrain: {shown or 'none yet'} "
            f"(see hpsearch show {study.study_name})."
        )
    best = best_trial(study)
    if best is None:
        raise RuntimeFailure(
            f"Study {study.study_name!r} has no completed trial yet, so there is nothing to retrain; "
            f"run `hpsearch study {study.study_name}` first."
        )
    return best


def retrain_epochs(best: FrozenTrial, config: StudyConfig, epochs: int | None = None) -> tuple[int, str]:
    """``(epochs, where the number came from)`` for retraining ``best`` (see the module doc)."""
    if epochs is not None:
        return int(epochs), "--epochs"
    for attr, source in ((TrialAttr.BEST_EPOCH, "best_epoch"), (TrialAttr.EPOCHS_TRAINED, "epochs_trained")):
        value = best.user_attrs.get(attr)
        if value:
            return int(value), source
    return int(config.training.max_epochs), "max_epochs"


def _logged_rates(tracking: Any, run_id: str | None) -> dict[int, float]:
    """The per-epoch learning rates trial run ``run_id`` logged (empty when it has none)."""
    if not run_id:
        return {}
    try:
        return {int(step): float(v) for step, v in tracking.metric_history(run_id, "learning_rate") if math.isfinite(v)}
    except Exception:  # noqa: BLE001 - an unreachable or pruned history: the plan's rate is used
        return {}


def retrain_best(
    study: optuna.Study,
    config: StudyConfig,
    tracking: Any,
    dataset: Dataset,
    *,
    epochs: int | None = None,
    reporter: Reporter | None = None,
    trial: int | None = None,
) -> RetrainResult:
    """Retrain the best trial of ``study`` (or completed trial number ``trial``) on ``dataset``'s
    training + validation data and record it.

    ``tracking`` is the study's :class:`~hpsearch.tracking.StudyTracking`, attached to its parent run.

    Raises:
        RuntimeFailure: no completed trial; training diverged or failed (its run is marked FAILED).
        KeyboardInterrupt: after the run is marked KILLED.
    """
    import keras

    from hpsearch.data._pipelines import Pipelines
    from hpsearch.study._best_model import evaluate, scratch_dir
    from hpsearch.tracking._retrain import retrain_runs, start_retrain_run
    from hpsearch.trial._outcome import reason_of
    from hpsearch.trial._retrain import fit_on_all

    reporter = reporter or NullReporter()
    best = best_to_retrain(study, trial)
    count, source = retrain_epochs(best, config, epochs)
    params = sample(optuna.trial.FixedTrial(dict(best.params)), config.search_space)
    examples = len(dataset.train) + len(dataset.validation)
    earlier = len(retrain_runs(tracking))
    run = start_retrain_run(
        tracking,
        best.number,
        {**params, RetrainParam.SOURCE_TRIAL: best.number, RetrainParam.EPOCHS: count, RetrainParam.EPOCHS_FROM: source, RetrainParam.EXAMPLES: examples},
    )
    reporter.trial_started(best.number, params, None)
    try:
        trained = fit_on_all(
            config, dataset, params, epochs=count, seed=int(config.seed or 0) + first_attempt(best),
            learning_rates=_logged_rates(tracking, best.user_attrs.get(TrialAttr.MLFLOW_RUN_ID)),
            log=run.log_epoch, on_epoch=lambda epoch, logs: reporter.epoch_end(best.number, epoch, logs),
        )
        metrics = evaluate(trained.model, Pipelines(dataset))
        run.log_metrics(metrics, step=count)
        with scratch_dir() as tmp:
            path = Path(tmp) / "best.keras"
            trained.model.save(path)
            run.store_artifact(path, "model")
        run.finish(State.COMPLETE, tags={Tag.EPOCHS_TRAINED: count})
    except Exception as e:
        run.finish(State.FAIL, tags={Tag.FAIL_REASON: reason_of(e)})
        if isinstance(e, HPSearchError):
            raise
        raise RuntimeFailure(f"Retraining trial {best.number} failed ({reason_of(e)}); its MLflow run {run.run_id} is marked FAILED.") from e
    except BaseException:
        run.finish(RunStatus.KILLED, tags={Tag.FAIL_REASON: "interrupted"})
        raise
    finally:
        keras.backend.clear_session(free_memory=True)
    stored = study.user_attrs.get(StudyAttr.TEST) or {}
    return RetrainResult(
        source_trial=best.number,
        run_id=run.run_id,
        epochs=count,
        epochs_from=source,
        examples=trained.examples,
        steps_per_epoch=trained.steps_per_epoch,
        test_metrics=metrics,
        earlier_runs=earlier,
        search_test={k: v for k, v in stored.items() if k != "trial"} if stored.get("trial") == best.number else None,
    )
