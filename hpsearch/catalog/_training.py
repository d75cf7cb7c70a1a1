"""Training options: optimizers, learning-rate schedules, regularizers, and the scalar knobs.

Conditional roles (optimizer, schedule, regularizer) have *branches*; each branch has its own
knobs, sampled only when that branch is chosen. Their Optuna parameter names are
``"<branch>.<knob>"`` (``"sgd.momentum"``, ``"cosine.alpha"``, ``"l1_l2.l2"``).

Each option names its builder: optimizers and regularizers are the Keras classes themselves (their
knob names are the classes' argument names); schedules are built by
:mod:`hpsearch.models._schedules`, which converts knobs in *epochs* or relative to the trial's
epoch budget (``max_epochs``) into optimizer steps. ``step`` is the one schedule with a fixed
horizon in epochs (a drop every N epochs); ``multistep`` is its budget-relative form.
"""

from __future__ import annotations

from hpsearch.catalog._knob import Knob, positive, unit
from hpsearch.catalog._option import Catalog, Option

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "REGULARIZERS",
    "INITIALIZERS",
    "BATCH_NORM_MODES",
    "CONDITIONAL_ROLES",
    "SCALAR_ROLES",
    "ROLE_ORDER",
]

_BETAS = {"beta_1": unit(0.9, "1st-moment decay"), "beta_2": unit(0.999, "2nd-moment decay")}

#: Built as ``OPTIMIZERS.build(name, knobs, learning_rate=rate_or_schedule)``.
OPTIMIZERS = Catalog(
    "optimizer",
    {
        "sgd": Option(
            doc="stochastic gradient descent",
            knobs={"momentum": unit(0.9, "SGD momentum"), "nesterov": Knob(bool, False, doc="use Nesterov momentum")},
            build="keras.optimizers:SGD",
        ),
        "adam": Option(doc="Adam", knobs=_BETAS, build="keras.optimizers:Adam"),
        "rmsprop": Option(
            doc="RMSprop",
            knobs={"rho": unit(0.9, "squared-gradient decay", low_open=True), "momentum": unit(0.0, "RMSprop momentum")},
            build="keras.optimizers:RMSprop",
        ),
        "nadam": Option(doc="Adam with Nesterov momentum", knobs=_BETAS, build="keras.optimizers:Nadam"),
        "adagrad": Option(
            doc="Adagrad",
            knobs={"initial_accumulator_value": positive(0.1, "starting accumulator")},
            build="keras.optimizers:Adagrad",
        ),
        "adadelta": Option(
            doc="Adadelta", knobs={"rho": unit(0.95, "decay rate", low_open=True)}, build="keras.optimizers:Adadelta"
        ),
    },
    context=("learning_rate",),
)

_SCHEDULE = "hpsearch.models._schedules:"

