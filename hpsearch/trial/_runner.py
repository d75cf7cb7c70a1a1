"""How one trial runs: sample -> build (or resume) -> fit -> checkpoint -> outcome.

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
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from hpsearch.trial import callbacks as cb
from hpsearch.trial._checkpoints import RemoteSlots, ResumeState, TrialCheckpoints
from hpsearch.config._study_config import StudyConfig
from hpsearch.data._datasets import Pipelines
from hpsearch.models._cnn import build_model
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.trial._plots import learning_curve_png
from hpsearch.models._schedules import build_learning_rate
from hpsearch.space._sample import sample
from hpsearch.tracking import EPOCH_METRICS, TAG_FAIL_REASON, TAG_MODEL_PENDING, TAG_RESUMED_FROM, StudyTracking, TrialRun

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialRunner", "EpochCallback"]

#: ``hook(trial_number, epoch, logs)`` called after every epoch (progress display).
EpochCallback = Callable[[int, int, Mapping[str, Any]], None]

_MAX_REASON = 500

#: Per-epoch logs kept in the trial's checkpoint folder, then stored as artifacts of its run.
_CSV, _BOARD = "history.csv", "tensorboard"


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:_MAX_REASON]


def _load_problem(path: Path) -> str | None:
    """Why the model file at ``path`` does not load (safe mode), or ``None`` if it does."""
    try:
        keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 - truncated zip, random bytes, bad weights...
        return _reason(e)
    return None


def _tag(run: TrialRun, tags: Mapping[str, Any]) -> None:
    """Set tags on ``run``, best effort: a note about artifacts never fails the trial."""
    try:
        run.set_tags(tags)
    except Exception:  # noqa: BLE001 - the tracking store is unreachable; the outcome stands
        pass


def _best(history: list[dict[str, float]], metric: str, direction: str) -> tuple[float | None, int | None]:
    scored = [(row[metric], int(row["epoch"])) for row in history if metric in row and math.isfinite(row[metric])]
    if not scored:
        return None, None
    pick = max if direction == "maximize" else min
    value, epoch = pick(scored, key=lambda t: t[0])
    return value, epoch


class TrialRunner:
    """Trains trials of one study in this process.

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
        outcome = TrialOutcome(number=trial.number, state="FAIL", params={}, checkpoints=ckpt)
        for stale in ("fail_reason", "traceback"):  # a retry inherits its failed attempt's attrs
            if trial.user_attrs.get(stale) is not None:
                trial.set_user_attr(stale, None)
        try:
            outcome.params = sample(trial, self.config.search_space)
            previous_run = trial.user_attrs.get("mlflow_run_id")  # set when this is a retry
            resume, model = self._resume(trial.number, ckpt, previous_run)
            outcome.resumed_from_epoch = resume.epochs_done if resume else 0
            tags = {TAG_RESUMED_FROM: outcome.resumed_from_epoch}
            if first != trial.number:
                tags["hpsearch.retry_of"] = first
            # Continue the attempt's run only if it logged nothing past the resume point (a
            # fallback to an earlier state, a restart from epoch 0): one history, each epoch once.
            if previous_run and not self.tracking.can_continue(previous_run, outcome.resumed_from_epoch):
                continued = None
            else:
                continued = previous_run
            outcome.run = self.tracking.start_trial(trial.number, outcome.params, continue_run_id=continued, tags=tags)
            if previous_run and outcome.run.run_id != previous_run:
                self.tracking.supersede(previous_run, outcome.run.run_id)
            trial.set_user_attr("mlflow_run_id", outcome.run.run_id)
            trial.set_user_attr("resumed_from_epoch", outcome.resumed_from_epoch)
            if resume is not None:
                outcome.run.backfill(resume.history)
                self._report_history(trial, resume.history)
            self._fit(trial, outcome, ckpt, resume, model, seed=self.config.seed + first)
        except Exception as e:  # noqa: BLE001 - any error fails this trial only
            outcome.state = "FAIL"
            outcome.reason = _reason(e)
            outcome.value = None
            trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
        except BaseException:  # interrupted: leave the checkpoint for the retry
            if outcome.run is not None:
                outcome.run.finish("KILLED", tags={TAG_FAIL_REASON: "interrupted"})
            raise
        finally:
            keras.backend.clear_session(free_memory=True)  # also runs gc.collect()
        outcome.seconds = time.monotonic() - start
        trial.set_user_attr("epochs_trained", outcome.epochs_trained)
        if outcome.best_epoch is not None:
            trial.set_user_attr("best_epoch", outcome.best_epoch)
        if outcome.reason:
            trial.set_user_attr("fail_reason", outcome.reason)
        if outcome.run is not None:
            self._log_artifacts(outcome)
        return outcome

    def _resume(self, number: int, ckpt: TrialCheckpoints, previous_run: str | None) -> tuple[ResumeState | None, keras.Model | None]:
        """The newest resume state whose model loads, with that model; ``(None, None)``: epoch 0.

        A damaged state (unreadable ``resume.json``, truncated model file) is skipped for the one
        before it; when none is usable the trial restarts from epoch 0 with the same params, and
        says so.
        """
        states, problems = ckpt.scan()
        if not states and previous_run and self.tracking.remote:
            fetched = self._fetch_remote(previous_run, ckpt)  # the attempt ran on another machine
            states = [fetched] if fetched is not None else []
        for state in states:
            try:
                model = keras.saving.load_model(state.model_path, safe_mode=True)
            except Exception as e:  # noqa: BLE001 - truncated zip, random bytes, bad weights...
                problems.append(f"resume checkpoint {state.model_path} does not load ({_reason(e)})")
                continue
            if problems:
                ckpt.keep_only(state)
                self._say(f"trial {number}: resuming after epoch {state.epochs_done}, its last usable state: " + "; ".join(problems))
            else:
                ckpt.restore_best(state)  # best.keras may be newer (killed before the state) or replaced
            return state, model
        if problems:
            ckpt.clear()  # nothing in it belongs to the history the restart will write
            self._say(f"trial {number}: restarting from epoch 0 with the same params, no usable resume state: " + "; ".join(problems))
        return None, None

    def _report_history(self, trial: optuna.Trial, history: list[dict[str, float]]) -> None:
        """Report the resumed epochs to Optuna (pruning compares them); a retry inherits no
        intermediate values, so a restart from epoch 0 starts from a clean slate."""
        monitor = self.config.objective.metric
        for row in history:
            value = row.get(monitor)
            if value is not None and math.isfinite(value):
                trial.report(float(value), step=int(row["epoch"]))

    def _fit(
        self,
        trial: optuna.Trial,
        outcome: TrialOutcome,
        ckpt: TrialCheckpoints,
        resume: ResumeState | None,
        model: keras.Model | None,
        *,
        seed: int,
    ) -> None:
        cfg = self.config
        params = outcome.params
        batch_size = int(params["batch_size"])
        max_epochs = cfg.training.max_epochs
        steps = self.pipelines.steps_per_epoch(batch_size)
        keras.utils.set_random_seed(int(seed))
        if resume is not None:
            assert model is not None, "a resume state comes with its model"
            plan = build_learning_rate(params, steps_per_epoch=steps, max_epochs=max_epochs)
        else:
            data = self.pipelines.dataset
            model, plan = build_model(
                params,
                input_shape=data.input_shape,
                num_classes=data.num_classes,
                input_scale=data.input_scale,
                steps_per_epoch=steps,
                max_epochs=max_epochs,
            )

        monitor = cfg.objective.metric
        mode = "max" if cfg.objective.direction == "maximize" else "min"
        history = cb.HistoryRecorder(resume.history if resume else None)
        nan_guard = cb.NaNGuard()
        best = cb.BestCheckpoint(ckpt, monitor, mode)
        stopper: cb.ResumableEarlyStopping | None = None
        stateful: list[Any] = []
        # Order matters: loggers first (they add to the logs), the plateau callback before the
        # checkpoints (it changes the optimizer, and both checkpoints of an epoch must agree),
        # metrics out of the process only after the resume checkpoint is on disk.
        callbacks: list[keras.callbacks.Callback] = [cb.EpochTimer(), cb.LearningRateLogger(), nan_guard, history]
        done = resume.history if resume else None  # per-epoch logs restart from what the resume state has
        epoch_logs = [cb.EpochCSVLogger(ckpt.directory / _CSV, done), cb.TensorBoardScalars(ckpt.directory / _BOARD, done)]
        callbacks += epoch_logs
        if plan.plateau is not None:
            plateau = cb.ResumableReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=plan.plateau.factor, patience=plan.plateau.patience, verbose=0
            )
            stateful.append(plateau)
            callbacks.append(plateau)
        stateful.append(best)
        callbacks.append(best)
        if cfg.training.early_stopping_patience is not None:
            stopper = cb.ResumableEarlyStopping(
                ckpt.best_path, monitor=monitor, mode=mode, patience=cfg.training.early_stopping_patience
            )
            stateful.append(stopper)
            callbacks.append(stopper)
        if resume is not None:
            for c in stateful:
                if c.state_key in resume.callbacks:
                    c.set_state(resume.callbacks[c.state_key])
        callbacks.append(cb.ResumeCheckpoint(ckpt, history, stateful, best=best))
        assert outcome.run is not None
        if self.tracking.remote:
            callbacks.append(
                cb.RemoteResumeSync(
                    ckpt,
                    outcome.run.log_artifact,
                    best,
                    RemoteSlots(resume.remote_best if resume else None),
                    ckpt.directory / ".remote",
                )
            )
        callbacks.append(cb.MetricsSink(outcome.run.log_epoch, EPOCH_METRICS))
        pruning = cb.PruningReporter(trial, monitor)
        callbacks.append(pruning)
        if self.on_epoch is not None:
            hook = self.on_epoch
            callbacks.append(cb.EpochHook(lambda epoch, logs: hook(trial.number, epoch, logs)))

        initial_epoch = resume.epochs_done if resume else 0
        if initial_epoch < max_epochs and not self._stopped_before(resume):
            try:
                model.fit(
                    self.pipelines.train(batch_size, seed=seed * 1000 + initial_epoch),
                    validation_data=self.pipelines.evaluation("validation", batch_size),
                    epochs=max_epochs,
                    initial_epoch=initial_epoch,
                    callbacks=callbacks,
                    verbose=0,
                    shuffle=False,
                )
            finally:  # a fit that raised skipped on_train_end: no open file or writer thread stays behind
                for log in epoch_logs:
                    log.close()

        outcome.history = history.history
        outcome.epochs_trained = len(history.history)
        value, best_epoch = _best(history.history, monitor, cfg.objective.direction)
        outcome.best_epoch = best_epoch
        if nan_guard.diverged_at is not None:
            epoch, batch = nan_guard.diverged_at
            outcome.state = "FAIL"
            outcome.reason = (
                f"diverged: loss became NaN or infinite at epoch {epoch + 1}, batch {batch + 1} "
                f"(learning_rate={params['learning_rate']:.3g}); TerminateOnNaN stopped the trial"
            )
        elif pruning.pruned_at is not None:
            outcome.state = "PRUNED"
            outcome.value = value
        elif value is None:
            outcome.state = "FAIL"
            outcome.reason = f"no finite {monitor} was produced in {outcome.epochs_trained} epochs"
        else:
            outcome.state = "COMPLETE"
            outcome.value = value
        self._check_best(outcome, ckpt, model, best, stopper)

    def _check_best(
        self,
        outcome: TrialOutcome,
        ckpt: TrialCheckpoints,
        model: keras.Model,
        best: cb.BestCheckpoint,
        stopper: cb.ResumableEarlyStopping | None,
    ) -> None:
        """Make sure the best checkpoint loads before it is stored as the trial's model.

        A damaged one is written again from the best epoch's weights if this process still has
        them; otherwise it is not stored (``model_error``) and a COMPLETE trial fails with why.
        """
        if not ckpt.best_path.is_file():
            return
        problem = _load_problem(ckpt.best_path)
        if problem is None:
            return
        weights = self._best_weights(outcome, model, best, stopper)
        if weights is not None:
            model.set_weights(weights)
            ckpt.save_best(model.save)
            if _load_problem(ckpt.best_path) is None:
                self._say(
                    f"trial {outcome.number}: its best checkpoint {ckpt.best_path} did not load ({problem}); "
                    f"saved it again from the weights of epoch {outcome.best_epoch} kept in memory"
                )
                return
        outcome.model_error = f"best checkpoint {ckpt.best_path} does not load ({problem})"
        if outcome.state == "COMPLETE":
            outcome.state, outcome.value = "FAIL", None
            outcome.reason = f"{outcome.model_error}; no usable model of its best epoch {outcome.best_epoch} is left"

    @staticmethod
    def _best_weights(
        outcome: TrialOutcome, model: keras.Model, best: cb.BestCheckpoint, stopper: cb.ResumableEarlyStopping | None
    ) -> list[Any] | None:
        """The best epoch's weights if this process has them: EarlyStopping's copy, or the model
        itself when the best epoch is the last one it trained."""
        if best.best_epoch is None:
            return None
        if stopper is not None:
            same = stopper.best_weights is not None and stopper.best_epoch == best.best_epoch
            return stopper.best_weights if same else None
        trained_here = outcome.epochs_trained > outcome.resumed_from_epoch
        last = int(outcome.history[-1]["epoch"]) if outcome.history else None
        return model.get_weights() if trained_here and last == best.best_epoch + 1 else None

    def _fetch_remote(self, run_id: str, ckpt: TrialCheckpoints) -> ResumeState | None:
        """The resume state the failed attempt copied to its run on the tracking server."""
        with tempfile.TemporaryDirectory(prefix="hpsearch-resume-") as tmp:
            try:
                folder = self.tracking.download(run_id, "resume", tmp)
            except Exception:  # noqa: BLE001 - no remote copy: start from epoch 0
                return None
            return ckpt.import_remote(folder)

    def _stopped_before(self, resume: ResumeState | None) -> bool:
        """True if the resumed attempt had already stopped early (its next epoch would not run)."""
        if resume is None:
            return False
        stopper = resume.callbacks.get("early_stopping") or {}
        patience = self.config.training.early_stopping_patience
        return patience is not None and int(stopper.get("wait", 0)) >= patience and resume.epochs_done > 1

    def _log_artifacts(self, outcome: TrialOutcome) -> None:
        """Store the learning curve and the (verified) best checkpoint in the trial's run.

        A file counts as stored once the artifact store lists it; what did not arrive stays in
        the checkpoint folder, marked pending, and the next run of the study uploads it.
        """
        run = outcome.run
        ckpt = outcome.checkpoints
        assert run is not None and ckpt is not None
        files: list[tuple[Path, str]] = []
        try:
            if outcome.history and ckpt.directory.is_dir():
                png = learning_curve_png(
                    outcome.history,
                    ckpt.directory / "learning_curve.png",
                    title=f"{self.config.name} trial {outcome.number} ({outcome.state.lower()})",
                    best_epoch=outcome.best_epoch,
                )
                files.append((png, "plots"))
            if outcome.best_epoch is not None:
                best_row = next(r for r in outcome.history if int(r["epoch"]) == outcome.best_epoch)
                keys = dict.fromkeys((self.config.objective.metric, "val_accuracy", "val_loss"))  # objective first: the UI's column
                run.log_metrics({f"best_{k}": best_row[k] for k in keys if k in best_row})
            self._log_epoch_logs(run, ckpt)
        except Exception as e:  # noqa: BLE001 - plots and epoch logs are best effort; the result stands
            _tag(run, {"hpsearch.artifact_error": _reason(e)})
        if (ckpt.directory / _CSV).is_file():
            files.append((ckpt.directory / _CSV, "history"))  # verified and kept pending like the model
        if outcome.model_error is None and outcome.state == "FAIL" and ckpt.best_path.is_file():
            outcome.model_error = _load_problem(ckpt.best_path)  # fit raised: _check_best never ran
        if outcome.model_error is not None:
            _tag(run, {"hpsearch.model_error": outcome.model_error})
        elif ckpt.best_path.is_file():
            files.append((ckpt.best_path, "model"))
        failed: list[tuple[Path, str]] = []
        error = ""
        for path, folder in files:
            try:
                run.store_artifact(path, folder)
            except Exception as e:  # noqa: BLE001 - unwritable folder, full disk, server error
                failed.append((path, folder))
                error = error or _reason(e)
        if failed:
            self._keep_pending(outcome, failed, error)

    def _keep_pending(self, outcome: TrialOutcome, failed: list[tuple[Path, str]], error: str) -> None:
        run, ckpt = outcome.run, outcome.checkpoints
        assert run is not None and ckpt is not None
        try:
            where = run.artifact_uri()
        except Exception:  # noqa: BLE001 - the message still names the cause
            where = "the MLflow artifact store"
        names = ", ".join(f"{folder}/{path.name}" for path, folder in failed)
        outcome.pending_upload = f"{names} not stored in {where} ({error})"
        try:
            ckpt.mark_pending(run.run_id, outcome.number, failed, error)
        except OSError as e:
            outcome.pending_upload += f"; and the local copy could not be kept ({_reason(e)})"
            self._say(f"trial {outcome.number}: {outcome.pending_upload}")
            return
        _tag(run, {TAG_MODEL_PENDING: outcome.pending_upload})
        self._say(f"trial {outcome.number}: {outcome.pending_upload}; kept in {ckpt.directory}, the next run of the study uploads it")

    @staticmethod
    def _log_epoch_logs(run: TrialRun, ckpt: TrialCheckpoints) -> None:
        """``tensorboard/{train,validation}/`` of the trial's run (``history.csv`` is stored with the model)."""
        if (ckpt.directory / _BOARD).is_dir():
            run.log_artifacts(ckpt.directory / _BOARD, _BOARD)

    # -- after Optuna has recorded the result --------------------------------------------------

    def close(self, outcome: TrialOutcome, *, value: float | None) -> None:
        """End the trial's MLflow run with the state Optuna recorded; drop its checkpoints unless
        some of its files are still waiting for MLflow."""
        if outcome.run is not None:
            tags: dict[str, Any] = {"hpsearch.epochs_trained": outcome.epochs_trained}
            if outcome.reason:
                tags[TAG_FAIL_REASON] = outcome.reason
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
