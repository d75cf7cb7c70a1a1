"""Array datasets: read CIFAR-10 files and ``.npz`` files, check arrays of images and labels.

Every source is loaded by :func:`hpsearch.data.sources.load_source` (one path for every kind);
these are the readers and checks of the array sources it shares. Files read here:

* ``cifar10`` with ``data_dir``: the official ``cifar-10-python.tar.gz`` or its extracted
  ``cifar-10-batches-py/`` in that directory (read with a restricted unpickler: only numpy arrays,
  never arbitrary objects);
* a path to an ``.npz`` with ``x_train, y_train, x_test, y_test`` (images HxW or HxWxC, integer
  labels), read with ``allow_pickle=False``.

Loading needs numpy only; :class:`Pipelines` imports TensorFlow when made.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._pipelines import Pipelines
from hpsearch.data._types import Dataset, Split

__all__ = ["Split", "Dataset", "load_cifar10_dir", "load_npz", "content_digest", "Pipelines", "CIFAR10_URL"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_TARBALL = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_META = "batches.meta"


# ----------------------------------------------------------------------------- CIFAR-10 files


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no code execution)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _unpickle(blob: bytes, what: str, url: str = CIFAR10_URL, kind: str = "CIFAR-10 batch") -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:
        raise UsageError(f"{what} is corrupt ({type(e).__name__}: {e}); download it again from {url}.") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{what} is not a {kind} (expected a dict); download it again from {url}.")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _batch_arrays(batch: dict, what: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in batch or "labels" not in batch:
        raise UsageError(f"{what} lacks 'data' or 'labels' (has {sorted(batch)}); download it again from {CIFAR10_URL}.")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise UsageError(
            f"{what} has data of shape {data.shape} and {len(labels)} labels; a CIFAR-10 batch has "
            f"(N, 3072) uint8 rows and N labels. Download it again from {CIFAR10_URL}."
        )
    # Rows are 1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major.
    images = data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _read_members(data_dir: Path) -> tuple[dict[str, bytes], str]:
    """Raw bytes of every CIFAR-10 member found in ``data_dir``, and a description of the source."""
    wanted = {*_CIFAR_TRAIN, _CIFAR_TEST, _CIFAR_META}
    for folder in (data_dir / _CIFAR_FOLDER, data_dir):
        if (folder / _CIFAR_TRAIN[0]).is_file():
            return {n: (folder / n).read_bytes() for n in wanted if (folder / n).is_file()}, str(folder)
    tarball = data_dir / _CIFAR_TARBALL if data_dir.is_dir() else data_dir
    if not tarball.is_file():
        raise UsageError(
            f"--data-dir {data_dir}: found neither {_CIFAR_TARBALL} nor {_CIFAR_FOLDER}/ there; "
            f"download {CIFAR10_URL} into it (or omit --data-dir to let Keras download CIFAR-10)."
        )
    return read_tar_members(tarball, wanted, url=CIFAR10_URL), str(tarball)


def read_tar_members(tarball: Path, wanted: Collection[str], *, url: str) -> dict[str, bytes]:
    """Raw bytes of the members of ``tarball`` whose file names are in ``wanted`` (in any folder).

    Raises:
        UsageError: a corrupt or truncated archive, naming ``url`` to download it again from.
    """
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for info in tar:
                base = info.name.rsplit("/", 1)[-1]
                if info.isfile() and base in wanted:
                    fh = tar.extractfile(info)
                    if fh is not None:
                        members[base] = fh.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise UsageError(f"{tarball} is corrupt or not a tar.gz ({e}); download it again from {url}.") from None
    return members


def load_cifar10_dir(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """Read CIFAR-10 in the official python format from ``data_dir``.

    Returns ``(x_train, y_train, x_test, y_test, class_names)``.
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        raise UsageError(f"--data-dir {data_dir} does not exist; create it and put {_CIFAR_TARBALL} in it.")
    members, source = _read_members(data_dir)
    missing = [n for n in (*_CIFAR_TRAIN, _CIFAR_TEST) if n not in members]
    if missing:
        raise UsageError(
            f"{source} is incomplete: {', '.join(missing)} missing; download it again from {CIFAR10_URL}."
        )
    train = [_batch_arrays(_unpickle(members[n], f"{source}: {n}"), f"{source}: {n}") for n in _CIFAR_TRAIN]
    x_test, y_test = _batch_arrays(_unpickle(members[_CIFAR_TEST], f"{source}: {_CIFAR_TEST}"), f"{source}: {_CIFAR_TEST}")
    names = None
    if _CIFAR_META in members:
        meta = _unpickle(members[_CIFAR_META], f"{source}: {_CIFAR_META}")
        raw = meta.get("label_names")
        if raw is not None:
            names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test, names


_CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ----------------------------------------------------------------------------- npz files


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``x_train, y_train, x_test, y_test`` from an ``.npz`` (no pickles)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"Dataset file {path} does not exist; pass --dataset PATH.npz with x_train, y_train, x_test, y_test.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in npz.files]
            if missing:
                raise UsageError(
                    f"{path} lacks {', '.join(missing)} (it has {', '.join(npz.files) or 'nothing'}); "
                    "save it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
                )
            arrays = tuple(npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except UsageError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zlib.error) as e:
        raise UsageError(f"{path} is corrupt or not an .npz file ({type(e).__name__}: {e}); write it again with np.savez.") from None
    return arrays  # type: ignore[return-value]