#: Built as ``SCHEDULES.build(name, knobs, learning_rate=lr, steps_per_epoch=n, max_epochs=m)``,
#: which returns a :class:`~hpsearch.models._schedules.LearningRatePlan`.
SCHEDULES = Catalog(
    "schedule",
    {
        "none": Option(doc="constant learning rate", build=_SCHEDULE + "constant"),
        "exponential": Option(
            doc="lr * decay_rate ** (epoch / decay_epochs)",
            knobs={
                "decay_rate": Knob(float, 0.9, 0.0, 1.0, low_open=True, doc="factor per decay_epochs"),
                "decay_epochs": positive(1.0, "epochs per decay_rate factor"),
            },
            build=_SCHEDULE + "exponential",
        ),
        "natural_exp": Option(
            doc="lr * exp(-decay_rate * epoch / decay_epochs)",
            knobs={
                "decay_rate": positive(0.1, "exponent per decay_epochs"),
                "decay_epochs": positive(1.0, "epochs per unit of exponent"),
            },
            build=_SCHEDULE + "natural_exp",
        ),
        "inverse_time": Option(
            doc="lr / (1 + decay_rate * epoch / decay_epochs)",
            knobs={
                "decay_rate": positive(0.5, "slope of 1/lr per decay_epochs"),
                "decay_epochs": positive(1.0, "epochs per unit of slope"),
            },
            build=_SCHEDULE + "inverse_time",
        ),
        "polynomial": Option(
            doc="from lr to lr * end_fraction over max_epochs, (1 - t) ** power",
            knobs={
                "end_fraction": Knob(float, 0.01, 0.0, 1.0, low_open=True, doc="final lr / initial lr"),
                "power": positive(1.0, "curve exponent (1 = linear)"),
            },
            build=_SCHEDULE + "polynomial",
        ),
        "cosine": Option(
            doc="half cosine from lr to lr * alpha over max_epochs",
            knobs={"alpha": Knob(float, 0.0, 0.0, 1.0, doc="final lr / initial lr")},
            build=_SCHEDULE + "cosine",
        ),
        "step": Option(
            doc="lr * drop ** floor(epoch / every_epochs); acts only if every_epochs < max_epochs (checked)",
            knobs={
                "drop": Knob(float, 0.5, 0.0, 1.0, low_open=True, doc="factor at each step"),
                "every_epochs": Knob(int, 5, 1, None, doc="epochs between drops"),
            },
            build=_SCHEDULE + "step",
        ),
        "multistep": Option(
            doc="lr * drop ** k after the k-th of `drops` points evenly spaced over the trial's max_epochs",
            knobs={
                "drop": Knob(float, 0.2, 0.0, 1.0, low_open=True, high_open=True, doc="factor at each drop"),
                "drops": Knob(int, 2, 1, None, doc="drops, evenly spaced over max_epochs"),
            },
            build=_SCHEDULE + "multistep",
        ),
        "reduce_on_plateau": Option(
            doc="constant lr, multiplied by factor after `patience` epochs without improvement",
            knobs={
                "factor": Knob(float, 0.5, 0.0, 1.0, low_open=True, high_open=True, doc="lr multiplier"),
                "patience": Knob(int, 2, 0, None, doc="epochs without improvement before a drop"),
            },
            build=_SCHEDULE + "reduce_on_plateau",
        ),
    },
    context=("learning_rate", "steps_per_epoch", "max_epochs"),
)

_STRENGTH_DOC = "penalty per unit of |w| (l1) or w**2 (l2)"
_L1 = Knob(float, 1e-5, 0.0, None, doc=_STRENGTH_DOC)
_L2 = Knob(float, 1e-4, 0.0, None, doc=_STRENGTH_DOC)

#: Built as ``REGULARIZERS.build(name, knobs)``; ``none`` builds ``None`` (no regularizer).
REGULARIZERS = Catalog(
    "regularizer",
    {
        "none": Option(doc="no weight penalty"),
        "l1": Option(doc="l1 * sum(|w|)", knobs={"l1": _L1}, build="keras.regularizers:L1"),
        "l2": Option(doc="l2 * sum(w**2)", knobs={"l2": _L2}, build="keras.regularizers:L2"),
        "l1_l2": Option(doc="both penalties", knobs={"l1": _L1, "l2": _L2}, build="keras.regularizers:L1L2"),
    },
)

INITIALIZERS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "lecun_normal")
BATCH_NORM_MODES = ("none", "before_activation", "after_activation")

#: role -> (branches, default branch)
CONDITIONAL_ROLES: dict[str, tuple[Catalog, str]] = {
    "optimizer": (OPTIMIZERS, "adam"),
    "schedule": (SCHEDULES, "none"),
    "regularizer": (REGULARIZERS, "none"),
}

SCALAR_ROLES: dict[str, Knob] = {
    "learning_rate": Knob(float, 1e-3, 0.0, None, low_open=True, doc="initial learning rate"),
    "initializer": Knob(str, "glorot_uniform", choices=INITIALIZERS, doc="kernel initializer"),
    "batch_norm": Knob(str, "none", choices=BATCH_NORM_MODES, doc="batch-norm placement"),
    "dropout": Knob(float, 0.25, 0.0, 1.0, high_open=True, doc="dropout rate after each block"),
    "batch_size": Knob(int, 64, 1, None, doc="examples per optimizer step"),
}

#: The order in which the sampler visits roles (and params appear in tables).
ROLE_ORDER = (
    "optimizer",
    "learning_rate",
    "schedule",
    "regularizer",
    "initializer",
    "batch_norm",
    "dropout",
    "batch_size",
)
