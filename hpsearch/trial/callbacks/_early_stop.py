"""Early stopping that continues after a resume."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras

from hpsearch.trial.callbacks._monitor import monitored_value, tie_value, tied_with_lower
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["ResumableEarlyStopping"]


class ResumableEarlyStopping(Resumable, keras.callbacks.EarlyStopping):
    """Keras EarlyStopping (restore best weights) that can continue after a resume.

    On resume its best weights come back from the trial's best checkpoint. A monitored metric
    missing from the logs raises :class:`MissingMetricError` instead of Keras's warning.

    Its best epoch is :class:`BestCheckpoint`'s: an epoch that equals the best value with a lower
    ``tie_break`` takes the best weights too (but, not being an improvement, leaves the patience
    count running).
    """

    state_key = "early_stopping"
    _state_attrs = ("wait", "best", "best_epoch", "best_tie")

    def __init__(self, best_path: Path, *, tie_break: str | None = None, **kwargs: Any) -> None:
        super().__init__(restore_best_weights=True, **kwargs)
        self._best_path = best_path
        self.tie_break = tie_break
        self.best_tie: float | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best_tie = None  # Keras resets its own state here; a resume state re-applies both
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        best_before = self.best
        super().on_epoch_end(epoch, logs)
        if self.tie_break is None:
            return
        logs = logs or {}
        tie = tie_value(logs, self.tie_break)
        if self.best_epoch == epoch:  # Keras took this epoch: an improvement (or the first)
            self.best_tie = tie
        elif tied_with_lower(self.get_monitor_value(logs), tie, best_before, self.best_tie):
            self.best_epoch, self.best_tie = epoch, tie
            self.best_weights = self.model.get_weights()

    def get_monitor_value(self, logs: dict | None) -> float | None:
        return monitored_value(logs or {}, self.monitor)

    def _after_restore(self) -> None:
        if self.best is not None and self._best_path.is_file():
            current = self.model.get_weights()
            try:
                self.model.load_weights(self._best_path)
                self.best_weights = self.model.get_weights()
            except Exception as e:  # noqa: BLE001 - a damaged best file must not fail the trial
                warnings.warn(f"Cannot restore the best weights from {self._best_path} ({e}); keeping the last ones.", stacklevel=2)
            self.model.set_weights(current)
