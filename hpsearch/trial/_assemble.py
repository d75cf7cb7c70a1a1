"""The callbacks of one trial's ``fit``, in the order they must run, with a resume applied."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

from hpsearch.models._schedules import Plateau
from hpsearch.tracking import TrialRun
from hpsearch.trial import callbacks as cb
from hpsearch.trial._checkpoints import RemoteSlots, TrialCheckpoints
from hpsearch.trial._resume import Resume

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialCallbacks", "CSV_LOG", "BOARD_LOG"]

#: Per-epoch logs kept in the trial's checkpoint folder, then stored as artifacts of its run.
CSV_LOG, BOARD_LOG = "history.csv", "tensorboard"


@dataclass
class TrialCallbacks:
    """The callbacks of one ``fit``; the runner reads the outcome from the named ones."""

    history: cb.HistoryRecorder
    nan_guard: cb.NaNGuard
    best: cb.BestCheckpoint
    stopper: cb.ResumableEarlyStopping | None
    pruning: cb.PruningReporter
    epoch_logs: list[cb.EpochCSVLogger | cb.TensorBoardScalars]
    ordered: list[keras.callbacks.Callback]

    @classmethod
    def build(
        cls,
        *,
        checkpoints: TrialCheckpoints,
        resume: Resume,
        run: TrialRun,
        trial: optuna.Trial,
        monitor: str,
        mode: str,
        tie_break: str | None = None,
        plateau: Plateau | None,
        patience: int | None,
        remote: bool,
        report: bool = True,
        on_epoch: Callable[[int, Mapping[str, Any]], None] | None,
    ) -> TrialCallbacks:
        """Order matters: loggers first (they add to the logs), the plateau callback before the
        checkpoints (it changes the optimizer, and both checkpoints of an epoch must agree),
        metrics out of the process only after the resume checkpoint is on disk."""
        done = resume.history or None  # per-epoch logs restart from what the resume state has
        history = cb.HistoryRecorder(done)
        nan_guard = cb.NaNGuard()
        best = cb.BestCheckpoint(checkpoints, monitor, mode, tie_break)
        epoch_logs: list[Any] = [
            cb.EpochCSVLogger(checkpoints.directory / CSV_LOG, done),
            cb.TensorBoardScalars(checkpoints.directory / BOARD_LOG, done),
        ]
        ordered: list[keras.callbacks.Callback] = [cb.EpochTimer(), cb.LearningRateLogger(), nan_guard, history, *epoch_logs]
        stateful: list[cb.Resumable] = []
        if plateau is not None:
            stateful.append(
                cb.ResumableReduceLROnPlateau(monitor=monitor, mode=mode, factor=plateau.factor, patience=plateau.patience, verbose=0)
            )
        stateful.append(best)
        stopper = None
        if patience is not None:
            stopper = cb.ResumableEarlyStopping(
                checkpoints.best_path, monitor=monitor, mode=mode, patience=patience, tie_break=tie_break
            )
            stateful.append(stopper)
        for c in stateful:
            if c.state_key in resume.callback_states:
                c.set_state(resume.callback_states[c.state_key])
        ordered += stateful
        ordered.append(cb.ResumeCheckpoint(checkpoints, history, stateful, best=best))
        if remote:
            slots = RemoteSlots(resume.remote_best)
            ordered.append(cb.RemoteResumeSync(checkpoints, run.log_artifact, best, slots, checkpoints.directory / ".remote"))
        ordered.append(cb.MetricsSink(run.log_epoch))  # every compiled metric, train and validation
        pruning = cb.PruningReporter(trial, monitor, report=report)
        ordered.append(pruning)
        if on_epoch is not None:
            ordered.append(cb.EpochHook(on_epoch))
        return cls(history, nan_guard, best, stopper, pruning, epoch_logs, ordered)

    def close_logs(self) -> None:
        """Close the per-epoch log files (a ``fit`` that raised skipped ``on_train_end``)."""
        for log in self.epoch_logs:
            log.close()
