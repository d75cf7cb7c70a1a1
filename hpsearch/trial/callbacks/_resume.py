"""The resume state, written after every epoch: locally, and copied to the tracking server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras

from hpsearch.trial._checkpoints import RemoteSlots, TrialCheckpoints
from hpsearch.trial.callbacks._best import BestCheckpoint
from hpsearch.trial.callbacks._history import HistoryRecorder
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["ResumeCheckpoint", "RemoteResumeSync"]


class ResumeCheckpoint(keras.callbacks.Callback):
    """After every epoch, writes the full resume state: model, optimizer, history, callbacks."""

    def __init__(
        self,
        checkpoints: TrialCheckpoints,
        history: HistoryRecorder,
        stateful: list[Resumable],
        best: BestCheckpoint | None = None,
    ) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.history = history
        self.stateful = stateful
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.checkpoints.save(
            self.model.save,
            epochs_done=epoch + 1,
            history=self.history.history,
            callbacks={cb.state_key: cb.get_state() for cb in self.stateful},
            # Exact only if nothing changes the weights or optimizer between the two saves of
            # one epoch: the trial runner puts ReduceLROnPlateau *before* BestCheckpoint.
            same_as_best=self.best is not None and self.best.saved_at(epoch),
        )


class RemoteResumeSync(keras.callbacks.Callback):
    """Copies each epoch's resume state to the trial's run on the tracking server, so a retry on
    another machine resumes from it. Runs after :class:`ResumeCheckpoint`."""

    def __init__(
        self,
        checkpoints: TrialCheckpoints,
        upload: Callable[[Path, str], None],
        best: BestCheckpoint,
        slots: RemoteSlots,
        staging: Path,
    ) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.upload = upload
        self.best = best
        self.slots = slots
        self.staging = staging

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        changed = self.best.saved_at(epoch)
        best_slot = self.slots.next_best() if changed else self.slots.best  # else: the one already there
        files = self.checkpoints.stage_remote(self.staging, self.slots.state_for(epoch), best_slot, include_best=changed)
        for path in files:  # resume.json last: it names only files that are complete on the server
            self.upload(path, "resume")
