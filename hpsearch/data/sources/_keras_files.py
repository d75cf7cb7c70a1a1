"""The files ``keras.datasets`` downloads, read from a folder without a network.

* ``cifar10``: ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/`` (see ``data._datasets``);
* ``cifar100``: ``cifar-100-python.tar.gz`` or ``cifar-100-python/`` (``train``, ``test``, ``meta``);
* ``mnist``: ``mnist.npz`` (``x_train, y_train, x_test, y_test``);
* ``fashion_mnist``: the four ``*-ubyte.gz`` files (IDX format), in the folder or ``fashion-mnist/``.

Pickles go through the same restricted unpickler as CIFAR-10 (numpy arrays only, never code).
Each reader returns ``(x_train, y_train, x_test, y_test, class_names)``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._datasets import _unpickle, load_npz, read_tar_members

__all__ = ["URLS", "read_cifar100", "read_mnist", "read_fashion_mnist", "read_idx", "FASHION_FILES", "FASHION_NAMES", "MNIST_NAMES"]

_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "mnist": _KERAS_BASE + "mnist.npz",
    "fashion_mnist": _KERAS_BASE + "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
}
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "tuple[str, ...] | None"]

# ----------------------------------------------------------------------------- CIFAR-100

_C100_TARBALL = "cifar-100-python.tar.gz"
_C100_FOLDER = "cifar-100-python"
_C100_MEMBERS = ("train", "test", "meta")


def _cifar100_members(data_dir: Path) -> tuple[dict[str, bytes], str]:
    for folder in (data_dir / _C100_FOLDER, data_dir):
        if (folder / "train").is_file():
            return {n: (folder / n).read_bytes() for n in _C100_MEMBERS if (folder / n).is_file()}, str(folder)
    tarball = data_dir / _C100_TARBALL
    if not tarball.is_file():
        raise UsageError(
            f"--data-dir {data_dir}: found neither {_C100_TARBALL} nor {_C100_FOLDER}/ there; download "
            f"{URLS['cifar100']} into it (or omit --data-dir to let Keras download CIFAR-100)."
        )
    return read_tar_members(tarball, _C100_MEMBERS, url=URLS["cifar100"]), str(tarball)


def _cifar100_split(blob: bytes, what: str, label_mode: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(blob, what, URLS["cifar100"], "CIFAR-100 file")
    key = f"{label_mode}_labels"
    if "data" not in batch or key not in batch:
        raise UsageError(f"{what} lacks 'data' or '{key}' (has {sorted(batch)}); download it again from {URLS['cifar100']}.")
    data, labels = np.asarray(batch["data"]), np.asarray(batch[key])
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise UsageError(
            f"{what} has data of shape {data.shape} and {len(labels)} labels; CIFAR-100 has (N, 3072) uint8 rows "
            f"and N labels. Download it again from {URLS['cifar100']}."
        )
    images = data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def read_cifar100(data_dir: Path, label_mode: str = "fine") -> Arrays:
    """CIFAR-100 from ``data_dir`` with ``fine`` (100) or ``coarse`` (20) labels."""
    members, source = _cifar100_members(data_dir)
    missing = [n for n in ("train", "test") if n not in members]
    if missing:
        raise UsageError(f"{source} is incomplete: {', '.join(missing)} missing; download it again from {URLS['cifar100']}.")
    x_train, y_train = _cifar100_split(members["train"], f"{source}: train", label_mode)
    x_test, y_test = _cifar100_split(members["test"], f"{source}: test", label_mode)
    names = None
    if "meta" in members:
        raw = _unpickle(members["meta"], f"{source}: meta", URLS["cifar100"], "CIFAR-100 file").get(f"{label_mode}_label_names")
        if raw is not None:
            names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
    return x_train, y_train, x_test, y_test, names


def cifar100_names_from_cache(label_mode: str) -> tuple[str, ...] | None:
    """Class names from the ``meta`` file Keras leaves in its cache after downloading CIFAR-100."""
    meta = Path("~/.keras/datasets").expanduser() / _C100_FOLDER / "meta"
    try:
        raw = _unpickle(meta.read_bytes(), str(meta), URLS["cifar100"], "CIFAR-100 file").get(f"{label_mode}_label_names")
    except (UsageError, OSError):
        return None
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw) if raw is not None else None


# ----------------------------------------------------------------------------- MNIST, Fashion-MNIST


def read_mnist(data_dir: Path, label_mode: str = "fine") -> Arrays:
    """``mnist.npz`` as Keras downloads it."""
    path = data_dir / "mnist.npz"
    if not path.is_file():
        raise UsageError(f"--data-dir {data_dir}: mnist.npz is not there; download {URLS['mnist']} into it (or omit --data-dir).")
    return (*load_npz(path), MNIST_NAMES)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One gzipped IDX file (unsigned bytes, ``ndim`` dimensions), checked against its header."""
    fix = f"download it again from {_KERAS_BASE}{path.name}"
    try:
        blob = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise UsageError(f"{path} is corrupt or not gzip ({e}); {fix}.") from None
    if len(blob) < 4 + 4 * ndim or blob[:2] != b"\0\0" or blob[2] != 0x08 or blob[3] != ndim:
        raise UsageError(f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s) (bad header); {fix}.")
    dims = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    start = 4 + 4 * ndim
    if len(blob) - start != int(np.prod(dims)):
        raise UsageError(f"{path} holds {len(blob) - start} bytes of data but its header says {dims}; it is truncated: {fix}.")
    return np.frombuffer(blob, np.uint8, offset=start).reshape(dims)


def read_fashion_mnist(data_dir: Path, label_mode: str = "fine") -> Arrays:
    """The four Fashion-MNIST ``*-ubyte.gz`` files, in ``data_dir`` or ``data_dir/fashion-mnist``."""
    folder = data_dir / "fashion-mnist" if (data_dir / "fashion-mnist" / FASHION_FILES[0]).is_file() else data_dir
    missing = [f for f in FASHION_FILES if not (folder / f).is_file()]
    if missing:
        raise UsageError(
            f"--data-dir {data_dir}: {', '.join(missing)} missing; download them from {_KERAS_BASE} "
            "(or omit --data-dir to let Keras download Fashion-MNIST)."
        )
    x_train, y_train, x_test, y_test = (read_idx(folder / f, 3 if "images" in f else 1) for f in FASHION_FILES)
    for x, y, name in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise UsageError(f"{folder}: {name} has {len(x)} images but {len(y)} labels; download both files again from {_KERAS_BASE}.")
    return x_train, y_train, x_test, y_test, FASHION_NAMES
