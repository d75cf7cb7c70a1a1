"""The data a study trains on: load and check it, record it with the study, compare later data
with the record.

Three records: the *fingerprint* (name, input shape, classes, split sizes) identifies data the
study's trials can be compared on -- other data is refused, by :func:`check_same_data` alone;
the *source* (kind, path, content digest) says where the data was, so that ``export`` can load
it again and say when it moved or changed; the *description* (``Dataset.describe()``: shapes,
class names, counts per split...) is what ``show``, ``report`` and ``export`` tell the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from hpsearch._dataset_kind import KEYED_BY_PATH, dataset_kind
from hpsearch._errors import UsageError
from hpsearch.config import StudyConfig
from hpsearch.data._types import Dataset
from hpsearch.data.sources import SourceSpec, load_source
from hpsearch.study._storage import canonical
from hpsearch.keys import StudyAttr

__all__ = [
    "load_data",
    "check_same_data",
    "record_fingerprint",
    "describe_data_source",
    "summarize_data",
    "record_data_source",
    "recorded_data",
    "data_note",
    "dataset_flags",
]

_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def load_data(config: StudyConfig, data_dir: str | None = None) -> Dataset:
    """Load the study's dataset (any source), split with ``config.seed`` (0 when it has none).
    Whether the model can learn from it is checked by :func:`hpsearch.tasks._plan.settle` (which
    also settles what the study left to the data) and :func:`hpsearch.study._model_check.check_model`.

    Args:
        data_dir: where the files of a dataset by name are (no download), as ``--data-dir``.

    Raises:
        UsageError: data that cannot be read.
    """
    seed = config.seed if config.seed is not None else 0
    return load_source(SourceSpec.from_config(config.data), seed=seed, data_dir=data_dir)


def check_same_data(study: optuna.Study, fingerprint: Mapping[str, Any], *, fix: str) -> None:
    """Refuse data that is not what ``study`` was created on (its trials were scored on that).

    Raises:
        UsageError: naming both fingerprints and ``fix``, how to pass the study's data.
    """
    stored = study.user_attrs.get(StudyAttr.DATA)
    if stored is not None and stored != canonical(fingerprint):
        raise UsageError(f"Study {study.study_name!r} was created on different data ({stored}); this run loads {dict(fingerprint)}: {fix}")


def record_fingerprint(study: optuna.Study, fingerprint: Mapping[str, Any]) -> None:
    """Record the data a new study is created on (see :func:`check_same_data`)."""
    study.set_user_attr(StudyAttr.DATA, canonical(fingerprint))


def describe_data_source(source: Mapping[str, Any]) -> str:
    """``CIFAR-10 from files in /data (sha256:...)``, ``/data/mine.npz (sha256:...)``."""
    if source.get("kind") in KEYED_BY_PATH:
        return f"{source.get('path')} ({source.get('digest')})"
    where = f"files in {source['path']}" if source.get("path") else "the Keras download cache"
    return f"{_TITLES.get(str(source.get('kind')), source.get('kind'))} from {where} ({source.get('digest')})"


def summarize_data(description: Mapping[str, Any]) -> str:
    """One line of what a study read (a recorded ``Dataset.describe()``): ``/data/digits (sha256:...):
    8x8x1 images, 10 classes; train 1294, validation 143, test 360``."""
    shape = description.get("input_shape") or []
    if len(shape) == 3:
        inputs = f"{shape[0]}x{shape[1]}x{shape[2]} images{', streamed' if description.get('streamed') else ''}"
    else:
        inputs = f"{shape[0] if shape else '?'} features"
    classes = description.get("num_classes")
    task = f"{classes} classes" if description.get("task") == "classification" else str(description.get("task"))
    counts = description.get("counts") or {}
    split = ", ".join(f"{name} {counts[name]}" for name in ("train", "validation", "test") if name in counts)
    source = {"kind": description.get("kind"), "path": description.get("location"), "digest": description.get("digest")}
    return f"{describe_data_source(source)}: {inputs}, {task}; {split}"


def record_data_source(study: optuna.Study, dataset: Dataset) -> None:
    """Remember where the study's data came from and what it was. A later run that finds the same
    data elsewhere updates the place (the data moved); data with other contents keeps the first record."""
    new, old = dataset.source, study.user_attrs.get(StudyAttr.DATA_SOURCE)
    if new is None:
        return
    if old is None or old.get("digest") == new.get("digest"):
        if new != old:
            study.set_user_attr(StudyAttr.DATA_SOURCE, new)
        description = canonical(dataset.describe())
        if study.user_attrs.get(StudyAttr.DATA_DESCRIPTION) != description:
            study.set_user_attr(StudyAttr.DATA_DESCRIPTION, description)


def recorded_data(study: optuna.Study, config: StudyConfig, data_dir: str | None, dataset: str | None) -> tuple[StudyConfig, str | None]:
    """How to load the study's data again: ``--data-dir`` / ``--dataset`` when given, else the
    source recorded with the study (one line if it is no longer there)."""
    source = study.user_attrs.get(StudyAttr.DATA_SOURCE)
    if data_dir or dataset or not source:
        return (config.with_overrides(dataset=dataset) if dataset else config), data_dir
    path = source.get("path")
    by_path = source.get("kind") in KEYED_BY_PATH
    if path and not Path(path).exists():
        flag = {"npz": "--dataset PATH.npz", "csv": "--dataset PATH.csv", "folder": "--dataset DIR"}.get(source.get("kind"), "--data-dir DIR")
        raise UsageError(
            f"Study {config.name!r} was trained on {describe_data_source(source)}, which is no longer there; "
            f"pass {flag} with its new location."
        )
    if by_path:
        return config.with_overrides(dataset=path), None
    return config, path


def data_note(study: optuna.Study, data: Dataset) -> str | None:
    """One line if ``data`` is not where or what the study was trained on; refuse data of another
    shape (the study's models could not even read it)."""
    check_same_data(study, data.fingerprint(), fix="pass the study's data with --data-dir / --dataset.")
    source, new = study.user_attrs.get(StudyAttr.DATA_SOURCE), data.source
    if not source or not new:
        return None
    if new.get("digest") != source.get("digest"):
        return (
            f"the data loaded ({describe_data_source(new)}) differs from what study {study.study_name!r} was trained on "
            f"({describe_data_source(source)}); the test metrics are for the data loaded."
        )
    if new.get("path") != source.get("path"):
        return f"study {study.study_name!r} was trained on {describe_data_source(source)}; the same data is now at {new.get('path') or 'the Keras download cache'}."
    return None


def dataset_flags(config: StudyConfig, data_dir: str | None) -> list[str]:
    """The ``--data-dir`` / ``--dataset`` / ``--test`` flags that make a worker process load this
    session's data (the other data options come with the study's stored configuration)."""
    flags = ["--data-dir", str(data_dir)] if data_dir else []
    if dataset_kind(config.data.dataset, must_exist=False) in KEYED_BY_PATH:
        flags += ["--dataset", config.data.dataset]
    if config.data.test:
        flags += ["--test", config.data.test]
    return flags
