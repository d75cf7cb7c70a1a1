"""Early stopping that continues after a resume."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras

from hpsearch.trial.callbacks._monitor import monitored_value
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["ResumableEarlyStopping"]


class ResumableEarlyStopping(Resumable, keras.callbacks.EarlyStopping):
    """Keras EarlyStopping (restore best weights) that can continue after a resume.

    On resume its best weights come back from the trial's best checkpoint. A monitored metric
    missing from the logs raises :class:`MissingMetricError` instead of Keras's warning.
    """

    state_key = "early_stopping"
    _state_attrs = ("wait", "best", "best_epoch")

    def __init__(self, best_path: Path, **kwargs: Any) -> None:
        super().__init__(restore_best_weights=True, **kwargs)
        self._best_path = best_path

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
