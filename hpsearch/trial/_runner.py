"""How one trial runs: sample -> gather its resume state -> build (or resume) -> fit -> outcome.

:meth:`TrialRunner.run` never lets an ordinary exception escape: a trial that fails (bad params,
out of memory, NaN loss) becomes a ``FAIL`` outcome with its reason, and the study goes on. Only
interruptions (Ctrl-C, SIGTERM) propagate, after the trial's MLflow run is marked ``KILLED`` and
its resume checkpoint is left in place for the retry.

The runner does not talk to the Optuna study: it gets a trial, reports intermediate values to it,
and returns a :class:`TrialOutcome`; the study loop tells Optuna and then calls
:meth:`TrialRunner.close` to end the MLflow run with the state Optuna recorded.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from hpsearch.config import StudyConfig
from hpsearch.data._datasets import Pipelines
from hpsearch.models._build import ModelFactory
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate
from hpsearch.models._trial_model import build_trial_model
from hpsearch.space._sample import sample
from hpsearch.tasks import Head
from hpsearch.tasks._plan import TaskPlan, plan_for
from hpsearch.tracking import StudyTracking, TrialRun
from hpsearch.trial._seeds import seed_everything
from hpsearch.trial._artifacts import store_artifacts, verify_best_checkpoint
from hpsearch.trial._assemble import TrialCallbacks
from hpsearch.trial._checkpoints import TrialCheckpoints
from hpsearch.trial._kfold import KFoldState, fold_datasets, fold_metric, run_folds
from hpsearch.trial._outcome import TrialOutcome, reason_of
from hpsearch.trial._resume import Resume, gather_resume
from hpsearch.catalog import LATENCY_BATCH
from hpsearch.keys import RunStatus, State, Tag, TrialAttr, objective_metric
from hpsearch.trial._measure import objective_values

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialRunner", "EpochCallback"]

#: ``hook(trial_number, epoch, logs)`` called after every epoch (progress display).
EpochCallback = Callable[[int, int, Mapping[str, Any]], None]


def _best(history: list[dict[str, float]], metric: str, direction: str, tie_break: str | None = None) -> tuple[float | None, int | None]:
    """The best value of ``metric`` and its epoch; equal values go to the lower ``tie_break``
    (then the earlier epoch), as :class:`~hpsearch.trial.callbacks.BestCheckpoint` picks them."""
    sign = -1.0 if direction == "maximize" else 1.0

    def tie(row: dict[str, float]) -> float:
        value = row.get(tie_break, math.inf) if tie_break else math.inf
        return value if math.isfinite(value) else math.inf

    scored = [(sign * row[metric], tie(row), int(row["epoch"]), row[metric]) for row in history if metric in row and math.isfinite(row[metric])]
    if not scored:
        return None, None
    _, _, epoch, value = min(scored)
    return value, epoch


def _tie_break_value(outcome: TrialOutcome, tie_break: str | None) -> float | None:
    """The tie-breaker at the trial's best epoch (what ranks trials with equal values)."""
    row = outcome.best_row()
    value = row.get(tie_break) if row is not None and tie_break else None
    return float(value) if value is not None and math.isfinite(value) else None


