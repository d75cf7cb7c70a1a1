"""The metrics of :data:`hpsearch.catalog.TASK_METRICS`, built for a :class:`~hpsearch.tasks.Head`.

Classification metrics read any head: targets in any label encoding become class ids, outputs
become per-class scores (two classes: ``[1 - p, p]``; linear margins go through a sigmoid, which
keeps their order), so ``accuracy`` means the same with every loss. With two classes precision,
recall and F1 are those of the positive class (id 1); with more, their mean over classes (macro).
Regression metrics are Keras's own, named as the catalog names them.

Every class here is registered with Keras, so a saved model reloads with its compiled metrics
once this module is imported.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from hpsearch._errors import UsageError
from hpsearch.tasks._head import Head

__all__ = [
    "ClassMetric",
    "HitRate",
    "ClassScore",
    "ClassAUC",
    "accuracy",
    "top_k_accuracy",
    "precision",
    "recall",
    "f1",
    "auc",
    "mae",
    "rmse",
    "mse",
    "mape",
    "msle",
    "r2",
]

_register = keras.saving.register_keras_serializable(package="hpsearch")


class ClassMetric(keras.metrics.Metric):
    """Base: reads targets encoded as ``labels`` and outputs of ``units`` with ``activation``."""

    def __init__(self, *, num_classes: int, units: int, activation: str, labels: str, name: str, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self.units = units
        self.activation = activation
        self.labels = labels

    def canonical(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        """``(ids (N,) int32, scores (N, num_classes))`` whatever the encoding and head."""
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if self.labels == "ids":
            ids = ops.reshape(y_true, (-1,))
        elif self.units == 1:
            ids = ops.reshape(ops.greater(y_true, 0), (-1,))  # 0/1 or -1/+1
        else:
            ids = ops.argmax(y_true, axis=-1)
        scores = ops.sigmoid(y_pred) if self.activation == "linear" else y_pred
        if self.units == 1:
            scores = ops.concatenate([1.0 - scores, scores], axis=-1)
        return ops.cast(ids, "int32"), scores

    def get_config(self) -> dict[str, Any]:
        fields = {"num_classes": self.num_classes, "units": self.units, "activation": self.activation, "labels": self.labels}
        return {**super().get_config(), **fields}


@_register
class HitRate(ClassMetric):
    """Share of examples whose class is among the ``k`` highest scores (``k = 1``: accuracy)."""

    def __init__(self, *, k: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = k
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        ids, scores = self.canonical(y_true, y_pred)
        # Rank of the true class with ties broken by class index, as argmax does (in_top_k would
        # count every tied class as a hit: a constant output would score 100%).
        true_score = ops.take_along_axis(scores, ops.expand_dims(ids, -1), axis=-1)
        before = ops.expand_dims(ops.arange(self.num_classes, dtype="int32"), 0) < ops.expand_dims(ids, -1)
        ahead = ops.logical_or(scores > true_score, ops.logical_and(scores == true_score, before))
        hit = ops.cast(ops.sum(ops.cast(ahead, "int32"), axis=-1) < self.k, self.dtype)
        weight = ops.ones_like(hit) if sample_weight is None else ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        self.hits.assign_add(ops.sum(hit * weight))
        self.seen.assign_add(ops.sum(weight))

    def result(self) -> Any:
        return ops.divide_no_nan(self.hits, self.seen)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}


@_register
class ClassScore(ClassMetric):
    """``precision``, ``recall`` or ``f1`` from a confusion matrix (rows: true, columns: predicted)."""

    SCORES = ("precision", "recall", "f1")

    def __init__(self, *, score: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if score not in self.SCORES:
            raise ValueError(f"score is one of {', '.join(self.SCORES)}, got {score!r}")
        self.score = score
        k = self.num_classes
        self.confusion = self.add_variable(shape=(k, k), initializer="zeros", name="confusion")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        ids, scores = self.canonical(y_true, y_pred)
        truth = ops.one_hot(ids, self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            truth = truth * ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        guess = ops.one_hot(ops.argmax(scores, axis=-1), self.num_classes, dtype=self.dtype)
        self.confusion.assign_add(ops.matmul(ops.transpose(truth), guess))

    def result(self) -> Any:
        hits = ops.diagonal(self.confusion)
        actual, predicted = ops.sum(self.confusion, axis=1), ops.sum(self.confusion, axis=0)
        if self.score == "precision":
            per_class = ops.divide_no_nan(hits, predicted)
        elif self.score == "recall":
            per_class = ops.divide_no_nan(hits, actual)
        else:
            per_class = ops.divide_no_nan(2.0 * hits, actual + predicted)
        return per_class[1] if self.num_classes == 2 else ops.mean(per_class)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "score": self.score}


@_register
class ClassAUC(ClassMetric):
    """Area under the ROC or PR curve; more than two classes: the mean of one-vs-rest areas."""

    def __init__(self, *, curve: str = "roc", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.curve = curve
        many = self.num_classes > 2
        self.area = keras.metrics.AUC(
            curve=curve.upper(), multi_label=many, num_labels=self.num_classes if many else None, name=f"{self.name}_area"
        )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        ids, scores = self.canonical(y_true, y_pred)
        if self.num_classes == 2:
            self.area.update_state(ids, scores[:, 1], sample_weight=sample_weight)
        else:
            self.area.update_state(ops.one_hot(ids, self.num_classes), scores, sample_weight=sample_weight)

    def result(self) -> Any:
        return self.area.result()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "curve": self.curve}


def _head_fields(head: Head, name: str) -> dict[str, Any]:
    return {"num_classes": head.task.num_classes, "units": head.units, "activation": head.activation, "labels": head.labels, "name": name}


def accuracy(*, head: Head) -> HitRate:
    return HitRate(k=1, **_head_fields(head, "accuracy"))


def top_k_accuracy(*, head: Head, k: int) -> HitRate:
    classes = head.task.num_classes
    if k >= classes:
        raise UsageError(f"top_k_accuracy k={k} needs more than {k} classes, but the task has {classes}; use k < {classes} (k=1 is accuracy).")
    return HitRate(k=k, **_head_fields(head, "top_k_accuracy"))


def precision(*, head: Head) -> ClassScore:
    return ClassScore(score="precision", **_head_fields(head, "precision"))


def recall(*, head: Head) -> ClassScore:
    return ClassScore(score="recall", **_head_fields(head, "recall"))


def f1(*, head: Head) -> ClassScore:
    return ClassScore(score="f1", **_head_fields(head, "f1"))


def auc(*, head: Head, curve: str) -> ClassAUC:
    return ClassAUC(curve=curve, **_head_fields(head, "auc"))


def mae(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.MeanAbsoluteError(name="mae")


def rmse(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.RootMeanSquaredError(name="rmse")


def mse(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.MeanSquaredError(name="mse")


def mape(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.MeanAbsolutePercentageError(name="mape")


def msle(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.MeanSquaredLogarithmicError(name="msle")


def r2(*, head: Head) -> keras.metrics.Metric:
    return keras.metrics.R2Score(name="r2")
