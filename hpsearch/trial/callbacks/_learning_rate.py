"""The learning rate: logged every epoch, and reduced on a plateau across resumes."""

from __future__ import annotations

import keras

from hpsearch.trial.callbacks._monitor import monitored_value
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["LearningRateLogger", "ResumableReduceLROnPlateau"]


class LearningRateLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` (the optimizer's current rate, schedules included) to the epoch logs."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class ResumableReduceLROnPlateau(Resumable, keras.callbacks.ReduceLROnPlateau):
    """Keras ReduceLROnPlateau whose patience and cooldown counters survive a resume.

    (The reduced rate itself lives in the optimizer and is restored with the model.) A monitored
    metric missing from the logs raises :class:`MissingMetricError` instead of Keras's warning.
    """

    state_key = "reduce_lr_on_plateau"
    _state_attrs = ("wait", "best", "cooldown_counter")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        monitored_value(logs or {}, self.monitor)
        super().on_epoch_end(epoch, logs)
