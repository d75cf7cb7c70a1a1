"""What is learned: :class:`Task` (classification with K classes, or regression of K values),
inferred from the targets unless the study says which (an explicit task wins; a contradiction is
a configuration error).

Needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.catalog import TASKS
from hpsearch.data._targets import are_class_ids, looks_like_quantity

if TYPE_CHECKING:
    from hpsearch.data._types import Dataset

__all__ = ["Task", "infer_task", "task_of"]

_ASKED = ("auto", *TASKS)


@dataclass(frozen=True)
class Task:
    """``kind`` is ``classification`` (``num_classes`` >= 2) or ``regression`` (``outputs``
    targets per example, ``num_classes`` 0)."""

    kind: str
    num_classes: int = 0
    outputs: int = 1

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise UsageError(f"task must be one of {' | '.join(TASKS)}, not {self.kind!r}.")
        if self.kind == "classification" and self.num_classes < 2:
            raise UsageError(f"a classification task needs at least 2 classes, got {self.num_classes}.")
        if self.kind == "regression" and (self.num_classes != 0 or self.outputs < 1):
            raise UsageError(f"a regression task has no classes and at least 1 output, got {self.num_classes} and {self.outputs}.")

    @property
    def binary(self) -> bool:
        """Two classes: one sigmoid output by default."""
        return self.kind == "classification" and self.num_classes == 2

    @property
    def name(self) -> str:
        """``binary``, ``classification`` (more than two classes) or ``regression``."""
        return "binary" if self.binary else self.kind


def infer_task(y: np.ndarray, task: str | None = None, *, num_classes: int | None = None, label: str = "targets") -> Task:
    """The task of targets ``y``: integer labels are classes (two classes: binary), float targets
    regression, and so are integers that are not the ids 0..K-1 but have too many distinct values
    to be classes (:func:`~hpsearch.data._targets.looks_like_quantity`: prices, counts). ``task`` (``classification`` | ``regression``; ``None``/``auto`` infers) wins when
    the targets allow it: integral floats may be classes, integers may be regressed; fractional or
    multi-column targets cannot be classes. ``num_classes`` (e.g. from the dataset's class names)
    counts classes a split may lack."""
    asked = "auto" if task is None else task
    if asked not in _ASKED:
        raise UsageError(f"task must be one of {' | '.join(_ASKED)}, not {asked!r}.")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise UsageError(f"{label} have dtype {y.dtype}; they must be integer class ids or float values.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise UsageError(f"{label} contain NaN or infinite values; drop or fill those rows first.")
    if y.ndim not in (1, 2) or len(y) == 0:
        raise UsageError(f"{label} have shape {y.shape}; they must be (N,) or (N, K) with N > 0.")
    if asked == "regression" or (asked == "auto" and y.dtype.kind == "f"):
        return Task("regression", outputs=1 if y.ndim == 1 else int(y.shape[1]))
    if asked == "auto" and num_classes is None and y.ndim == 1 and not are_class_ids(y) and looks_like_quantity(y):
        return Task("regression")
    return Task("classification", num_classes=_count_classes(y, asked, num_classes, label))


def _count_classes(y: np.ndarray, asked: str, num_classes: int | None, label: str) -> int:
    why = "task: classification was asked, but " if asked == "classification" else ""
    if y.ndim == 2 and y.shape[1] != 1:
        raise UsageError(f"{why}{label} have {y.shape[1]} columns; class ids are one column (or set task: regression).")
    if y.dtype.kind == "f" and (y != np.round(y)).any():
        bad = y.ravel()[np.flatnonzero(y.ravel() != np.round(y.ravel()))[0]].item()
        raise UsageError(f"{why}{label} include {bad!r}, not a class id; class ids are 0..K-1 (or set task: regression).")
    ids = y.ravel().astype(np.int64)
    low, high = int(ids.min()), int(ids.max())
    count = high + 1 if num_classes is None else num_classes
    if low < 0 or high >= count:
        bad = low if low < 0 else high
        raise UsageError(f"{label} include class id {bad}, but the ids of {count} classes are 0..{count - 1}; renumber them.")
    if count < 2:
        raise UsageError(f"{label} hold a single class ({low}); a classifier needs at least two (or set task: regression).")
    return count


def task_of(dataset: Dataset, task: str | None = None) -> Task:
    """The task of a loaded dataset, from its training targets and its class count."""
    num_classes = dataset.num_classes or None
    return infer_task(np.asarray(dataset.train.y), task, num_classes=num_classes, label=f"{dataset.name}: training targets")
