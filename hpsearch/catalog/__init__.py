"""Every option hpsearch knows, declared once with its knobs, defaults, domains, docs and builder.

The bottom layer of the package: the study-file validator (``config``), the sampler (``space``),
the builders (``models``, ``study``) and the CLI read it. Importing it is cheap: builders are
imported when something is built (a ``"module:attribute"`` path, or a function that imports Optuna
or Keras inside), never at import time.

* :class:`Knob` -- one tunable value; :func:`param_name` -- its Optuna/MLflow name in a branch.
* :class:`Catalog` -- a read-only ``name -> {knob: Knob}`` table of :class:`Option` s that also
  builds them: ``OPTIMIZERS.build("sgd", {"momentum": 0.9}, learning_rate=0.1)``.
* Training: :data:`OPTIMIZERS`, :data:`SCHEDULES`, :data:`REGULARIZERS`, :data:`SCALAR_ROLES`,
  :data:`CONDITIONAL_ROLES`, :data:`ROLE_ORDER`, :data:`INITIALIZERS`, :data:`BATCH_NORM_MODES`.
* Strategies: :data:`SAMPLERS` (:class:`SamplerOption`, :class:`SearchedParam`, :func:`grid_size`),
  :data:`PRUNERS`. Multi-objective: :data:`MEASURED` (``params``, ``latency_ms``). Models: :data:`MODELS` (:data:`MODEL_ROLES`), :data:`METRICS`,
  :func:`check_input_shape`. Data: :data:`DATASETS`.
* Tasks: :data:`TASKS`, :data:`LOSSES` (with :class:`LossOption`), :data:`TASK_METRICS` (with
  :class:`MetricOption`), :data:`DEFAULT_LOSSES`. Tables: :data:`TABLE_MODELS` (:data:`MLP`).
  Images: :data:`AUGMENTATIONS`, :data:`AUGMENTATION_KNOBS`. Optional search-space roles:
  :data:`OPTIONAL_ROLES` (:data:`OPTIONAL_CONDITIONAL_ROLES`, :data:`GROUP_ROLES`).
* The CNN family: :data:`ARCHITECTURE` (its knobs), :data:`CIFAR_CNN_PRESET`,
  :func:`architecture_problem` and :func:`space_problem` (shape feasibility).
"""

from __future__ import annotations

from hpsearch.catalog._architecture import ARCHITECTURE, CIFAR_CNN_PRESET, architecture_problem, space_problem
from hpsearch.catalog._data import DATASETS
from hpsearch.catalog._knob import Knob, param_name
from hpsearch.catalog._models import METRICS, MODEL_ROLES, MODELS, ModelOption, check_input_shape
from hpsearch.catalog._objectives import LATENCY_BATCH, LATENCY_REPEATS, MEASURED
from hpsearch.catalog._option import Catalog, Option
from hpsearch.catalog._strategies import PRUNERS, SAMPLERS, SamplerOption, SearchedParam, grid_size
from hpsearch.catalog._augment import AUGMENTATION_KNOBS, AUGMENTATIONS
from hpsearch.catalog._mlp import MLP, TABLE_MODELS
from hpsearch.catalog._roles import GROUP_ROLES, OPTIONAL_CONDITIONAL_ROLES, OPTIONAL_ROLES
from hpsearch.catalog._tasks import DEFAULT_LOSSES, LOSSES, TASK_METRICS, TASKS, LossOption, MetricOption, metric_direction
from hpsearch.catalog._training import (
    BATCH_NORM_MODES,
    CONDITIONAL_ROLES,
    INITIALIZERS,
    OPTIMIZERS,
    REGULARIZERS,
    ROLE_ORDER,
    SCALAR_ROLES,
    SCHEDULES,
)

__all__ = [
    "Knob",
    "Option",
    "ModelOption",
    "Catalog",
    "param_name",
    "OPTIMIZERS",
    "SCHEDULES",
    "REGULARIZERS",
    "CONDITIONAL_ROLES",
    "SCALAR_ROLES",
    "ROLE_ORDER",
    "INITIALIZERS",
    "BATCH_NORM_MODES",
    "METRICS",
    "SAMPLERS",
    "MEASURED",
    "LATENCY_BATCH",
    "LATENCY_REPEATS",
    "PRUNERS",
    "SamplerOption",
    "SearchedParam",
    "grid_size",
    "DATASETS",
    "MODELS",
    "MODEL_ROLES",
    "check_input_shape",
    "TASKS",
    "LOSSES",
    "LossOption",
    "TASK_METRICS",
    "MetricOption",
    "DEFAULT_LOSSES",
    "metric_direction",
    "MLP",
    "TABLE_MODELS",
    "AUGMENTATIONS",
    "AUGMENTATION_KNOBS",
    "OPTIONAL_ROLES",
    "OPTIONAL_CONDITIONAL_ROLES",
    "GROUP_ROLES",
    "ARCHITECTURE",
    "CIFAR_CNN_PRESET",
    "architecture_problem",
    "space_problem",
]
