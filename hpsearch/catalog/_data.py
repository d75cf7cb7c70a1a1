"""Datasets known by name."""

from __future__ import annotations

__all__ = ["DATASETS"]

#: Datasets Keras downloads by name (``keras.datasets.<name>.load_data()``); anything else is a
#: folder of images, a ``.csv`` table or an ``.npz`` of arrays (see :mod:`hpsearch._dataset_kind`).
DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist")
