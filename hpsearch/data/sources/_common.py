"""Shared by the sources: seeded carving of splits, and turning checked arrays into a Dataset."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._types import Dataset, FileSplit, Split
from hpsearch.data.sources._spec import SourceSpec

__all__ = ["carve", "subsample", "dataset_from_arrays", "label_list"]


def carve(n_or_labels: int | np.ndarray, fraction: float, seed: int, *, what: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(kept, carved)`` index arrays (sorted). Given labels, the carve is stratified:
    each class gives ``fraction`` of its examples (at least one when it has two or more)."""
    rng = np.random.default_rng(seed)
    if isinstance(n_or_labels, (int, np.integer)):
        n = int(n_or_labels)
        k = max(1, int(round(n * fraction)))
        order = rng.permutation(n)
        carved, kept = order[:k], order[k:]
    else:
        labels = np.asarray(n_or_labels)
        n = len(labels)
        carved_parts = []
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            k = min(len(members) - 1, max(1 if len(members) > 1 else 0, int(round(len(members) * fraction))))
            carved_parts.append(rng.permutation(members)[:k])
        carved = np.concatenate(carved_parts) if carved_parts else np.zeros(0, np.int64)
        kept = np.setdiff1d(np.arange(n), carved)
    if len(carved) == 0 or len(kept) == 0:
        raise UsageError(
            f"{label}: a {what} of {fraction} of {n} examples leaves "
            f"{'nothing to carve' if len(carved) == 0 else 'nothing to train on'}; use more data or another fraction."
        )
    return np.sort(kept), np.sort(carved)


def subsample(y: np.ndarray, subset: int | None, seed: int, *, label: str, stratified: bool) -> np.ndarray:
    """Indices of the training examples ``--subset`` keeps: the first ones, or a seeded stratified
    sample when the examples are grouped by class (folders)."""
    n = len(y)
    if subset is None:
        return np.arange(n)
    if subset > n:
        raise UsageError(f"--subset {subset} is larger than the {n} training images of {label}; use at most {n} (or drop --subset).")
    if not stratified or subset == n:
        return np.arange(subset)
    kept, _ = carve(y, 1 - subset / n, seed + 1, what="subset", label=label)
    return kept


def _take(split: Split | FileSplit, idx: np.ndarray) -> Split | FileSplit:
    if isinstance(split, FileSplit):
        return FileSplit(tuple(split.paths[i] for i in idx), split.y[idx], split.image_size, split.channels, split.resize)
    return Split(split.x[idx], split.y[idx])


def dataset_from_arrays(
    label: str,
    train: Split | FileSplit,
    test: Split | FileSplit,
    *,
    spec: SourceSpec,
    seed: int,
    num_classes: int,
    input_scale: float,
    source: dict[str, Any],
    task: str = "classification",
    class_names: tuple[str, ...] | None = None,
    validation: Split | FileSplit | None = None,
    stratified: bool = False,
    **extra: Any,
) -> Dataset:
    """Apply ``--subset`` and carve validation (seeded; stratified on request) unless given.

    For arrays this is exactly what :func:`hpsearch.data._datasets.load_dataset` does (same
    indices for the same seed), so a cifar10 study reads the same splits either way."""
    train = _take(train, subsample(train.y, spec.subset, seed, label=label, stratified=stratified))
    if validation is None:
        by = train.y if stratified and task == "classification" else len(train)
        kept, val = carve(by, spec.validation_fraction, seed, what="validation_fraction", label=label)
        train, validation = _take(train, kept), _take(train, val)
    if class_names is not None and len(class_names) != num_classes:
        class_names = None
    return Dataset(
        name=label,
        train=train,
        validation=validation,
        test=test,
        num_classes=num_classes,
        input_scale=input_scale,
        class_names=class_names,
        source=source,
        task=task,
        **extra,
    )


def label_list(values: Any, limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, ... (12 in all)``."""
    items = [str(v) for v in values]
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])}, ... ({len(items)} in all)"
