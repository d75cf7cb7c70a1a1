"""A trial's model from its params: the study's model family with the task's output layer,
augmentation in front when the search space asks for it, compiled for the task.

The family is a :data:`~hpsearch.catalog.MODELS` entry (images) or a
:data:`~hpsearch.catalog.TABLE_MODELS` entry (the MLP: its ``mlp.*`` params); both get the
shared roles (initializer, regularizer, batch norm, dropout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from hpsearch.catalog import AUGMENTATION_KNOBS, MODELS, TABLE_MODELS, param_name
from hpsearch.models._augment import build_augmentation, with_augmentation
from hpsearch.models._cnn import build_optimizer, build_regularizer
from hpsearch.models._compile import compile_for_task, fit_head
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate
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


def _body(model: str, params: Mapping[str, Any], head: Head, input_shape: tuple[int, ...], input_scale: float) -> keras.Model:
    shared = {
        "input_shape": tuple(input_shape),
        "input_scale": input_scale,
        "initializer": params["initializer"],
        "regularizer": build_regularizer(params),
        "batch_norm": params["batch_norm"],
        "dropout": float(params["dropout"]),
    }
    if model in TABLE_MODELS:
        knobs = {k: params[param_name(model, k)] for k in TABLE_MODELS[model] if param_name(model, k) in params}
        return TABLE_MODELS.build(model, knobs, head=head, **shared)
    net = MODELS.build(model, num_classes=max(head.task.num_classes, 2), **shared)
    return fit_head(net, head, initializer=params["initializer"], regularizer=build_regularizer(params))


def build_trial_model(
    params: Mapping[str, Any],
    *,
    model: str,
    head: Head,
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
    net = _body(model, params, head, input_shape, input_scale)
    if output_bias is not None:
        last = net.layers[-1]
        if isinstance(last, keras.layers.Dense) and last.use_bias and last.units == len(output_bias):
            last.bias.assign(np.asarray(output_bias, dtype=last.bias.dtype))
    settings = augmentation_settings(params)
    if settings:
        value_range = (0.0, 255.0) if input_scale != 1.0 else (0.0, 1.0)
        net = with_augmentation(net, build_augmentation(settings, seed=seed, value_range=value_range))
    plan = build_learning_rate(params, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    compile_for_task(net, head, loss_knobs=loss_knobs, metrics=metrics, optimizer=build_optimizer(params, plan.learning_rate))
    return net, plan
