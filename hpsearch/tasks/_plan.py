"""A study's task, settled from its data before any trial is written: :func:`settle` fills what
the study file left to the data (the model, the objective) and checks the rest against the task
(losses, metrics, objective); :class:`TaskPlan` is what a trial compiles with.

Defaults that keep today's image studies exactly as they were: an image study's default loss is
``sparse_categorical_crossentropy`` with a softmax over every class, *two classes included* (the
2-way softmax of hpsearch's first studies: their checkpoints, curves and test metrics stay
comparable); tables and arrays of features get :func:`~hpsearch.tasks.default_loss` (one sigmoid
for two classes). ``loss: binary_crossentropy`` gives an image study the single sigmoid.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.catalog import LOSSES, MODELS, TABLE_MODELS, check_input_shape, param_name
from hpsearch.config import StudyConfig
from hpsearch.tasks._build import metrics_for
from hpsearch.tasks._head import Head, default_loss, head_for
from hpsearch.tasks._objective import metric_base
from hpsearch.tasks._task import Task, task_of

if TYPE_CHECKING:
    from hpsearch.data._types import Dataset

__all__ = ["TaskPlan", "plan_for", "settle", "DEFAULT_METRICS"]

#: What a study compiles when its file lists no ``metrics``.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {"classification": ("accuracy",), "regression": ("mae",)}

_WHAT = {"csv": "this CSV", "npz": "this .npz", "folder": "this folder"}


@dataclass(frozen=True)
class TaskPlan:
    """What every trial of a study compiles: the task, the default loss, the metrics."""

    task: Task
    images: bool  #: inputs are images (H, W, C)
    default_loss: str  #: the loss when the search space has no ``loss`` role
    metrics: tuple[str, ...]  #: names, as logged (``mae``, ``val_mae``)
    metric_knobs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  #: ``{"top_k_accuracy": {"k": 3}}``
    #: Regression: the training targets' mean per output, the output layer's starting bias (a
    #: network then starts from the mean instead of 0: targets in the hundreds are reached in the
    #: first epochs, not after many). ``None`` for classification.
    target_mean: tuple[float, ...] | None = None

    @property
    def compiled(self) -> dict[str, Mapping[str, Any]]:
        """The metrics as :func:`~hpsearch.tasks.build_metrics` takes them: name -> knob values."""
        return {name: self.metric_knobs.get(name, {}) for name in self.metrics}

    def loss_of(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The loss of a trial's params and its knob values (``label_smoothing``, ``delta``)."""
        name = params.get("loss") or self.default_loss
        knobs = {knob: params[param_name(name, knob)] for knob in LOSSES[name] if param_name(name, knob) in params}
        return name, knobs

    def head(self, params: Mapping[str, Any]) -> Head:
        return head_for(self.task, self.loss_of(params)[0])


def _images(dataset: Dataset) -> bool:
    return len(dataset.input_shape) == 3


def plan_for(config: StudyConfig, dataset: Dataset) -> TaskPlan:
    """The plan of a settled config (see :func:`settle`) on its data."""
    task = task_of(dataset, dataset.task)
    images = _images(dataset)
    loss = "sparse_categorical_crossentropy" if images and task.kind == "classification" else default_loss(task)
    entries = config.metrics or DEFAULT_METRICS[task.kind]
    names = tuple(e if isinstance(e, str) else next(iter(e)) for e in entries)
    knobs = {name: dict(opts) for e in entries if not isinstance(e, str) for name, opts in e.items()}
    mean = None
    if task.kind == "regression":
        y = np.asarray(dataset.train.y, np.float64).reshape(len(dataset.train.y), -1)
        mean = tuple(float(v) for v in y.mean(axis=0))
    return TaskPlan(task=task, images=images, default_loss=loss, metrics=names, metric_knobs=knobs, target_mean=mean)


def settle(config: StudyConfig, dataset: Dataset) -> StudyConfig:
    """``config`` with what it left to the data filled in, checked against the task.

    An unset ``model`` is the MLP for rows of features; an unset ``objective`` is ``val_loss`` for
    regression (``val_accuracy`` stays the classification default).

    Raises:
        UsageError: a model that cannot take the data, a loss or metric of another task, an
            objective the model does not log -- one line each, before anything is written.
    """
    explicit = config.model_fields_set
    changes: dict[str, Any] = {}
    if "model" not in explicit and len(dataset.input_shape) == 1:
        changes["model"] = "mlp"
    task = task_of(dataset, dataset.task)
    if "objective" not in explicit and task.kind == "regression":
        changes["objective"] = {"metric": "val_loss"}
    if changes:
        config = config.with_overrides(**changes)
    _check(config, dataset, plan_for(config, dataset))
    return config


def _check(config: StudyConfig, dataset: Dataset, plan: TaskPlan) -> None:
    where = config.source
    kind = plan.task.kind
    if config.model in MODELS:
        problem = check_input_shape(config.model, dataset.input_shape, _WHAT.get(str((dataset.source or {}).get("kind")), "this data"))
        if problem:  # examples that are not images: a table model takes them
            other = f"; or use model: {', '.join(TABLE_MODELS)}" if len(dataset.input_shape) != 3 else ""
            raise UsageError(f"{dataset.name}: {problem}{other}.")
    space_loss = config.search_space.loss
    for name in space_loss.names if space_loss is not None else (plan.default_loss,):
        try:
            head_for(plan.task, name)
        except UsageError as e:
            raise UsageError(f"{where}: search_space.loss: {str(e)[0].lower()}{str(e)[1:]}") from None
    fit = metrics_for(kind)
    for name in plan.metrics:
        if name not in fit:
            raise UsageError(f"{where}: metrics: {name} is not a {kind} metric ({dataset.name} is {kind}); use {', '.join(fit)}.")
    if "top_k_accuracy" in plan.metrics:
        k = int(plan.compiled["top_k_accuracy"].get("k", 5))
        if k >= plan.task.num_classes:
            raise UsageError(
                f"{where}: metrics: top_k_accuracy (k={k}) needs more than {k} classes; {dataset.name} has "
                f"{plan.task.num_classes}: use {{top_k_accuracy: {{k: {max(plan.task.num_classes - 1, 1)}}}}} or fewer."
            )
    for i, objective in enumerate(config.all_objectives()):
        metric = objective.metric
        if objective.measured or metric_base(metric) == "loss" or metric_base(metric) in plan.metrics:
            continue
        logged = ", ".join(f"{p}{m}" for p in ("val_", "") for m in ("loss", *plan.metrics))
        key = f"objectives.{i}" if config.multi_objective else "objective.metric"
        raise UsageError(f"{where}: {key}: {metric} is not logged by this {kind} study (it logs {logged}); add {metric_base(metric)} to metrics:, or pick one of those.")
