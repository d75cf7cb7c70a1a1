"""Datasets: sources on disk or by name, splits, tf.data pipelines."""

from hpsearch._dataset_kind import dataset_kind

__all__ = ["dataset_kind"]
