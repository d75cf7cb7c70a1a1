"""Close a study's books once no trial is running: end leftover runs, store pending files,
test-evaluate the best trial, end the parent run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.config import StudyConfig
from hpsearch.data._datasets import Dataset
from hpsearch.study._loop import Counts, count_trials
from hpsearch.study._ranking import best_trial, first_value
from hpsearch.study._reporter import NullReporter, Reporter
from hpsearch.keys import RunStatus, StudyAttr, Tag, TrialAttr

__all__ = ["finalize_study", "upload_pending", "pending_message", "close_after_stop"]


def _sweep_runs(study: optuna.Study, tracking: Any) -> int:
    """End MLflow trial runs left RUNNING although their Optuna trial is over (killed between the
    two writes). Returns how many were fixed."""

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    fixed = 0
    for run in tracking.child_runs():
        if run.status != RunStatus.RUNNING:
            continue
        trial = trials.get(run.trial_number) if run.trial_number is not None else None
        if trial is not None and trial.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        state = trial.state.name if trial is not None else RunStatus.KILLED
        reason = trial.user_attrs.get(TrialAttr.FAIL_REASON) if trial is not None else "no Optuna trial"
        tracking.trial_run(run.run_id).finish(
            state, value=first_value(trial) if trial is not None else None, tags={Tag.FAIL_REASON: reason} if reason else None
        )
        fixed += 1
    return fixed


def upload_pending(tracking: Any, study_dir: Path, reporter: Reporter) -> None:
    """Store the files that earlier runs could not get into MLflow (kept in the trials' checkpoint
    folders); a folder is deleted once the store lists all its files."""
    from hpsearch.trial._checkpoints import TrialCheckpoints

    for pending in TrialCheckpoints.pending_in(study_dir):
        run = tracking.trial_run(pending.run_id)
        try:
            for name, artifact_path in pending.files:
                run.store_artifact(pending.directory / name, artifact_path)
            run.delete_tags([Tag.MODEL_PENDING])
        except Exception as e:  # noqa: BLE001 - still unwritable: keep it for the next run
            cause = f"{type(e).__name__}: {e}".splitlines()[0]
            reporter.message(f"trial {pending.trial}: its model is still not stored in MLflow ({cause}); kept in {pending.directory}")
            continue
        TrialCheckpoints(pending.directory).clear()
        reporter.message(f"trial {pending.trial}: stored {', '.join(f'{a}/{n}' for n, a in pending.files)} in MLflow (kept since an earlier run)")


def pending_message(study_dir: Path) -> str | None:
    """One line about trials whose files are still waiting for MLflow, or ``None``."""
    from hpsearch.trial._checkpoints import TrialCheckpoints

    pending = TrialCheckpoints.pending_in(study_dir)
    if not pending:
        return None
    trials = ", ".join(str(p.trial) for p in pending)
    return (
        f"The models of trial(s) {trials} are not in MLflow yet ({pending[-1].error}); they are kept in "
        f"{study_dir}. Make the artifact folder writable, then run the same command again: it stores them first."
    )


def close_after_stop(study: optuna.Study, tracking: Any, status: str) -> None:
    """Interrupted or failed: end the runs that are over and the parent run, best effort."""
    try:
        _sweep_runs(study, tracking)
        tracking.close_parent(status)
    except Exception:  # noqa: BLE001 - never hide the original error
        pass


def finalize_study(
    study: optuna.Study,
    config: StudyConfig,
    tracking: Any,
    dataset: Dataset,
    *,
    pipelines: Any = None,
    interrupted: bool = False,
    pending: str | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any] | None:
    """Close the books once no trial is running: sweep runs, test-evaluate the best trial, end the
    parent run (FAILED while ``pending`` trial files are not in MLflow; never left RUNNING).
    Returns the test metrics (or ``None``)."""
    counts = count_trials(study)
    if counts.running:
        return None
    try:
        _sweep_runs(study, tracking)
        parent = tracking.parent()
        test = _test_best(study, config, tracking, dataset, pipelines, counts, reporter or NullReporter())
        parent.set_tags(
            {
                Tag.COMPLETE: counts.complete,
                Tag.PRUNED: counts.pruned,
                Tag.FAILED: counts.failed,
            }
        )
    except BaseException:
        close_after_stop(study, tracking, RunStatus.FAILED)
        raise
    tracking.close_parent(RunStatus.KILLED if interrupted else RunStatus.FAILED if pending else RunStatus.FINISHED)
    return test


def _retrain_best(best: FrozenTrial, config: StudyConfig, dataset: Dataset, tracking: Any, reporter: Reporter) -> None:
    """K-fold: the best trial trained no model of its own; train it on all training data for its
    best epoch count and store that as its model (``model/best.keras``)."""
    import keras

    from hpsearch.space._sample import sample
    from hpsearch.study._best_model import scratch_dir
    from hpsearch.study._loop import first_attempt
    from hpsearch.trial._kfold import retrain_on_all

    epochs = int(best.user_attrs.get(TrialAttr.BEST_EPOCH) or config.training.max_epochs)
    params = sample(optuna.trial.FixedTrial(dict(best.params)), config.search_space)
    reporter.message(f"trial {best.number}: retraining on all training data for {epochs} epochs (the best epoch count of its folds)")
    model = retrain_on_all(config, dataset, params, epochs, seed=int(config.seed or 0) + first_attempt(best))  # the trial's own seed
    with scratch_dir() as tmp:
        path = Path(tmp) / "best.keras"
        model.save(path)
        tracking.trial_run(best.user_attrs[TrialAttr.MLFLOW_RUN_ID]).store_artifact(path, "model")
    keras.backend.clear_session(free_memory=True)


def _test_best(
    study: optuna.Study, config: StudyConfig, tracking: Any, dataset: Dataset, pipelines: Any, counts: Counts, reporter: Reporter
) -> dict[str, Any] | None:
    """Evaluate the best trial's model (from MLflow) on the test set and log it to the parent run.

    A best model MLflow does not have is a message, not a failed study: the next run (once its
    upload went through) evaluates it.
    """
    best = best_trial(study)
    if best is None or not best.user_attrs.get(TrialAttr.MLFLOW_RUN_ID):
        return None
    stored = study.user_attrs.get(StudyAttr.TEST) or {}
    parent = tracking.parent()
    if stored.get("trial") == best.number and best.number in parent.logged_steps("test_loss"):
        return stored  # the best trial has not changed since its test metrics were logged
    import keras

    from hpsearch.data._datasets import Pipelines
    from hpsearch.study._best_model import evaluate, fetch_checkpoint, load_checkpoint, scratch_dir
    from hpsearch.study._model_check import import_builder

    run_id = best.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    try:
        import_builder(config)  # its custom layers, before its checkpoint is loaded
        if config.folds and not tracking.has_model(run_id):
            _retrain_best(best, config, dataset, tracking, reporter)
        if not tracking.has_model(run_id):
            raise RuntimeFailure(f"its MLflow run {run_id} has no model/best.keras (yet).")
        with scratch_dir() as tmp:
            model = load_checkpoint(fetch_checkpoint(tracking, run_id, tmp))
    except (RuntimeFailure, UsageError) as e:
        reporter.message(f"No test-set evaluation of trial {best.number}: {e}")
        return None
    metrics = evaluate(model, pipelines or Pipelines(dataset))
    del model
    keras.backend.clear_session(free_memory=True)
    parent.log_metrics(metrics, step=best.number)  # once per change of the best trial, at its number
    test = {"trial": best.number, **metrics}
    study.set_user_attr(StudyAttr.TEST, test)
    parent.set_tags({Tag.BEST_TRIAL: best.number, Tag.BEST_VALUE: repr(first_value(best))})
    return test
