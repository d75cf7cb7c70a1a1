"""Each epoch's metrics, out of the process: to the tracking run, to a progress display."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

__all__ = ["MetricsSink", "EpochHook"]


class MetricsSink(keras.callbacks.Callback):
    """Sends each epoch's metrics to ``sink(epoch, metrics)``, ``epoch`` 1-based: every scalar of
    the logs (the compiled metrics, train and ``val_``, the loss, the learning rate, the epoch's
    seconds), or only the keys in ``keys`` when given."""

    def __init__(self, sink: Callable[[int, dict[str, float]], None], keys: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.sink = sink
        self.keys = keys

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        keys = self.keys if self.keys is not None else [k for k, v in logs.items() if np.ndim(v) == 0]
        self.sink(epoch + 1, {k: float(logs[k]) for k in keys if k in logs})


class EpochHook(keras.callbacks.Callback):
    """Calls ``hook(epoch, logs)`` after each epoch (progress display); ``epoch`` as Keras passes it
    (0-based)."""

    def __init__(self, hook: Callable[[int, Mapping[str, Any]], None]) -> None:
        super().__init__()
        self.hook = hook

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.hook(epoch, dict(logs or {}))
