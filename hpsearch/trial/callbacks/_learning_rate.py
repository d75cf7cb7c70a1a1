"""The learning rate: logged every epoch, reduced on a plateau across resumes, or replayed."""

from __future__ import annotations

from collections.abc import Mapping

import keras

from hpsearch.trial.callbacks._monitor import monitored_value
from hpsearch.trial.callbacks._state import Resumable

__all__ = ["LearningRateLogger", "ResumableReduceLROnPlateau", "LearningRateReplay"]


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


class LearningRateReplay(keras.callbacks.Callback):
    """Sets the rate of each epoch from ``rates`` (1-based epoch -> rate), the rates another run
    logged: a retrain has no validation metric to reduce on a plateau, so it replays the
    reductions the trial it retrains made. An epoch ``rates`` lacks keeps the rate it has."""

    def __init__(self, rates: Mapping[int, float]) -> None:
        super().__init__()
        self.rates = dict(rates)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        rate = self.rates.get(epoch + 1)
        if rate is not None:
            self.model.optimizer.learning_rate = float(rate)
