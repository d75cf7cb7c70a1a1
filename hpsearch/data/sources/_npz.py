"""``.npz`` files of arrays: images (N, H, W[, C]) with class ids, as before, and now any input
shape (e.g. tables (N, F)) and float targets (regression). Read with ``allow_pickle=False``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._datasets import _check_arrays, _check_classes, _check_labels, _check_pixel_range, _input_scale, content_digest, load_npz
from hpsearch.data._types import Dataset, Split
from hpsearch.data.sources._common import dataset_from_arrays
from hpsearch.data.sources._spec import SourceSpec

__all__ = ["load_npz_source", "resolve_task"]


def resolve_task(task: str, y: np.ndarray) -> str:
    """``auto``: float targets with any non-integer value are regression, the rest classification."""
    if task != "auto":
        return task
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y != np.round(y)).any():
        return "regression"
    return "classification"


def _inputs(name: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "uif" or x.dtype == np.bool_:
        raise UsageError(f"{name}: {key} has dtype {x.dtype}; inputs must be numbers.")
    if x.ndim < 2:
        raise UsageError(f"{name}: {key} has shape {x.shape}; inputs must be (N, ...) with one row per example, e.g. (N, F) or (N, H, W, C).")
    if x.ndim == 3:  # (N, H, W) grayscale images get their channel axis, as always
        x = x[..., np.newaxis]
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UsageError(f"{name}: {key} contains NaN or infinite values; clean the inputs first.")
    if x.ndim == 4:
        _check_pixel_range(name, key, x)
    return x


def _targets(name: str, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.dtype.kind not in "uif" or y.dtype == np.bool_:
        raise UsageError(f"{name}: {key} has dtype {y.dtype}; regression targets must be numbers.")
    if y.ndim not in (1, 2):
        raise UsageError(f"{name}: {key} has shape {y.shape}; regression targets must be (N,) or (N, K).")
    if len(y) != n:
        raise UsageError(f"{name}: {key} has {len(y)} targets but there are {n} inputs; they must match one to one.")
    if not np.isfinite(y).all():
        raise UsageError(f"{name}: {key} contains NaN or infinite values; drop or fill those rows first.")
    return y.astype(np.float32)


def _check_general(name: str, task: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> tuple:
    x_train, x_test = _inputs(name, "x_train", x_train), _inputs(name, "x_test", x_test)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UsageError(f"{name}: x_train rows are {x_train.shape[1:]} but x_test rows are {x_test.shape[1:]}; they must match.")
    if len(x_train) < 2 or len(x_test) < 1:
        raise UsageError(f"{name}: needs at least 2 training and 1 test example (has {len(x_train)} and {len(x_test)}).")
    if task == "regression":
        y_train, y_test = _targets(name, "y_train", y_train, len(x_train)), _targets(name, "y_test", y_test, len(x_test))
        if y_train.shape[1:] != y_test.shape[1:]:
            raise UsageError(f"{name}: y_train targets are {y_train.shape[1:]} but y_test targets are {y_test.shape[1:]}; they must match.")
        return x_train, y_train, x_test, y_test, 0
    y_train = _check_labels(name, "y_train", y_train, len(x_train))
    y_test = _check_labels(name, "y_test", y_test, len(x_test))
    return x_train, y_train, x_test, y_test, _check_classes(name, y_train, y_test)


def load_npz_source(spec: SourceSpec, *, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Images with class ids go through exactly today's checks; other shapes and regression
    targets through the general ones. Integer inputs of 3 or 4 dims are pixels (scaled by 1/255)."""
    path = Path(spec.dataset).expanduser()
    name = path.name
    x_train, y_train, x_test, y_test = load_npz(path)
    task = resolve_task(spec.task, y_train)
    if task == "classification" and x_train.ndim in (3, 4):
        x_train, y_train, x_test, y_test, num_classes = _check_arrays(name, x_train, y_train, x_test, y_test)
    else:
        x_train, y_train, x_test, y_test, num_classes = _check_general(name, task, x_train, y_train, x_test, y_test)
    images = x_train.ndim == 4
    source = {"kind": "npz", "path": str(path.resolve()), "digest": content_digest(x_train, y_train, x_test, y_test)}
    return dataset_from_arrays(
        name,
        Split(x_train, y_train),
        Split(x_test, y_test),
        spec=spec,
        seed=seed,
        num_classes=num_classes,
        input_scale=_input_scale(x_train, x_test) if images else 1.0,
        source=source,
        task=task,
    )
