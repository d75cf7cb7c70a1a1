"""Tasks: what a model learns and what that asks of its end.

* :class:`Task`, :func:`infer_task`, :func:`task_of` -- classification (binary with two classes)
  or regression, inferred from the targets; an explicit task wins, a contradiction is an error.
* :class:`Head`, :func:`head_for`, :func:`encode_labels` -- the output layer and the label
  encoding a loss needs; :func:`default_loss`, :func:`losses_for`.
* :func:`build_loss`, :func:`build_metrics`, :func:`metrics_for` -- Keras objects from catalog names.
* :func:`objective_direction` -- which way any logged metric is better.
* :func:`settle`, :func:`plan_for`, :class:`TaskPlan` -- a study's task, model, loss, metrics and
  objective settled from its data and checked before any trial is written.

Importing this package does not import TensorFlow: metrics are built by
:mod:`hpsearch.tasks._metrics`, imported when the first one is built.
"""

from __future__ import annotations

from hpsearch.tasks._build import build_loss, build_metrics, metrics_for
from hpsearch.tasks._head import Head, default_loss, encode_labels, head_for, losses_for
from hpsearch.tasks._objective import known_objectives, metric_base, objective_direction
from hpsearch.tasks._task import Task, infer_task, task_of

__all__ = [
    "Task",
    "infer_task",
    "task_of",
    "Head",
    "head_for",
    "default_loss",
    "losses_for",
    "encode_labels",
    "build_loss",
    "build_metrics",
    "metrics_for",
    "objective_direction",
    "metric_base",
    "known_objectives",
]
