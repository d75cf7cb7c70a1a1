"""Which kind of data source a study file's ``dataset:`` names: the one place that decides it.

Base layer (imports nothing of hpsearch), so that the config validator, the data loaders and the
study's worker processes all ask the same function. A new source (image folders, CSV tables,
more Keras datasets by name) adds its rule here, and every caller follows.
"""

from __future__ import annotations

__all__ = ["KEYED_BY_PATH", "dataset_kind"]

#: Kinds whose ``dataset`` is a path to a file (what a worker needs passed on with ``--dataset``).
KEYED_BY_PATH = frozenset({"npz"})


def dataset_kind(dataset: str) -> str:
    """``"npz"`` for a path ending in ``.npz``; otherwise ``"named"``: a dataset known by name
    (``cifar10``), checked against the catalog by the config validator."""
    return "npz" if dataset.endswith(".npz") else "named"