class TrialRunner:
    """Trains trials of one study in this process: build, gather resume, fit, close.

    Args:
        config: the study.
        pipelines: the data, as tf.data pipelines (built once per process).
        tracking: the study's MLflow side (parent run opened).
        checkpoint_dir: the study's checkpoint folder; each trial gets ``trial-<first number>``.
        on_epoch: optional progress hook.
        on_message: where one-line notices go (a fallback to an older checkpoint, an upload
            MLflow refused); default: ``warnings.warn``.
    """

    def __init__(
        self,
        config: StudyConfig,
        pipelines: Pipelines,
        tracking: StudyTracking,
        checkpoint_dir: Path,
        *,
        on_epoch: EpochCallback | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        if config.seed is None:
            raise ValueError("`config.seed` must be set (open_study / load_study settle it), but got (seed=None).")
        self.config = config
        self.pipelines = pipelines
        self.tracking = tracking
        self.checkpoint_dir = Path(checkpoint_dir)
        self.on_epoch = on_epoch
        self.on_message = on_message
        self.plan: TaskPlan = plan_for(config, pipelines.dataset)
        self.models = ModelFactory(config)  # imports a builder you write: its custom layers load in checkpoints
        self._folds: list[Pipelines] | None = None  #: K-fold: each fold's pipelines (made on first use)

    def _say(self, text: str) -> None:
        if self.on_message is not None:
            self.on_message(text)
        else:
            warnings.warn(text, stacklevel=3)

    def checkpoints_for(self, first_number: int) -> TrialCheckpoints:
        return TrialCheckpoints.of_trial(self.checkpoint_dir, first_number)

    # -- one trial ---------------------------------------------------------------------------

    def run(self, trial: optuna.Trial, *, first_number: int | None = None) -> TrialOutcome:
        """Run ``trial`` (attempt of trial ``first_number`` when it is a retry)."""
        start = time.monotonic()
        first = trial.number if first_number is None else first_number
        ckpt = self.checkpoints_for(first)
        outcome = TrialOutcome(number=trial.number, state=State.FAIL, params={}, checkpoints=ckpt)
        for stale in (TrialAttr.FAIL_REASON, TrialAttr.TRACEBACK):  # a retry inherits its failed attempt's attrs
            if trial.user_attrs.get(stale) is not None:
                trial.set_user_attr(stale, None)
        try:
            outcome.params = sample(trial, self.config.search_space)
            if self.config.validation is not None and self.config.validation.folds:
                self._run_folds(trial, outcome, ckpt, first)
            else:
                self._run_single(trial, outcome, ckpt, first)
        except Exception as e:  # noqa: BLE001 - any error fails this trial only
            outcome.state = State.FAIL
            outcome.reason = reason_of(e)
            outcome.value = outcome.values = None
            trial.set_user_attr(TrialAttr.TRACEBACK, traceback.format_exc()[-4000:])
        except BaseException:  # interrupted: leave the checkpoint for the retry
            if outcome.run is not None:
                outcome.run.finish(RunStatus.KILLED, tags={Tag.FAIL_REASON: "interrupted"})
            raise
        finally:
            keras.backend.clear_session(free_memory=True)  # also runs gc.collect()
        return self._end(trial, outcome, start)

    def _end(self, trial: optuna.Trial, outcome: TrialOutcome, start: float) -> TrialOutcome:
        """Record how the trial went (attrs) and store its files in its run."""
        outcome.seconds = time.monotonic() - start
        trial.set_user_attr(TrialAttr.EPOCHS_TRAINED, outcome.epochs_trained)
        if outcome.best_epoch is not None:
            trial.set_user_attr(TrialAttr.BEST_EPOCH, outcome.best_epoch)
            tie = _tie_break_value(outcome, self.config.objective.tie_break)
            if tie is not None:
                trial.set_user_attr(TrialAttr.TIE_BREAK, tie)
        if outcome.reason:
            trial.set_user_attr(TrialAttr.FAIL_REASON, outcome.reason)
        if outcome.run is not None:
            store_artifacts(outcome, study_name=self.config.name, metric=self.config.objective.metric, metrics=self.plan.metrics, say=self._say)
            if outcome.values is not None:  # each objective's value, as Optuna records it
                names = [objective_metric(o.metric) for o in self.config.all_objectives()]
                outcome.run.log_metrics(dict(zip(names, outcome.values)))
        return outcome

    def _run_single(self, trial: optuna.Trial, outcome: TrialOutcome, ckpt: TrialCheckpoints, first: int) -> None:
        """One model, validated on the validation split, resumed from the trial's checkpoints."""
        resume = gather_resume(
            trial.number,
            ckpt,
            self.tracking,
            previous_run=trial.user_attrs.get(TrialAttr.MLFLOW_RUN_ID),  # set when this is a retry
            patience=self.config.training.early_stopping_patience,
        )
        if resume.notice:
            self._say(resume.notice)
        outcome.resumed_from_epoch = resume.epochs_done
        self._start_run(trial, outcome, resume, retry_of=first if first != trial.number else None)
        self._fit(trial, outcome, ckpt, resume, seed=self.config.seed + first)

    def _run_folds(self, trial: optuna.Trial, outcome: TrialOutcome, ckpt: TrialCheckpoints, first: int) -> None:
        """A K-fold trial (see :mod:`hpsearch.trial._kfold`), resumed where a killed attempt stopped."""
        cfg = self.config
        assert cfg.validation is not None and cfg.validation.folds
        if self._folds is None:
            self._folds = [Pipelines(d) for d in fold_datasets(self.pipelines.dataset, cfg.validation.folds, seed=int(cfg.seed))]
        state = KFoldState.load(ckpt.directory, cfg.validation.folds) or KFoldState(cfg.validation.folds)
        previous = trial.user_attrs.get(TrialAttr.MLFLOW_RUN_ID)
        keep = previous is not None and self.tracking.can_continue(previous, state.epochs_done)
        tags: dict[str, Any] = {Tag.RESUMED_FROM: state.epochs_done}
        if first != trial.number:
            tags[Tag.RETRY_OF] = first
        run: TrialRun = self.tracking.start_trial(trial.number, outcome.params, continue_run_id=previous if keep else None, tags=tags)
        outcome.run = run
        if previous and run.run_id != previous:
            self.tracking.supersede(previous, run.run_id)
        trial.set_user_attr(TrialAttr.MLFLOW_RUN_ID, run.run_id)
        trial.set_user_attr(TrialAttr.RESUMED_FROM_EPOCH, state.epochs_done)
        trial.set_user_attr(TrialAttr.RESUMED_FROM_FOLD, state.folds_done)
        outcome.resumed_from_epoch = state.epochs_done
        if not keep:  # a new run: it gets the history the state has
            for row in state.history:
                run.log_epoch(int(row["epoch"]), {k: v for k, v in row.items() if k != "epoch"})
            for fold, rows in enumerate(state.folds):
                for row in rows[: state.epochs_done]:  # a partial epoch is logged when it is finished
                    run.log_epoch(int(row["epoch"]), {fold_metric(fold, k): v for k, v in row.items() if k != "epoch"})
        self._report_history(trial, state.history)
        seed = int(cfg.seed) + first
        batch_size = int(outcome.params["batch_size"])
        head = self.plan.head(outcome.params)

        def build(fold: int) -> keras.Model:
            seed_everything(seed * 100 + fold)
            return self._build(outcome.params, Resume(), self._folds[fold].steps_per_epoch(batch_size), seed=seed + fold)[0]

        hook = self.on_epoch
        run_folds(
            trial=trial, outcome=outcome, ckpt=ckpt, folds=self._folds, build=build, state=state,
            monitor=cfg.objective.metric, direction=cfg.objective.direction, tie_break=cfg.objective.tie_break,
            max_epochs=cfg.training.max_epochs,
            patience=cfg.training.early_stopping_patience, batch_size=batch_size, seed=seed, targets=(head.labels, head.units),
            log=run.log_epoch, on_epoch=None if hook is None else (lambda epoch, logs: hook(trial.number, epoch, logs)),
        )

    def _start_run(self, trial: optuna.Trial, outcome: TrialOutcome, resume: Resume, *, retry_of: int | None) -> None:
        """Start (or continue) the trial's MLflow run and bring it and Optuna up to the resume point."""
        tags: dict[str, Any] = {Tag.RESUMED_FROM: resume.epochs_done}
        if retry_of is not None:
            tags[Tag.RETRY_OF] = retry_of
        run: TrialRun = self.tracking.start_trial(trial.number, outcome.params, continue_run_id=resume.run_to_continue, tags=tags)
        outcome.run = run
        if resume.previous_run and run.run_id != resume.previous_run:
            self.tracking.supersede(resume.previous_run, run.run_id)
        trial.set_user_attr(TrialAttr.MLFLOW_RUN_ID, run.run_id)
        trial.set_user_attr(TrialAttr.RESUMED_FROM_EPOCH, resume.epochs_done)
        if resume.state is not None:
            run.backfill(resume.history)
            self._report_history(trial, resume.history)

    def _report_history(self, trial: optuna.Trial, history: list[dict[str, float]]) -> None:
        """Report the resumed epochs to Optuna (pruning compares them); a retry inherits no
        intermediate values, so a restart from epoch 0 starts from a clean slate."""
        if self.config.multi_objective:
            return  # Optuna takes no intermediate values of a multi-objective trial (it cannot prune one)
        monitor = self.config.objective.metric
        for row in history:
            value = row.get(monitor)
            if value is not None and math.isfinite(value):
                trial.report(float(value), step=int(row["epoch"]))

    def _build(self, params: Mapping[str, Any], resume: Resume, steps: int, *, seed: int) -> tuple[keras.Model, LearningRatePlan]:
        """The resumed model, or a new one; and the learning-rate plan of ``params``."""
        max_epochs = self.config.training.max_epochs
        if resume.model is not None:
            return resume.model, build_learning_rate(params, steps_per_epoch=steps, max_epochs=max_epochs)
        data = self.pipelines.dataset
        loss, knobs = self.plan.loss_of(params)
        return build_trial_model(
            params,
            factory=self.models,
            model=self.config.model,
            head=self.plan.head(params),
            loss_knobs=knobs,
            metrics=self.plan.compiled,
            input_shape=data.input_shape,
            input_scale=data.input_scale,
            steps_per_epoch=steps,
            max_epochs=max_epochs,
            seed=seed,
            output_bias=self.plan.target_mean,
        )

    def _fit(self, trial: optuna.Trial, outcome: TrialOutcome, ckpt: TrialCheckpoints, resume: Resume, *, seed: int) -> None:
        cfg = self.config
        batch_size = int(outcome.params["batch_size"])
        max_epochs = cfg.training.max_epochs
        seed_everything(seed)
        model, plan = self._build(outcome.params, resume, self.pipelines.steps_per_epoch(batch_size), seed=seed)
        head: Head = self.plan.head(outcome.params)
        targets = (head.labels, head.units)
        assert outcome.run is not None
        hook = self.on_epoch
        callbacks = TrialCallbacks.build(
            checkpoints=ckpt,
            resume=resume,
            run=outcome.run,
            trial=trial,
            monitor=cfg.objective.metric,
            mode="max" if cfg.objective.direction == "maximize" else "min",
            tie_break=cfg.objective.tie_break,
            plateau=plan.plateau,
            patience=cfg.training.early_stopping_patience,
            remote=self.tracking.remote,
            report=not cfg.multi_objective,
            on_epoch=None if hook is None else (lambda epoch, logs: hook(trial.number, epoch, logs)),
        )
        initial_epoch = resume.epochs_done
        if initial_epoch < max_epochs and not resume.stopped_early:
            try:
                model.fit(
                    self.pipelines.train(batch_size, seed=seed * 1000 + initial_epoch, targets=targets),
                    validation_data=self.pipelines.evaluation("validation", batch_size, targets=targets),
                    epochs=max_epochs,
                    initial_epoch=initial_epoch,
                    callbacks=callbacks.ordered,
                    verbose=0,
                    shuffle=False,
                )
            finally:  # a fit that raised skipped on_train_end: no open file or writer thread stays behind
                callbacks.close_logs()
        self._settle(outcome, callbacks)
        if outcome.state == State.COMPLETE and cfg.multi_objective:
            self._score_objectives(outcome, model, targets)
        verify_best_checkpoint(outcome, ckpt, model, callbacks, self._say)

    def _settle(self, outcome: TrialOutcome, callbacks: TrialCallbacks) -> None:
        """The outcome of a ``fit`` that returned: diverged, pruned, no finite objective, or complete."""
        monitor = self.config.objective.metric
        history = callbacks.history.history
        outcome.history = history
        outcome.epochs_trained = len(history)
        value, outcome.best_epoch = _best(history, monitor, self.config.objective.direction, self.config.objective.tie_break)
        if callbacks.nan_guard.diverged_at is not None:
            epoch, batch = callbacks.nan_guard.diverged_at
            outcome.state = State.FAIL
            outcome.reason = (
                f"diverged: loss became NaN or infinite at epoch {epoch + 1}, batch {batch + 1} "
                f"(learning_rate={outcome.params['learning_rate']:.3g}); TerminateOnNaN stopped the trial"
            )
        elif callbacks.pruning.pruned_at is not None:
            outcome.state = State.PRUNED
            outcome.value = value
        elif value is None:
            outcome.state = State.FAIL
            outcome.reason = f"no finite {monitor} was produced in {outcome.epochs_trained} epochs"
        else:
            outcome.state = State.COMPLETE
            outcome.value = value

    def _score_objectives(self, outcome: TrialOutcome, model: keras.Model, targets: Any) -> None:
        """A multi-objective trial's values: its metrics at its best epoch, ``params`` and
        ``latency_ms`` measured on its model (see :mod:`hpsearch.trial._measure`)."""
        row = outcome.best_row()
        assert row is not None  # a COMPLETE trial has a best epoch
        inputs = None
        if any(o.measured for o in self.config.all_objectives()):
            inputs = next(iter(self.pipelines.evaluation("validation", LATENCY_BATCH, targets=targets)))[0]
        values, problem = objective_values(self.config.all_objectives(), row, model, inputs)
        if values is None:
            outcome.state, outcome.reason, outcome.value = State.FAIL, problem, None
            return
        outcome.values = values
        outcome.value = values[0]

    # -- after Optuna has recorded the result --------------------------------------------------

    def close(self, outcome: TrialOutcome, *, value: float | None) -> None:
        """End the trial's MLflow run with the state Optuna recorded; drop its checkpoints unless
        some of its files are still waiting for MLflow."""
        if outcome.run is not None:
            tags: dict[str, Any] = {Tag.EPOCHS_TRAINED: outcome.epochs_trained}
            if outcome.reason:
                tags[Tag.FAIL_REASON] = outcome.reason
            outcome.run.finish(outcome.state, value=value, tags=tags)
        # Keep the folder only while a pending record says what to upload: a folder whose record
        # could not be written would never be found again by the next run.
        if outcome.checkpoints is not None and (outcome.pending_upload is None or outcome.checkpoints.pending() is None):
            outcome.checkpoints.clear()
        if outcome.run is not None and self.tracking.remote:
            try:
                outcome.run.delete_artifacts("resume")  # the trial is over: no resume needed
            except Exception:  # noqa: BLE001 - only costs disk space on the server
                pass
