"""What can be searched: every knob of the CNN recipe, its default and its legal domain.

This table is the single source of truth for the study-file validator (``_config``), the sampler
(``_search_space``) and the builders (``_model``, ``_schedules``). It imports nothing heavy.

Conditional roles (optimizer, schedule, regularizer) have *branches*; each branch has its own
knobs, sampled only when that branch is chosen. Their Optuna parameter names are
``"<branch>.<knob>"`` (``"sgd.momentum"``, ``"cosine.alpha"``, ``"l1_l2.l2"``).

Schedule knobs are expressed in *epochs* or relative to the trial's epoch budget (``max_epochs``);
``_schedules`` converts them to optimizer steps. ``step`` is the one schedule with a fixed horizon in
epochs (a drop every N epochs); ``multistep`` is its budget-relative form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Knob",
    "OPTIMIZERS",
    "SCHEDULES",
    "REGULARIZERS",
    "CONDITIONAL_ROLES",
    "SCALAR_ROLES",
    "ROLE_ORDER",
    "INITIALIZERS",
    "BATCH_NORM_MODES",
    "METRICS",
    "param_name",
    "SAMPLERS",
    "PRUNERS",
    "DATASETS",
    "MODELS",
    "check_input_shape",
]


@dataclass(frozen=True)
class Knob:
    """One tunable value: its Python type, default, and legal domain.

    ``low``/``high`` bound the domain (inclusive unless ``*_open``); ``choices`` restricts a
    string knob to a set of names.
    """

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def domain(self) -> str:
        """Human-readable domain, e.g. ``"a float in (0, 1)"``."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[self.kind]
        if self.low is None and self.high is None:
            return name
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"{name} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"

    def problem(self, value: Any) -> str | None:
        """Return why ``value`` is not legal for this knob, or ``None`` if it is."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"expected {self.domain()}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"expected {self.domain()}, got {value!r}"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"expected {self.domain()}, got {value!r}"
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return f"expected {self.domain()}, got {value!r}"
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _unit(default: float, doc: str, *, low_open: bool = False, high_open: bool = True) -> Knob:
    return Knob(float, default, 0.0, 1.0, low_open=low_open, high_open=high_open, doc=doc)


def _positive(default: float, doc: str) -> Knob:
    return Knob(float, default, 0.0, None, low_open=True, doc=doc)


OPTIMIZERS: dict[str, dict[str, Knob]] = {
    "sgd": {
        "momentum": _unit(0.9, "SGD momentum"),
        "nesterov": Knob(bool, False, doc="use Nesterov momentum"),
    },
    "adam": {"beta_1": _unit(0.9, "1st-moment decay"), "beta_2": _unit(0.999, "2nd-moment decay")},
    "rmsprop": {
        "rho": _unit(0.9, "squared-gradient decay", low_open=True),
        "momentum": _unit(0.0, "RMSprop momentum"),
    },
    "nadam": {"beta_1": _unit(0.9, "1st-moment decay"), "beta_2": _unit(0.999, "2nd-moment decay")},
    "adagrad": {"initial_accumulator_value": _positive(0.1, "starting accumulator")},
    "adadelta": {"rho": _unit(0.95, "decay rate", low_open=True)},
}

SCHEDULES: dict[str, dict[str, Knob]] = {
    "none": {},
    # lr * decay_rate ** (epoch / decay_epochs)
    "exponential": {
        "decay_rate": Knob(float, 0.9, 0.0, 1.0, low_open=True, doc="factor per decay_epochs"),
        "decay_epochs": _positive(1.0, "epochs per decay_rate factor"),
    },
    # lr * exp(-decay_rate * epoch / decay_epochs)
    "natural_exp": {
        "decay_rate": _positive(0.1, "exponent per decay_epochs"),
        "decay_epochs": _positive(1.0, "epochs per unit of exponent"),
    },
    # lr / (1 + decay_rate * epoch / decay_epochs)
    "inverse_time": {
        "decay_rate": _positive(0.5, "slope of 1/lr per decay_epochs"),
        "decay_epochs": _positive(1.0, "epochs per unit of slope"),
    },
    # from lr to lr * end_fraction over max_epochs, (1 - t) ** power
    "polynomial": {
        "end_fraction": Knob(float, 0.01, 0.0, 1.0, low_open=True, doc="final lr / initial lr"),
        "power": _positive(1.0, "curve exponent (1 = linear)"),
    },
    # half cosine from lr to lr * alpha over max_epochs
    "cosine": {"alpha": Knob(float, 0.0, 0.0, 1.0, doc="final lr / initial lr")},
    # lr * drop ** floor(epoch / every_epochs); acts only if every_epochs < max_epochs (checked)
    "step": {
        "drop": Knob(float, 0.5, 0.0, 1.0, low_open=True, doc="factor at each step"),
        "every_epochs": Knob(int, 5, 1, None, doc="epochs between drops"),
    },
    # lr * drop ** k after the k-th of `drops` points evenly spaced over the trial's max_epochs
    "multistep": {
        "drop": Knob(float, 0.2, 0.0, 1.0, low_open=True, high_open=True, doc="factor at each drop"),
        "drops": Knob(int, 2, 1, None, doc="drops, evenly spaced over max_epochs"),
    },
    # constant lr, multiplied by factor after `patience` epochs without improvement
    "reduce_on_plateau": {
        "factor": Knob(float, 0.5, 0.0, 1.0, low_open=True, high_open=True, doc="lr multiplier"),
        "patience": Knob(int, 2, 0, None, doc="epochs without improvement before a drop"),
    },
}

_STRENGTH_DOC = "penalty per unit of |w| (l1) or w**2 (l2)"
REGULARIZERS: dict[str, dict[str, Knob]] = {
    "none": {},
    "l1": {"l1": Knob(float, 1e-5, 0.0, None, doc=_STRENGTH_DOC)},
    "l2": {"l2": Knob(float, 1e-4, 0.0, None, doc=_STRENGTH_DOC)},
    "l1_l2": {
        "l1": Knob(float, 1e-5, 0.0, None, doc=_STRENGTH_DOC),
        "l2": Knob(float, 1e-4, 0.0, None, doc=_STRENGTH_DOC),
    },
}

INITIALIZERS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "lecun_normal")
BATCH_NORM_MODES = ("none", "before_activation", "after_activation")

#: role -> (branches, default branch)
CONDITIONAL_ROLES: dict[str, tuple[dict[str, dict[str, Knob]], str]] = {
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

#: Metrics every trial produces, with the direction that makes each one better.
METRICS: dict[str, str] = {
    "val_accuracy": "maximize",
    "val_loss": "minimize",
    "accuracy": "maximize",
    "loss": "minimize",
}


def param_name(branch: str, knob: str) -> str:
    """Optuna/MLflow name of a branch knob: ``param_name("sgd", "momentum") == "sgd.momentum"``."""
    return f"{branch}.{knob}"


#: Samplers and their options (beyond the study-wide ``seed``).
SAMPLERS: dict[str, dict[str, Knob]] = {
    "tpe": {
        "n_startup_trials": Knob(int, 10, 0, None, doc="random trials before TPE takes over"),
        "multivariate": Knob(bool, True, doc="model parameters jointly"),
    },
    "random": {},
}

_PRUNE_WARMUP: dict[str, Knob] = {
    "n_startup_trials": Knob(int, 5, 0, None, doc="trials that are never pruned"),
    "n_warmup_steps": Knob(int, 2, 0, None, doc="epochs of each trial that are never pruned"),
    "interval_steps": Knob(int, 1, 1, None, doc="epochs between pruning checks"),
}

#: Pruners and their options. Hyperband's max_resource is the study's max_epochs.
PRUNERS: dict[str, dict[str, Knob]] = {
    "none": {},
    "median": dict(_PRUNE_WARMUP),
    "percentile": {
        "percentile": Knob(float, 25.0, 0.0, 100.0, doc="keep trials above this percentile"),
        **_PRUNE_WARMUP,
    },
    "successive_halving": {
        "min_resource": Knob(int, 1, 1, None, doc="epochs before the first rung"),
        "reduction_factor": Knob(int, 3, 2, None, doc="1/reduction_factor survive each rung"),
        "min_early_stopping_rate": Knob(int, 0, 0, None, doc="skip this many rungs"),
    },
    "hyperband": {
        "min_resource": Knob(int, 1, 1, None, doc="epochs before the first rung"),
        "reduction_factor": Knob(int, 3, 2, None, doc="1/reduction_factor survive each rung"),
    },
    # Deterministic: prune when the objective leaves [lower, upper] (e.g. accuracy < 0.15).
    "threshold": {
        "lower": Knob(float, None, doc="prune below this value"),
        "upper": Knob(float, None, doc="prune above this value"),
        "n_warmup_steps": Knob(int, 0, 0, None, doc="epochs of each trial that are never pruned"),
    },
}

#: Datasets known by name (anything else must be a path to an .npz file).
DATASETS = ("cifar10",)
#: Model families known by name, with the smallest image height/width each accepts
#: (cifar_cnn: two valid 3x3 convolutions and two 2x2 pools).
MODELS = {"cifar_cnn": 10}


def check_input_shape(model: str, input_shape: tuple[int, ...]) -> str | None:
    """Why images of ``input_shape`` (H, W, C) cannot feed ``model``, or ``None`` if they can."""
    if len(input_shape) != 3:
        return f"images must be (H, W, C), got shape {input_shape}"
    smallest = MODELS[model]
    if min(input_shape[:2]) < smallest:
        h, w = input_shape[:2]
        return f"images of {h}x{w} are too small for the {model} model (at least {smallest}x{smallest}); resize them first"
    return None
