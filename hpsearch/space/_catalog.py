"""Moved to :mod:`hpsearch.catalog`; re-exported here until every importer uses the new place."""

from __future__ import annotations

from hpsearch.catalog import (
    BATCH_NORM_MODES,
    CONDITIONAL_ROLES,
    DATASETS,
    INITIALIZERS,
    METRICS,
    MODELS,
    OPTIMIZERS,
    PRUNERS,
    REGULARIZERS,
    ROLE_ORDER,
    SAMPLERS,
    SCALAR_ROLES,
    SCHEDULES,
    Knob,
    check_input_shape,
    param_name,
)

__all__ = [
    "Knob",
    "OPTIMIZERS",
    "SCHEDULES",
    "REGULARIZERS",
    "CONDITIONAL_ROLES",
    "SCALAR_ROLES",
    "ROLE_ORDER",
    "INITIALIZERS",
    "BATCH_NORM_MODES",
    "METRICS",
    "param_name",
    "SAMPLERS",
    "PRUNERS",
    "DATASETS",
    "MODELS",
    "check_input_shape",
]
