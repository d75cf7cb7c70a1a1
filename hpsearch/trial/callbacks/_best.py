"""The trial's best checkpoint."""

from __future__ import annotations

import keras

from hpsearch.trial._checkpoints import TrialCheckpoints
from hpsearch.trial.callbacks._monitor import better_or_tied, monitored_value, tie_value
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["BestCheckpoint"]


class BestCheckpoint(Resumable, keras.callbacks.Callback):
    """Saves the model to the trial's ``best.keras`` whenever ``monitor`` improves (atomically), or
    equals the best with a lower ``tie_break`` (a loss, e.g. ``val_loss``).

    ``best_epoch`` is the 0-based index Keras passes (the resume state keeps it so).
    """

    state_key = "best_checkpoint"
    _state_attrs = ("best", "best_epoch", "best_tie")

    def __init__(self, checkpoints: TrialCheckpoints, monitor: str, mode: str, tie_break: str | None = None) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.monitor = monitor
        self.tie_break = tie_break
        self._is_best = better_or_tied(mode)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_tie: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = monitored_value(logs, self.monitor)
        tie = tie_value(logs, self.tie_break)
        if value is not None and self._is_best(value, tie, self.best, self.best_tie):
            self.best, self.best_epoch, self.best_tie = value, epoch, tie
            self.checkpoints.save_best(self.model.save)

    def saved_at(self, epoch: int) -> bool:
        """Whether ``best.keras`` holds the model as it is at the end of ``epoch``."""
        return self.best_epoch == epoch
