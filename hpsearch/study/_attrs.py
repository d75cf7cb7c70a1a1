"""The names under which hpsearch stores a study's own records in Optuna (study and trial user
attributes). Stored names: changing one orphans every existing study."""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ATTR_CONFIG",
    "ATTR_IDENTITY",
    "ATTR_SEED",
    "ATTR_DATA",
    "ATTR_DATA_SOURCE",
    "ATTR_DATA_DESCRIPTION",
    "ATTR_TARGET",
    "ATTR_PARENT_RUN",
    "ATTR_TEST",
    "ATTR_WORKER",
    "canonical",
]

ATTR_CONFIG = "hpsearch.config"
ATTR_IDENTITY = "hpsearch.identity"
ATTR_SEED = "hpsearch.seed"
ATTR_DATA = "hpsearch.data"
ATTR_DATA_SOURCE = "hpsearch.data_source"  #: where the data came from (see ``Dataset.source``)
ATTR_DATA_DESCRIPTION = "hpsearch.data_description"  #: what was read (see ``Dataset.describe``)
ATTR_TARGET = "hpsearch.target_trials"
ATTR_PARENT_RUN = "hpsearch.mlflow_parent_run_id"
ATTR_TEST = "hpsearch.test_metrics"
ATTR_WORKER = "hpsearch.worker"  #: trial attribute: the identity of the process running it


def canonical(value: Any) -> Any:
    """``value`` as the storage gives it back (JSON types), *in its own key order*: the order of
    a study's branches and choices is part of its Optuna distributions (see ``align_choices``)."""
    return json.loads(json.dumps(value))
