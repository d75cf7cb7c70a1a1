"""The trial's per-epoch history, across resumed attempts."""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["HistoryRecorder"]


class HistoryRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs (across resumed attempts) as plain floats with ``epoch`` (1-based)."""

    def __init__(self, history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.history: list[dict[str, float]] = list(history or [])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                row[key] = float(value)
        self.history.append(row)
