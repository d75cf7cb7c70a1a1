"""Whether whole-number targets are class ids or a quantity (a count, a price, a score).

Needs numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_QUANTITY_VALUES", "are_class_ids", "looks_like_quantity"]

#: Whole-number targets with more distinct values than this (and than a share of the rows,
#: below) are a quantity when they are not the class ids 0..K-1.
MIN_QUANTITY_VALUES = 20


def are_class_ids(values: np.ndarray) -> bool:
    """Whether whole numbers ``values`` are the class ids 0..K-1 (none negative, none missing)."""
    ids = np.unique(np.asarray(values))
    return bool(ids[0] == 0 and ids[-1] == len(ids) - 1)


def looks_like_quantity(values: np.ndarray) -> bool:
    """Whether whole-number ``values`` that are *not* the ids 0..K-1 are a quantity to regress:
    more than :data:`MIN_QUANTITY_VALUES` distinct values, and more than 10% of the rows (5% from
    1000 rows on; AutoGluon's rule of thumb). Fewer (e.g. labels 1..10) stay a classification
    that must be renumbered, which the caller reports.
    """
    values = np.asarray(values).ravel()
    distinct = len(np.unique(values))
    share = 0.05 if len(values) >= 1000 else 0.1
    return distinct > MIN_QUANTITY_VALUES and distinct > share * len(values)
