"""How many optimizer steps an epoch took (a retrain run logs it: proof of what it trained on)."""

from __future__ import annotations

import keras

from hpsearch.keys import STEPS_METRIC

__all__ = ["StepCounter"]


class StepCounter(keras.callbacks.Callback):
    """Adds ``train_steps`` (the training batches of the epoch, counted as they run) to the epoch logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs[STEPS_METRIC] = float(self._steps)
