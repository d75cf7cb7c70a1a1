"""The searched optimizer and regularizer, and :func:`build_model`: a catalog CNN compiled for classification.

:func:`build_model` builds a :data:`~hpsearch.catalog.MODELS` family (``cifar_cnn``, the classic
Keras CIFAR-10 CNN, is the CNN family's preset: :func:`hpsearch.models._family.cifar_cnn_preset`)
with the searched kernel initializer and regularizer on every kernel, batch norm before or after
each hidden activation (or none), and a ``Rescaling`` input layer so exported models take raw
pixels; then compiles it with the searched optimizer and learning-rate plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpsearch._errors import UsageError
from hpsearch.catalog import MODELS, OPTIMIZERS, REGULARIZERS, check_input_shape
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate

__all__ = ["build_model", "build_optimizer", "build_regularizer"]


def build_regularizer(params: Mapping[str, Any]) -> keras.regularizers.Regularizer | None:
    """The kernel regularizer ``params["regularizer"]`` names (``None`` for ``none``)."""
    name = params["regularizer"]
    return REGULARIZERS.build(name, REGULARIZERS.knob_values(name, params))


def build_optimizer(params: Mapping[str, Any], learning_rate: Any) -> keras.optimizers.Optimizer:
    """The optimizer ``params["optimizer"]`` names, at ``learning_rate`` (a rate or a schedule)."""
    name = params["optimizer"]
    return OPTIMIZERS.build(name, OPTIMIZERS.knob_values(name, params), learning_rate=learning_rate)


def build_model(
    params: Mapping[str, Any],
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    steps_per_epoch: int,
    max_epochs: int,
    model: str = "cifar_cnn",
) -> tuple[keras.Model, LearningRatePlan]:
    """Build and compile the ``model`` family from ``params``. Returns the model and its learning-rate plan."""
    problem = check_input_shape(model, input_shape)
    if problem:
        raise UsageError(problem[0].upper() + problem[1:] + ".")
    if num_classes < 2:
        raise ValueError(f"`num_classes >= 2` must hold, but got ({num_classes=}).")
    net = MODELS.build(
        model,
        input_shape=input_shape,
        num_classes=num_classes,
        input_scale=input_scale,
        initializer=params["initializer"],
        regularizer=build_regularizer(params),
        batch_norm=params["batch_norm"],
        dropout=float(params["dropout"]),
    )
    plan = build_learning_rate(params, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    net.compile(
        optimizer=build_optimizer(params, plan.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return net, plan