# ----------------------------------------------------------------------------- checks and splits


def _check_arrays(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> tuple:
    def images(x: np.ndarray, key: str) -> np.ndarray:
        if x.dtype.kind not in "uif" or x.dtype == np.bool_:
            raise UsageError(f"{name}: {key} has dtype {x.dtype}; images must be numbers (uint8 0-255 or float 0-1).")
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if x.ndim != 4:
            raise UsageError(f"{name}: {key} has shape {x.shape}; images must be (N, H, W) or (N, H, W, C).")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise UsageError(f"{name}: {key} contains NaN or infinite values; clean the images first.")
        _check_pixel_range(name, key, x)
        return x

    x_train, x_test = images(x_train, "x_train"), images(x_test, "x_test")
    if (x_train.dtype.kind == "f") != (x_test.dtype.kind == "f"):
        raise UsageError(
            f"{name}: x_train is {x_train.dtype} but x_test is {x_test.dtype}; store both as uint8 0-255 or both "
            "as float 0-1 (one model rescales both the same way)."
        )
    y_train = _check_labels(name, "y_train", y_train, len(x_train))
    y_test = _check_labels(name, "y_test", y_test, len(x_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UsageError(f"{name}: x_train images are {x_train.shape[1:]} but x_test images are {x_test.shape[1:]}; they must match.")
    if len(x_train) < 2 or len(x_test) < 1:
        raise UsageError(f"{name}: needs at least 2 training and 1 test image (has {len(x_train)} and {len(x_test)}).")
    num_classes = _check_classes(name, y_train, y_test)
    return x_train, y_train, x_test, y_test, num_classes


def _check_labels(name: str, key: str, y: np.ndarray, n: int) -> np.ndarray:
    """Integer class ids (N,) (a trailing axis of 1 is dropped), non-negative, one per example."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError(f"{name}: {key} has shape {y.shape}; labels must be integer class ids of shape (N,) (not one-hot).")
    if len(y) != n:
        raise UsageError(f"{name}: {key} has {len(y)} labels but there are {n} images; they must match one to one.")
    if y.dtype.kind == "f" and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise UsageError(f"{name}: {key} has non-integer labels; labels must be class ids 0..K-1.")
    if y.dtype.kind not in "uif" or y.dtype == np.bool_:
        raise UsageError(f"{name}: {key} has dtype {y.dtype}; labels must be integer class ids 0..K-1.")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise UsageError(f"{name}: {key} has label {int(y.min())}; labels out of range, they must be 0..K-1.")
    return y


def _check_classes(name: str, y_train: np.ndarray, y_test: np.ndarray) -> int:
    """The number of classes K; every training label 0..K-1 must occur, test labels within."""
    classes = np.unique(y_train)
    num_classes = int(classes[-1]) + 1
    if len(classes) < 2:
        raise UsageError(f"{name}: y_train has a single class ({int(classes[0])}); a classifier needs at least two.")
    if len(y_test) and int(y_test.max()) >= num_classes:
        raise UsageError(
            f"{name}: labels out of range: y_test has label {int(y_test.max())} but y_train only has "
            f"classes 0..{num_classes - 1}."
        )
    if len(classes) != num_classes:  # a label without training images: an output the model can never learn
        k = len(classes)
        missing = np.setdiff1d(np.arange(num_classes), classes)
        raise UsageError(
            f"{name}: y_train has labels {_label_list(classes)}, but the labels of {k} classes must be 0..{k - 1} "
            f"(no training image has label {_label_list(missing)}); renumber them 0..{k - 1}, the same way in y_test."
        )
    return num_classes


def content_digest(*arrays: np.ndarray) -> str:
    """A short digest of the arrays' dtypes, shapes and bytes (the same data gives the same digest,
    wherever it was read from)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).data)
    return "sha256:" + h.hexdigest()[:16]


def _label_list(labels: np.ndarray) -> str:
    """``1, 2, 3`` or, for many, ``1, 2, 3, ..., 99 (98 labels)``."""
    values = [str(int(v)) for v in labels]
    if len(values) <= 8:
        return ", ".join(values)
    return f"{', '.join(values[:3])}, ..., {values[-1]} ({len(values)} labels)"


def _check_pixel_range(name: str, key: str, x: np.ndarray) -> None:
    """Integer pixels must be 0-255, float pixels 0-1: anything else would be rescaled wrongly."""
    if not x.size or x.dtype == np.uint8:
        return
    low, high = x.min(), x.max()
    if x.dtype.kind in "ui" and (low < 0 or high > 255):
        raise UsageError(
            f"{name}: {key} has integer pixels from {int(low)} to {int(high)}; integer images must be 0-255 "
            "(uint8): rescale or clip them, or store floats in [0, 1]."
        )
    if x.dtype.kind == "f" and (low < 0 or high > 1):
        raise UsageError(
            f"{name}: {key} has float pixels from {float(low):.4g} to {float(high):.4g}; float images must be in "
            "[0, 1]: divide 0-255 data by 255 (or store it as uint8), rescale anything else."
        )


def _input_scale(*xs: np.ndarray) -> float:
    """1/255 for integer pixels (0-255), 1.0 for float pixels (0-1); both checked by _check_arrays."""
    return 1.0 / 255.0 if any(x.dtype.kind in "ui" for x in xs) else 1.0
