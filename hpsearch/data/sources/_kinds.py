"""The one place a ``--dataset`` string is turned into a source kind (no heavy imports)."""

from __future__ import annotations

from pathlib import Path

from hpsearch._errors import UsageError, did_you_mean

__all__ = ["KERAS_DATASETS", "KINDS", "detect_kind"]

#: Datasets Keras can download by name (``keras.datasets.<name>.load_data()``).
KERAS_DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist")
#: Every kind :func:`detect_kind` can return.
KINDS = (*KERAS_DATASETS, "folder", "csv", "npz")

SUPPORTED = (
    f"{', '.join(KERAS_DATASETS)} (by name), a folder with one sub-folder of images per class, "
    "a FILE.csv table or a FILE.npz of arrays"
)


def detect_kind(dataset: str) -> str:
    """``cifar10``/``cifar100``/``mnist``/``fashion_mnist`` for a Keras name, ``npz`` or ``csv`` for a
    path with that suffix (existence is checked by the loader, which names the file), ``folder``
    for an existing directory. Anything else: a one-line :class:`UsageError` listing what works.

    Names win over paths: a folder called ``mnist`` in the working directory is ``./mnist``.
    """
    text = str(dataset).strip()
    if text in KERAS_DATASETS:
        return text
    suffix = Path(text).suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix == ".csv":
        return "csv"
    path = Path(text).expanduser()
    if path.is_dir():
        return "folder"
    if path.exists():
        raise UsageError(f"--dataset {text}: unsupported file type {suffix or '(no suffix)'}; use {SUPPORTED}.")
    hint = did_you_mean(text.lower().replace("-", "_"), KERAS_DATASETS)
    raise UsageError(f"--dataset {text!r} is neither a known name nor an existing folder or file{hint}; use {SUPPORTED}.")
