"""Learning-rate schedules, from sampled params to what the optimizer and trainer need.

Schedule knobs are in epochs or fractions of the trial's epoch budget (see
:data:`hpsearch.catalog.SCHEDULES`, whose entries name the builders below); Keras schedules count
optimizer steps, so everything is converted with ``steps_per_epoch`` here. ``polynomial``,
``cosine`` and ``multistep`` span exactly ``max_epochs``. ``reduce_on_plateau`` is not a schedule
object: Keras cannot change a learning rate that is a ``LearningRateSchedule``, so it is a
constant rate plus a callback, described by :class:`Plateau`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from hpsearch.catalog import SCHEDULES

__all__ = ["NaturalExpDecay", "Plateau", "LearningRatePlan", "build_learning_rate"]


_sched = keras.optimizers.schedules


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
    """Build the learning-rate plan for ``params["schedule"]`` (see :data:`hpsearch.catalog.SCHEDULES`)."""
    if steps_per_epoch < 1 or max_epochs < 1:
        raise ValueError(f"`steps_per_epoch >= 1 and max_epochs >= 1` must hold, but got ({steps_per_epoch=}, {max_epochs=}).")
    name = params["schedule"]
    return SCHEDULES.build(
        name,
        SCHEDULES.knob_values(name, params),
        learning_rate=float(params["learning_rate"]),
        steps_per_epoch=steps_per_epoch,
        max_epochs=max_epochs,
    )


# ----------------------------------------------------------------------------- the builders
# One per entry of hpsearch.catalog.SCHEDULES, which names them. Each takes the learning rate, the
# trial's steps per epoch and epoch budget, and the schedule's knobs.


def constant(*, learning_rate: float, steps_per_epoch: int, max_epochs: int) -> LearningRatePlan:
    return LearningRatePlan(learning_rate)


def exponential(
    *, learning_rate: float, steps_per_epoch: int, max_epochs: int, decay_rate: float, decay_epochs: float
) -> LearningRatePlan:
    return LearningRatePlan(_sched.ExponentialDecay(learning_rate, decay_epochs * steps_per_epoch, decay_rate))


def natural_exp(
    *, learning_rate: float, steps_per_epoch: int, max_epochs: int, decay_rate: float, decay_epochs: float
) -> LearningRatePlan:
    return LearningRatePlan(NaturalExpDecay(learning_rate, decay_epochs * steps_per_epoch, decay_rate))


def inverse_time(
    *, learning_rate: float, steps_per_epoch: int, max_epochs: int, decay_rate: float, decay_epochs: float
) -> LearningRatePlan:
    return LearningRatePlan(_sched.InverseTimeDecay(learning_rate, decay_epochs * steps_per_epoch, decay_rate))


def polynomial(
    *, learning_rate: float, steps_per_epoch: int, max_epochs: int, end_fraction: float, power: float
) -> LearningRatePlan:
    total = float(steps_per_epoch * max_epochs)
    end = learning_rate * end_fraction
    return LearningRatePlan(_sched.PolynomialDecay(learning_rate, total, end_learning_rate=end, power=power))


def cosine(*, learning_rate: float, steps_per_epoch: int, max_epochs: int, alpha: float) -> LearningRatePlan:
    return LearningRatePlan(_sched.CosineDecay(learning_rate, float(steps_per_epoch * max_epochs), alpha=alpha))


def _drops(learning_rate: float, boundaries: list[int], drop: float) -> LearningRatePlan:
    if not boundaries:
        return LearningRatePlan(learning_rate)
    values = [learning_rate * drop**k for k in range(len(boundaries) + 1)]
    return LearningRatePlan(_sched.PiecewiseConstantDecay(boundaries, values))


def step(*, learning_rate: float, steps_per_epoch: int, max_epochs: int, drop: float, every_epochs: int) -> LearningRatePlan:
    every = int(every_epochs)
    # No drop at all (a constant rate) if the first one would come after the last epoch.
    return _drops(learning_rate, [k * every * steps_per_epoch for k in range(1, (max_epochs - 1) // every + 1)], drop)


def multistep(*, learning_rate: float, steps_per_epoch: int, max_epochs: int, drop: float, drops: int) -> LearningRatePlan:
    # Drop k of n at k/(n+1) of the budget: acts however short the trial. Fewer optimizer steps
    # than drops (a toy run) leave no room for a drop: a constant rate.
    total = steps_per_epoch * max_epochs
    n = int(drops)
    return _drops(learning_rate, sorted({total * k // (n + 1) for k in range(1, n + 1)} - {0}), drop)


def reduce_on_plateau(
    *, learning_rate: float, steps_per_epoch: int, max_epochs: int, factor: float, patience: int
) -> LearningRatePlan:
    return LearningRatePlan(learning_rate, Plateau(factor=float(factor), patience=int(patience)))
