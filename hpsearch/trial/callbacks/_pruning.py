"""Optuna pruning: report the monitored metric each epoch, stop when the pruner says so."""

from __future__ import annotations

import math
from typing import Protocol

import keras

from hpsearch.trial.callbacks._monitor import monitored_value

__all__ = ["PruningReporter"]


class _Reporter(Protocol):
    def report(self, value: float, step: int) -> None: ...
    def should_prune(self) -> bool: ...


class PruningReporter(keras.callbacks.Callback):
    """Reports ``monitor`` to the Optuna trial each epoch (step = 1-based epoch); stops training
    when it should prune (``pruned_at``: that epoch). ``report=False`` (a multi-objective study,
    which Optuna cannot prune) reports nothing."""

    def __init__(self, trial: _Reporter, monitor: str, *, report: bool = True) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.report = report
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.report:
            return
        value = monitored_value(logs or {}, self.monitor)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True
