"""A trial's model from its params: the study's model with the task's output layer,
augmentation in front when the search space asks for it, compiled for the task.

The model is a :data:`~hpsearch.catalog.TABLE_MODELS` entry (the MLP: its ``mlp.*`` params), or
whatever the study's :class:`~hpsearch.models._build.ModelFactory` builds (a
:data:`~hpsearch.catalog.MODELS` family, or your builder); the shared roles (initializer,
regularizer, batch norm, dropout) apply to the catalog's. This is the task engine's side of
:func:`hpsearch.models._build.build_trial_model`: the loss and metrics are the task's
(:func:`~hpsearch.models._compile.compile_for_task`), not always sparse cross-entropy and accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from hpsearch.catalog import AUGMENTATION_KNOBS, TABLE_MODELS, param_name
from hpsearch.models._augment import build_augmentation, with_augmentation
from hpsearch.models._build import DataSpec, ModelFactory
from hpsearch.models._cnn import build_optimizer, build_regularizer
from hpsearch.models._compile import compile_for_task, fit_head
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate
from hpsearch.models._user import is_compiled
from hpsearch.tasks import Head

__all__ = ["build_trial_model", "augmentation_settings"]


def augmentation_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``augmentation.*`` params as :func:`build_augmentation` settings (off ones left out)."""
    settings: dict[str, Any] = {}
    for name, knob in AUGMENTATION_KNOBS.items():
        value = params.get(param_name("augmentation", name))
        if knob.kind is bool and value:
            settings[name] = True
        elif knob.kind is float and value:
            settings[name] = {"factor": float(value)}
    return settings


def _body(model: str, params: Mapping[str, Any], head: Head, input_shape: tuple[int, ...], input_scale: float, factory: ModelFactory | None) -> keras.Model:
    """The model of ``params`` ending in ``head``'s output layer: the MLP of a table, else the
    study's ``model:`` through its :class:`~hpsearch.models._build.ModelFactory` (a catalog family
    is re-headed when its output is not what the loss needs; your builder is told the units and
    activation through ``hp`` and used as it returns)."""
    if model in TABLE_MODELS:
        shared = {
            "input_shape": tuple(input_shape),
            "input_scale": input_scale,
            "initializer": params["initializer"],
            "regularizer": build_regularizer(params),
            "batch_norm": params["batch_norm"],
            "dropout": float(params["dropout"]),
        }
        knobs = {k: params[param_name(model, k)] for k in TABLE_MODELS[model] if param_name(model, k) in params}
        return TABLE_MODELS.build(model, knobs, head=head, **shared)
    factory = factory if factory is not None and factory.model == model else _catalog_factory(model)
    activation = None if head.activation == "linear" else head.activation
    net = factory.build(params, DataSpec(tuple(input_shape), max(head.units, 2) if activation == "softmax" else head.units, input_scale, activation))
    if factory.builder is not None:
        return net
    return fit_head(net, head, initializer=params["initializer"], regularizer=build_regularizer(params))


def _catalog_factory(model: str) -> ModelFactory:
    """A factory for a catalog family outside a study (tests, scripts)."""
    factory = ModelFactory.__new__(ModelFactory)
    factory.model, factory.ref, factory.builder = model, None, None
    return factory


def build_trial_model(
    params: Mapping[str, Any],
    *,
    model: str,
    head: Head,
    factory: ModelFactory | None = None,
    loss_knobs: Mapping[str, Any] | None,
    metrics: Sequence[str] | Mapping[str, Mapping[str, Any]],
    input_shape: tuple[int, ...],
    input_scale: float,
    steps_per_epoch: int,
    max_epochs: int,
    seed: int,
    output_bias: Sequence[float] | None = None,
) -> tuple[keras.Model, LearningRatePlan]:
    """Build and compile a trial's model. Returns it and its learning-rate plan.

    ``output_bias`` (regression: the training targets' mean) starts the output layer there."""
    net = _body(model, params, head, input_shape, input_scale, factory)
    if output_bias is not None:
        last = net.layers[-1]
        if isinstance(last, keras.layers.Dense) and last.use_bias and last.units == len(output_bias):
            last.bias.assign(np.asarray(output_bias, dtype=last.bias.dtype))
    settings = augmentation_settings(params)
    if settings:
        value_range = (0.0, 255.0) if input_scale != 1.0 else (0.0, 1.0)
        net = with_augmentation(net, build_augmentation(settings, seed=seed, value_range=value_range))
    plan = build_learning_rate(params, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    if not is_compiled(net):  # a model your builder compiled is used as it is
        compile_for_task(net, head, loss_knobs=loss_knobs, metrics=metrics, optimizer=build_optimizer(params, plan.learning_rate))
    return net, plan
