"""The trial's best checkpoint."""

from __future__ import annotations

import keras

from hpsearch.trial._checkpoints import TrialCheckpoints
from hpsearch.trial.callbacks._monitor import better, monitored_value
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["BestCheckpoint"]


class BestCheckpoint(Resumable, keras.callbacks.Callback):
    """Saves the model to the trial's ``best.keras`` whenever ``monitor`` improves (atomically).

    ``best_epoch`` is the 0-based index Keras passes (the resume state keeps it so).
    """

    state_key = "best_checkpoint"
    _state_attrs = ("best", "best_epoch")

    def __init__(self, checkpoints: TrialCheckpoints, monitor: str, mode: str) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.monitor = monitor
        self._better = better(mode)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = monitored_value(logs or {}, self.monitor)
        if value is not None and self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            self.checkpoints.save_best(self.model.save)

    def saved_at(self, epoch: int) -> bool:
        """Whether ``best.keras`` holds the model as it is at the end of ``epoch``."""
        return self.best_epoch == epoch
