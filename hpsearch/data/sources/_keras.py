"""Keras datasets by name: ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``.

Without ``data_dir``: ``keras.datasets.<name>.load_data()`` (downloads once to ``~/.keras/datasets``).
With ``data_dir``: the same files, read from that folder without a network (``_keras_files``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.data._datasets import _CIFAR10_NAMES, _check_arrays, _input_scale, content_digest, load_cifar10_dir
from hpsearch.data._types import Dataset, Split
from hpsearch.data.sources._common import dataset_from_arrays
from hpsearch.data.sources._keras_files import (
    FASHION_NAMES,
    MNIST_NAMES,
    URLS,
    Arrays,
    cifar100_names_from_cache,
    read_cifar100,
    read_fashion_mnist,
    read_mnist,
)
from hpsearch.data.sources._spec import SourceSpec

__all__ = ["load_keras_dataset"]


def _read_cifar10(data_dir: Path, label_mode: str) -> Arrays:
    return load_cifar10_dir(data_dir)


_READERS: dict[str, Callable[[Path, str], Arrays]] = {
    "cifar10": _read_cifar10,
    "cifar100": read_cifar100,
    "mnist": read_mnist,
    "fashion_mnist": read_fashion_mnist,
}
_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def _download(name: str, label_mode: str) -> Arrays:
    import keras  # downloads and caches in ~/.keras/datasets

    module = getattr(keras.datasets, name)
    try:
        loaded = module.load_data(label_mode=label_mode) if name == "cifar100" else module.load_data()
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise RuntimeFailure(
            f"Could not download {_TITLES[name]} ({type(e).__name__}: {e}). Download {URLS[name]} "
            "yourself and pass --data-dir DIR (the folder holding it)."
        ) from None
    (x_train, y_train), (x_test, y_test) = loaded
    names = {"cifar10": _CIFAR10_NAMES, "mnist": MNIST_NAMES, "fashion_mnist": FASHION_NAMES}.get(name)
    if name == "cifar100":
        names = cifar100_names_from_cache(label_mode)
    return x_train, y_train, x_test, y_test, names


def load_keras_dataset(spec: SourceSpec, *, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Read ``spec.dataset`` (a Keras name), check it like any array dataset, carve validation."""
    name = spec.dataset
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.exists():
            raise UsageError(f"--data-dir {folder} does not exist; create it and put the {_TITLES[name]} files ({URLS[name]}) in it.")
        x_train, y_train, x_test, y_test, names = _READERS[name](folder, spec.label_mode)
    else:
        x_train, y_train, x_test, y_test, names = _download(name, spec.label_mode)
    if name == "cifar10":
        names = names or _CIFAR10_NAMES
    x_train, y_train, x_test, y_test, num_classes = _check_arrays(name, x_train, y_train, x_test, y_test)
    source = {"kind": name, "path": str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None}
    if name == "cifar100":
        source["label_mode"] = spec.label_mode
    source["digest"] = content_digest(x_train, y_train, x_test, y_test)
    return dataset_from_arrays(
        name,
        Split(x_train, y_train),
        Split(x_test, y_test),
        spec=spec,
        seed=seed,
        num_classes=num_classes,
        input_scale=_input_scale(x_train, x_test),
        source=source,
        class_names=names,
    )
