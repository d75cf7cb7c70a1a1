"""The data a study trains on: load and check it, record it with the study, compare later data
with the record.

Two records: the *fingerprint* (name, input shape, classes, split sizes) identifies data the
study's trials can be compared on -- other data is refused, by :func:`check_same_data` alone;
the *source* (kind, path, content digest) says where the data was, so that ``export`` can load
it again and say when it moved or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from hpsearch._dataset_kind import KEYED_BY_PATH, dataset_kind
from hpsearch._errors import UsageError
from hpsearch.config import StudyConfig
from hpsearch.data._datasets import Dataset, load_dataset
from hpsearch.catalog import check_input_shape
from hpsearch.study._storage import canonical
from hpsearch.keys import StudyAttr

__all__ = [
    "load_data",
    "check_same_data",
    "record_fingerprint",
    "describe_data_source",
    "record_data_source",
    "recorded_data",
    "data_note",
    "dataset_flags",
]


def load_data(config: StudyConfig, data_dir: str | None) -> Dataset:
    """Load the study's dataset and check the model can read its images."""
    dataset = load_dataset(config.data, seed=config.seed, data_dir=data_dir)
    problem = check_input_shape(config.model, dataset.input_shape)
    if problem:
        raise UsageError(f"{dataset.name}: {problem}.")
    return dataset


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
    return f"CIFAR-10 from {where} ({source.get('digest')})"


def record_data_source(study: optuna.Study, dataset: Dataset) -> None:
    """Remember where the study's data came from. A later run that finds the same data elsewhere
    updates the place (the data moved); data with other contents keeps the first record."""
    new, old = dataset.source, study.user_attrs.get(StudyAttr.DATA_SOURCE)
    if new is None or new == old:
        return
    if old is None or old.get("digest") == new.get("digest"):
        study.set_user_attr(StudyAttr.DATA_SOURCE, new)


def recorded_data(study: optuna.Study, config: StudyConfig, data_dir: str | None, dataset: str | None) -> tuple[StudyConfig, str | None]:
    """How to load the study's data again: ``--data-dir`` / ``--dataset`` when given, else the
    source recorded with the study (one line if it is no longer there)."""
    source = study.user_attrs.get(StudyAttr.DATA_SOURCE)
    if data_dir or dataset or not source:
        return (config.with_overrides(dataset=dataset) if dataset else config), data_dir
    path = source.get("path")
    by_path = source.get("kind") in KEYED_BY_PATH
    if path and not Path(path).exists():
        flag = "--dataset PATH.npz" if by_path else "--data-dir DIR"
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
    """The ``--data-dir`` / ``--dataset`` flags that make a worker process load this session's data."""
    flags = ["--data-dir", str(data_dir)] if data_dir else []
    if dataset_kind(config.data.dataset) in KEYED_BY_PATH:
        flags += ["--dataset", config.data.dataset]
    return flags
