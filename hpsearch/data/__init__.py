"""Datasets: sources on disk or by name (:func:`~hpsearch.data.sources.load_source`), splits,
tf.data pipelines.

Importing this package is light (numpy only); the sources import TensorFlow when they load.
"""

from hpsearch._dataset_kind import dataset_kind
from hpsearch.data._pipelines import Pipelines
from hpsearch.data._types import Dataset, Split

__all__ = ["Dataset", "Pipelines", "Split", "dataset_kind"]
