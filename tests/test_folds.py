"""K-fold splits: every example validated once, seeded, stratified for classes; file splits are
split by their path and label lists."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch._errors import UsageError
from hpsearch.data._folds import fold_indices, join, kfold, take
from hpsearch.data._types import FileSplit, Split


def _split(n: int = 23, classes: int = 3) -> Split:
    y = np.array([0] * 12 + [1] * 8 + [2] * (n - 20))[:n] % classes
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return Split(x, y)


@pytest.mark.parametrize("stratified", [True, False])
def test_every_example_is_validated_once_and_trained_on_in_the_other_folds(stratified: bool) -> None:
    split = _split()
    folds = kfold(split, 4, seed=0, stratified=stratified)
    assert [f.index for f in folds] == [0, 1, 2, 3] and {f.k for f in folds} == {4}
    validated = np.concatenate([f.validation.x[:, 0] for f in folds])
    assert sorted(validated.tolist()) == sorted(split.x[:, 0].tolist())
    sizes = [len(f.validation) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for fold in folds:
        assert len(fold.train) + len(fold.validation) == len(split)
        assert not set(fold.train.x[:, 0]) & set(fold.validation.x[:, 0])
        assert np.array_equal(fold.train.y, split.y[np.isin(split.x[:, 0], fold.train.x[:, 0])])  # rows stay paired


def test_stratified_folds_spread_each_class_evenly() -> None:
    split = _split()
    folds = kfold(split, 4, seed=5, stratified=True)
    counts = np.array([np.bincount(f.validation.y, minlength=3) for f in folds])
    assert counts.sum(axis=0).tolist() == np.bincount(split.y).tolist()
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all(), counts


def test_folds_are_deterministic_per_seed() -> None:
    labels = _split().y
    same = [fold_indices(23, 5, seed=1, labels=labels) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*same))
    other = fold_indices(23, 5, seed=2, labels=labels)
    assert not all(np.array_equal(a, b) for a, b in zip(same[0], other))
    assert all(np.array_equal(a, np.sort(a)) for a in other)


def test_a_file_split_is_split_by_its_paths_and_labels() -> None:
    paths = tuple(f"img_{i}.png" for i in range(10))
    files = FileSplit(paths, np.arange(10) % 2, (8, 8), 3, resize=True)
    folds = kfold(files, 3, seed=0, stratified=True)
    for fold in folds:
        assert isinstance(fold.train, FileSplit) and isinstance(fold.validation, FileSplit)
        assert (fold.validation.image_size, fold.validation.channels, fold.validation.resize) == ((8, 8), 3, True)
        assert [int(p[4:-4]) % 2 for p in fold.validation.paths] == fold.validation.y.tolist()
    assert sorted(p for f in folds for p in f.validation.paths) == sorted(paths)


def test_join_pools_splits_in_order_and_take_picks_examples() -> None:
    a, b = _split(5), Split(np.ones((2, 2), np.float32), np.array([1, 0]))
    pooled = join(a, b)
    assert isinstance(pooled, Split) and len(pooled) == 7 and pooled.y[-2:].tolist() == [1, 0]
    assert take(pooled, np.array([0, 6])).y.tolist() == [a.y[0], 0]
    files = FileSplit(("a.png", "b.png"), np.array([0, 1]), (4, 4), 1)
    assert join(files, files).paths == ("a.png", "b.png", "a.png", "b.png")
    with pytest.raises(ValueError, match="cannot join splits held in memory with splits streamed from files"):
        join(a, files)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (1, "folds must be a whole number of at least 2, not 1; e.g. folds: 4."),
        (True, "folds must be a whole number of at least 2, not True; e.g. folds: 4."),
        (30, "folds: 30 is more than the 23 training examples; use at most 23 folds."),
    ],
)
def test_bad_fold_counts_are_one_line_errors(k: int, message: str) -> None:
    with pytest.raises(UsageError) as error:
        kfold(_split(), k, seed=0, stratified=False)
    assert str(error.value) == message
