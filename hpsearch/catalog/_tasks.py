"""Tasks, their losses and the metrics compiled into a model, each with its builder.

A study's task is ``classification`` or ``regression`` (:data:`TASKS`). Each :data:`LOSSES` entry
belongs to one task and says what it needs around it: the ``activation`` of the output layer and
the ``labels`` encoding of the targets (see :data:`LABEL_ENCODINGS`). Each :data:`TASK_METRICS`
entry belongs to one task and says which way is better (its ``direction``); the entry's name is
the name Keras logs (``accuracy`` and ``val_accuracy``), so it is also what an objective names.

Builders are Keras loss classes (their knob names are the classes' argument names) and the
metric builders of :mod:`hpsearch.tasks._metrics`, imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpsearch.catalog._knob import Knob, positive
from hpsearch.catalog._option import Catalog, Option

__all__ = [
    "TASKS",
    "DIRECTIONS",
    "LABEL_ENCODINGS",
    "OUTPUT_ACTIVATIONS",
    "LossOption",
    "MetricOption",
    "LOSSES",
    "TASK_METRICS",
    "DEFAULT_LOSSES",
    "metric_direction",
]

TASKS = ("classification", "regression")
DIRECTIONS = ("maximize", "minimize")

#: How targets are fed to a loss (and to the metrics compiled with it):
LABEL_ENCODINGS: dict[str, str] = {
    "ids": "class ids 0..K-1, shape (N,)",
    "one_hot": "one row of K zeros with a 1 at the class, shape (N, K)",
    "indicator": "0/1 per output unit: (N, 1) for two classes, one-hot (N, K) for more",
    "signed": "-1/+1 per output unit: (N, 1) for two classes, (N, K) for more",
    "values": "float targets, shape (N, K) (K = 1 for one target)",
}

#: Output-layer activations: ``softmax`` (K class probabilities), ``sigmoid`` (a probability per
#: unit), ``linear`` (margins for hinge losses, values for regression).
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")


@dataclass(frozen=True, kw_only=True)
class LossOption(Option):
    """A loss: its task, the output activation it expects and the label encoding it needs."""

    task: str
    activation: str
    labels: str

    def __post_init__(self) -> None:
        super().__post_init__()
        for field, value, allowed in (
            ("task", self.task, TASKS),
            ("activation", self.activation, OUTPUT_ACTIVATIONS),
            ("labels", self.labels, tuple(LABEL_ENCODINGS)),
        ):
            if value not in allowed:
                raise ValueError(f"a loss's {field} is one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class MetricOption(Option):
    """A metric compiled into the model: its task and the direction that makes it better."""

    task: str
    direction: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"a metric's task is one of {', '.join(TASKS)}, got {self.task!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"a metric's direction is one of {', '.join(DIRECTIONS)}, got {self.direction!r}")


_SMOOTHING = {"label_smoothing": Knob(float, 0.0, 0.0, 1.0, doc="moves targets this far towards uniform")}


def _classification_loss(doc: str, build: str, activation: str, labels: str, *, smoothing: bool = False) -> LossOption:
    knobs = _SMOOTHING if smoothing else {}
    return LossOption(doc=doc, knobs=knobs, build="keras.losses:" + build, task="classification", activation=activation, labels=labels)


def _regression_loss(doc: str, build: str, knobs: dict[str, Knob] | None = None) -> LossOption:
    path = build if ":" in build else "keras.losses:" + build
    return LossOption(doc=doc, knobs=knobs or {}, build=path, task="regression", activation="linear", labels="values")


#: Built as ``LOSSES.build(name, knobs)``, which returns a ``keras.losses.Loss``.
LOSSES = Catalog(
    "loss",
    {
        "sparse_categorical_crossentropy": _classification_loss(
            "cross-entropy of softmax probabilities against class ids", "SparseCategoricalCrossentropy", "softmax", "ids"
        ),
        "categorical_crossentropy": _classification_loss(
            "cross-entropy of softmax probabilities against one-hot rows", "CategoricalCrossentropy", "softmax", "one_hot", smoothing=True
        ),
        "binary_crossentropy": _classification_loss(
            "cross-entropy of a sigmoid per unit (one unit for two classes)", "BinaryCrossentropy", "sigmoid", "indicator", smoothing=True
        ),
        "hinge": _classification_loss("max(0, 1 - y * margin) on linear outputs, labels -1/+1", "Hinge", "linear", "signed"),
        "squared_hinge": _classification_loss("max(0, 1 - y * margin) ** 2 on linear outputs, labels -1/+1", "SquaredHinge", "linear", "signed"),
        "mse": _regression_loss("mean squared error", "MeanSquaredError"),
        "mae": _regression_loss("mean absolute error", "MeanAbsoluteError"),
        "mape": _regression_loss("mean absolute percentage error (targets far from 0)", "MeanAbsolutePercentageError"),
        "msle": _regression_loss("mean squared error of log(1 + y) (targets >= 0)", "MeanSquaredLogarithmicError"),
        "huber": _regression_loss(
            "squared error below delta, absolute error above", "hpsearch.tasks._losses:Huber", {"delta": positive(1.0, "where squared turns absolute")}
        ),
        "log_cosh": _regression_loss("log(cosh(error)): squared when small, absolute when large", "LogCosh"),
    },
)

#: The loss a task gets when the study names none (``binary`` = classification with two classes).
DEFAULT_LOSSES: dict[str, str] = {
    "classification": "sparse_categorical_crossentropy",
    "binary": "binary_crossentropy",
    "regression": "mse",
}

_METRIC = "hpsearch.tasks._metrics:"


def _metric(task: str, direction: str, doc: str, knobs: dict[str, Knob] | None = None, *, build: str) -> MetricOption:
    return MetricOption(doc=doc, knobs=knobs or {}, build=_METRIC + build, task=task, direction=direction)


_UP, _DOWN = "maximize", "minimize"
_CLASSES_DOC = " (two classes: of the positive class; more: the mean over classes)"

#: Built as ``TASK_METRICS.build(name, knobs, head=head)`` (a :class:`hpsearch.tasks.Head`), which
#: returns a ``keras.metrics.Metric`` called ``name`` that reads the head's outputs and labels.
TASK_METRICS = Catalog(
    "metric",
    {
        "accuracy": _metric("classification", _UP, "share of examples whose top class is right", build="accuracy"),
        "top_k_accuracy": _metric(
            "classification", _UP, "share of examples whose class is among the k most likely",
            {"k": Knob(int, 5, 1, None, doc="classes counted as a hit (fewer than the classes)")}, build="top_k_accuracy",
        ),
        "precision": _metric("classification", _UP, "right among those predicted as a class" + _CLASSES_DOC, build="precision"),
        "recall": _metric("classification", _UP, "found among those of a class" + _CLASSES_DOC, build="recall"),
        "f1": _metric("classification", _UP, "harmonic mean of precision and recall" + _CLASSES_DOC, build="f1"),
        "auc": _metric(
            "classification", _UP, "area under the curve (more than two classes: mean of one-vs-rest)",
            {"curve": Knob(str, "roc", choices=("roc", "pr"), doc="ROC or precision-recall curve")}, build="auc",
        ),
        "mae": _metric("regression", _DOWN, "mean absolute error", build="mae"),
        "rmse": _metric("regression", _DOWN, "root of the mean squared error", build="rmse"),
        "mse": _metric("regression", _DOWN, "mean squared error", build="mse"),
        "mape": _metric("regression", _DOWN, "mean absolute percentage error", build="mape"),
        "msle": _metric("regression", _DOWN, "mean squared error of log(1 + y)", build="msle"),
        "r2": _metric("regression", _UP, "coefficient of determination R² (1 is perfect)", build="r2"),
    },
    context=("head",),
)


def metric_direction(metric: str) -> str | None:
    """Which way a logged metric is better -- ``loss``, a :data:`TASK_METRICS` name, or either with
    the ``val_`` prefix -- or ``None`` when the catalog does not know it."""
    base = metric[len("val_"):] if metric.startswith("val_") else metric
    if base == "loss":
        return "minimize"
    option = TASK_METRICS._options.get(base) if base else None  # noqa: SLF001 - no error wanted here
    return option.direction if isinstance(option, MetricOption) else None
