"""``--dataset`` -> source kind: :func:`hpsearch._dataset_kind.dataset_kind` decides, with the flag named."""

from __future__ import annotations

from hpsearch._dataset_kind import KERAS_DATASETS, KINDS, dataset_kind
from hpsearch._errors import UsageError

__all__ = ["KERAS_DATASETS", "KINDS", "detect_kind"]


def detect_kind(dataset: str) -> str:
    """The kind of an existing source (see :func:`~hpsearch._dataset_kind.dataset_kind`); a
    problem is one line starting ``dataset``."""
    try:
        return dataset_kind(dataset)
    except UsageError as e:
        raise UsageError(f"dataset {e}") from None
