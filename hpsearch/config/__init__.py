"""Study file -> validated, frozen configuration.

A study file (YAML) is read by :func:`load_study_config` into a :class:`StudyConfig`: pydantic
models for its fixed sections (``_sections``, ``_schema``), the catalog's knob tables for the
search space (``_space``). Every problem is one line naming the key path, the bad value and the
fix. Nothing here imports TensorFlow.
"""

from hpsearch.config._files import builtin_studies, load_study_config, resolve_study_file
from hpsearch.config._model import BuilderRef, is_builder_ref, parse_builder_ref
from hpsearch.config._schema import StudyConfig, check_schedules_act, parse_study_dict, validate_study_name
from hpsearch.config._sections import (
    BudgetConfig,
    DataConfig,
    HeartbeatConfig,
    MemoryConfig,
    ObjectiveConfig,
    PrunerConfig,
    SamplerConfig,
    TrainingConfig,
)
from hpsearch.config._space import Branch, Choice, Conditional, Fixed, Group, ParamSpec, Range, SearchSpace

__all__ = [
    "StudyConfig",
    "DataConfig",
    "TrainingConfig",
    "ObjectiveConfig",
    "SamplerConfig",
    "PrunerConfig",
    "BudgetConfig",
    "HeartbeatConfig",
    "MemoryConfig",
    "SearchSpace",
    "ParamSpec",
    "Fixed",
    "Choice",
    "Range",
    "Conditional",
    "Group",
    "Branch",
    "BuilderRef",
    "parse_builder_ref",
    "is_builder_ref",
    "load_study_config",
    "parse_study_dict",
    "resolve_study_file",
    "builtin_studies",
    "validate_study_name",
    "check_schedules_act",
]
