"""Learning-rate schedules, from sampled params to what the optimizer and trainer need.

Schedule knobs are in epochs or fractions of the trial's epoch budget (see
:mod:`hpsearch.space._catalog`); Keras schedules count optimizer steps, so everything is converted with
``steps_per_epoch`` here. ``polynomial``, ``cosine`` and ``multistep`` span exactly ``max_epochs``. ``reduce_on_plateau`` is not a
schedule object: Keras cannot change a learning rate that is a ``LearningRateSchedule``, so it is
a constant rate plus a callback, described by :class:`Plateau`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

__all__ = ["NaturalExpDecay", "Plateau", "LearningRatePlan", "build_learning_rate"]


@keras.saving.register_keras_serializable(package="hpsearch")
class NaturalExpDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial_learning_rate * exp(-decay_rate * step / decay_steps)`` (TF1's natural_exp_decay)."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float, name: str = "NaturalExpDecay") -> None:
        super().__init__()
        if decay_steps <= 0:
            raise ValueError(f"`decay_steps > 0` must hold, but got ({decay_steps=}).")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.name = name

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        return self.initial_learning_rate * ops.exp(-self.decay_rate * step / self.decay_steps)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "name": self.name,
        }


@dataclass(frozen=True)
class Plateau:
    """ReduceLROnPlateau settings: multiply the rate by ``factor`` after ``patience`` flat epochs."""

    factor: float
    patience: int


@dataclass(frozen=True)
class LearningRatePlan:
    """What to give the optimizer (a rate or a schedule), and an optional plateau callback."""

    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
    plateau: Plateau | None = None


def build_learning_rate(params: Mapping[str, Any], *, steps_per_epoch: int, max_epochs: int) -> LearningRatePlan:
    """Build the learning-rate plan for ``params["schedule"]``."""
    if steps_per_epoch < 1 or max_epochs < 1:
        raise ValueError(f"`steps_per_epoch >= 1 and max_epochs >= 1` must hold, but got ({steps_per_epoch=}, {max_epochs=}).")
    lr = float(params["learning_rate"])
    name = params["schedule"]
    sched = keras.optimizers.schedules
    total = float(steps_per_epoch * max_epochs)

    def p(knob: str) -> Any:
        return params[f"{name}.{knob}"]

    if name == "none":
        return LearningRatePlan(lr)
    if name == "exponential":
        return LearningRatePlan(sched.ExponentialDecay(lr, p("decay_epochs") * steps_per_epoch, p("decay_rate")))
    if name == "natural_exp":
        return LearningRatePlan(NaturalExpDecay(lr, p("decay_epochs") * steps_per_epoch, p("decay_rate")))
    if name == "inverse_time":
        return LearningRatePlan(sched.InverseTimeDecay(lr, p("decay_epochs") * steps_per_epoch, p("decay_rate")))
    if name == "polynomial":
        return LearningRatePlan(sched.PolynomialDecay(lr, total, end_learning_rate=lr * p("end_fraction"), power=p("power")))
    if name == "cosine":
        return LearningRatePlan(sched.CosineDecay(lr, total, alpha=p("alpha")))
    if name == "step":
        every = int(p("every_epochs"))
        drops = range(1, (max_epochs - 1) // every + 1)
        if not drops:  # the first drop would come after the last epoch
            return LearningRatePlan(lr)
        boundaries = [k * every * steps_per_epoch for k in drops]
        values = [lr * p("drop") ** k for k in range(len(boundaries) + 1)]
        return LearningRatePlan(sched.PiecewiseConstantDecay(boundaries, values))
    if name == "multistep":  # drop k of n at k/(n+1) of the budget: acts however short the trial
        drops = int(p("drops"))
        boundaries = sorted({int(total) * k // (drops + 1) for k in range(1, drops + 1)} - {0})
        if not boundaries:  # fewer optimizer steps than drops (a toy run): no room for a drop
            return LearningRatePlan(lr)
        values = [lr * p("drop") ** k for k in range(len(boundaries) + 1)]
        return LearningRatePlan(sched.PiecewiseConstantDecay(boundaries, values))
    if name == "reduce_on_plateau":
        return LearningRatePlan(lr, Plateau(factor=float(p("factor")), patience=int(p("patience"))))
    raise ValueError(f"Unknown schedule {name!r}.")
