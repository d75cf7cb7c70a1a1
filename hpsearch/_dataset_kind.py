"""Which kind of data source a ``dataset`` names: the one place that decides it.

Base layer (imports only the catalog's list of names), so that the config validator, the data
loaders (:func:`hpsearch.data.sources.detect_kind` delegates here) and the study's worker
processes all ask the same function. A new source adds its rule here, and every caller follows.
Also here: the options each kind understands, so that a study file and a loader refuse the same.
"""

from __future__ import annotations

from pathlib import Path

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog._data import DATASETS

__all__ = ["KERAS_DATASETS", "KINDS", "KEYED_BY_PATH", "OPTIONS_BY_KIND", "CHOICES", "SUPPORTED", "dataset_kind"]

#: Datasets Keras can download by name (``keras.datasets.<name>.load_data()``).
KERAS_DATASETS: tuple[str, ...] = DATASETS
#: Every kind :func:`dataset_kind` can return.
KINDS = (*KERAS_DATASETS, "folder", "csv", "npz")
#: Kinds whose ``dataset`` is a path on this machine (a worker elsewhere passes its own with ``--dataset``).
KEYED_BY_PATH = frozenset({"folder", "csv", "npz"})

#: The options beyond ``dataset``/``validation_fraction``/``subset`` that each kind understands;
#: setting one for another kind is a usage error (it would be silently ignored otherwise).
OPTIONS_BY_KIND: dict[str, frozenset[str]] = {
    "cifar10": frozenset({"task"}),
    "cifar100": frozenset({"label_mode", "task"}),
    "mnist": frozenset({"task"}),
    "fashion_mnist": frozenset({"task"}),
    "folder": frozenset({"image_size", "color_mode", "test_fraction", "task"}),
    "csv": frozenset({"target", "task", "test", "test_fraction", "impute"}),
    "npz": frozenset({"task"}),
}

#: The legal values of the data options that are a choice (``task: auto`` decides from the targets).
CHOICES: dict[str, tuple[str, ...]] = {
    "task": ("auto", "classification", "regression"),
    "label_mode": ("fine", "coarse"),
    "color_mode": ("rgb", "grayscale"),
    "impute": ("mean", "median"),
}

SUPPORTED = (
    f"{', '.join(KERAS_DATASETS)} (by name), a folder with one sub-folder of images per class, "
    "a FILE.csv table or a FILE.npz of arrays"
)


def dataset_kind(dataset: str, *, must_exist: bool = True) -> str:
    """``cifar10``/``cifar100``/``mnist``/``fashion_mnist`` for a Keras name, ``npz`` or ``csv`` for a
    path with that suffix (existence is checked by the loader, which names the file), ``folder``
    for a directory. Names win over paths: a folder called ``mnist`` is ``./mnist``.

    With ``must_exist=False`` (a study file read before ``--dataset`` replaces its folder, a stored
    study read back on a machine that may not have its data) any other string is taken for a
    folder, unless it is a bare word close to a known name (``minst``); otherwise it must be one.

    Raises:
        UsageError: ``'minst' is neither a known name nor ...; use ...`` (no flag named: callers
            say where the value came from).
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
        raise UsageError(f"{text}: unsupported file type {suffix or '(no suffix)'}; use {SUPPORTED}.")
    hint = did_you_mean(text.lower().replace("-", "_"), KERAS_DATASETS)
    if not must_exist and not (hint and "/" not in text and not suffix):  # a folder elsewhere, not a misspelt name
        return "folder"
    raise UsageError(f"{text!r} is neither a known name nor an existing folder or file{hint}; use {SUPPORTED}.")
