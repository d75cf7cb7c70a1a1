"""Datasets known by name."""

from __future__ import annotations

__all__ = ["DATASETS"]

#: Datasets known by name (anything else must be a path to an .npz file).
DATASETS = ("cifar10",)
