"""K-fold cross-validation splits of training data held in memory (:class:`Split`) or streamed
from files (:class:`FileSplit`, split by its path and label lists: nothing is read).

Folds are seeded (the same seed gives the same folds) and, given class labels, stratified: each
class is spread over the folds as evenly as it can be (fold counts of a class differ by at most
one), and fold sizes differ by at most one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._types import AnySplit, FileSplit, Split

__all__ = ["Fold", "fold_indices", "kfold", "take", "join"]


@dataclass(frozen=True)
class Fold:
    """Fold ``index`` (0-based) of ``k``: train on ``train``, validate on ``validation``."""

    index: int
    k: int
    train: AnySplit
    validation: AnySplit


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise UsageError(f"folds must be a whole number of at least 2, not {k!r}; e.g. folds: 4.")
    if k > n:
        raise UsageError(f"folds: {k} is more than the {n} training examples; use at most {n} folds.")


def fold_indices(n: int, k: int, *, seed: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The validation indices (sorted) of each of ``k`` folds of ``n`` examples; together they
    cover every example once. With ``labels`` the folds are stratified by class."""
    _check_k(k, n)
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
    else:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} examples")
        # Classes one after another, each shuffled: dealing positions round-robin spreads every class.
        order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    folds = np.empty(n, np.int64)
    folds[order] = np.arange(n) % k
    return tuple(np.flatnonzero(folds == i) for i in range(k))


def take(split: AnySplit, idx: np.ndarray) -> AnySplit:
    """The examples ``idx`` of ``split`` (paths and labels only, for a :class:`FileSplit`)."""
    if isinstance(split, FileSplit):
        return FileSplit(tuple(split.paths[i] for i in idx), split.y[idx], split.image_size, split.channels, split.resize)
    return Split(split.x[idx], split.y[idx])


def join(first: AnySplit, *more: AnySplit) -> AnySplit:
    """The examples of all splits, in order (e.g. the training and validation splits pooled for K-fold)."""
    splits = (first, *more)
    if all(isinstance(s, Split) for s in splits):
        return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))  # type: ignore[union-attr]
    if all(isinstance(s, FileSplit) for s in splits):
        files: list[FileSplit] = list(splits)  # type: ignore[arg-type]
        shapes = {(f.image_size, f.channels, f.resize) for f in files}
        if len(shapes) != 1:
            raise ValueError(f"file splits read images differently: {sorted(shapes)}")
        paths = tuple(p for f in files for p in f.paths)
        return FileSplit(paths, np.concatenate([f.y for f in files]), files[0].image_size, files[0].channels, files[0].resize)
    raise ValueError("cannot join splits held in memory with splits streamed from files")


def kfold(split: AnySplit, k: int, *, seed: int, stratified: bool) -> tuple[Fold, ...]:
    """``k`` folds of ``split``: fold ``i`` validates on the ``i``-th part and trains on the rest
    (both in the split's order). ``stratified`` (for class labels) spreads each class evenly."""
    n = len(split)
    parts = fold_indices(n, k, seed=seed, labels=np.asarray(split.y) if stratified else None)
    everything = np.arange(n)
    return tuple(
        Fold(index=i, k=k, train=take(split, np.setdiff1d(everything, held)), validation=take(split, held))
        for i, held in enumerate(parts)
    )
