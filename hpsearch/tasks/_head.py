"""The output end of a model for a task and a loss: :class:`Head` (units, activation, label
encoding), and the targets encoded as that loss needs them (:func:`encode_labels`).

Needs numpy only; the losses and their needs are declared in :data:`hpsearch.catalog.LOSSES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog import DEFAULT_LOSSES, LOSSES, LossOption
from hpsearch.tasks._task import Task

__all__ = ["Head", "default_loss", "losses_for", "head_for", "encode_labels"]


@dataclass(frozen=True)
class Head:
    """The output layer (``units`` with ``activation``) and the target encoding (``labels``, one
    of :data:`hpsearch.catalog._tasks.LABEL_ENCODINGS`) that ``loss`` needs for ``task``."""

    task: Task
    loss: str
    units: int
    activation: str
    labels: str


def default_loss(task: Task) -> str:
    """``binary_crossentropy`` for two classes, ``sparse_categorical_crossentropy`` for more, ``mse``."""
    return DEFAULT_LOSSES[task.name]


def losses_for(task: Task) -> tuple[str, ...]:
    """The names of the losses that fit ``task``."""
    return tuple(name for name in LOSSES if _loss(name).task == task.kind)


def _loss(name: str) -> LossOption:
    option = LOSSES.option(name)
    assert isinstance(option, LossOption)
    return option


def head_for(task: Task, loss: str | None = None) -> Head:
    """The head ``loss`` (default: :func:`default_loss`) needs: softmax losses get one unit per
    class; sigmoid and hinge losses one unit for two classes, one per class for more; regression
    one linear unit per target."""
    name = default_loss(task) if loss is None else loss
    if name not in LOSSES:
        raise UsageError(f"Unknown loss {name!r}{did_you_mean(str(name), LOSSES)}; {task.kind} losses: {', '.join(losses_for(task))}.")
    option = _loss(name)
    if option.task != task.kind:
        raise UsageError(f"loss {name!r} is a {option.task} loss, but the task is {task.kind}; use one of {', '.join(losses_for(task))}.")
    if task.kind == "regression":
        units = task.outputs
    elif option.activation == "softmax":
        units = task.num_classes
    else:
        units = 1 if task.binary else task.num_classes
    return Head(task=task, loss=name, units=units, activation=option.activation, labels=option.labels)


def encode_labels(y: np.ndarray, head: Head) -> np.ndarray:
    """Targets as ``head``'s loss needs them: ids (N,) int64; one-hot, 0/1 or -1/+1 rows (N, units)
    float32; regression values (N, K) float32."""
    y = np.asarray(y)
    if head.labels == "values":
        return y.astype(np.float32).reshape(len(y), -1)
    ids = y.reshape(-1).astype(np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= head.task.num_classes):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise UsageError(f"class id {bad} is outside 0..{head.task.num_classes - 1}; renumber the labels.")
    if head.labels == "ids":
        return ids
    if head.units == 1:
        rows = ids.reshape(-1, 1).astype(np.float32)
    else:
        rows = np.eye(head.units, dtype=np.float32)[ids]
    return rows * 2 - 1 if head.labels == "signed" else rows
