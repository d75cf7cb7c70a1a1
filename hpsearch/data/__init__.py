"""Datasets: sources on disk or by name (:func:`~hpsearch.data.sources.load_source`), splits,
tf.data pipelines."""

from hpsearch._dataset_kind import dataset_kind

__all__ = ["dataset_kind"]
