"""The model: builds and compiles the CNN from sampled params and the data's shape.

The only module that builds models. The architecture is the classic Keras CIFAR-10 CNN::

    Conv32-Conv32-MaxPool-Dropout-Conv64-Conv64-MaxPool-Dropout-Flatten-Dense512-Dropout-Dense(classes)

with the searched kernel initializer and regularizer on every kernel, batch norm before or after
each hidden activation (or none), and a ``Rescaling`` input layer so exported models take raw
pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpsearch._errors import UsageError
from hpsearch.catalog import MODELS, OPTIMIZERS, REGULARIZERS, check_input_shape
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate

__all__ = ["build_model", "build_optimizer", "build_regularizer", "cifar_cnn"]


def build_regularizer(params: Mapping[str, Any]) -> keras.regularizers.Regularizer | None:
    """The kernel regularizer ``params["regularizer"]`` names (``None`` for ``none``)."""
    name = params["regularizer"]
    return REGULARIZERS.build(name, REGULARIZERS.knob_values(name, params))


def build_optimizer(params: Mapping[str, Any], learning_rate: Any) -> keras.optimizers.Optimizer:
    """The optimizer ``params["optimizer"]`` names, at ``learning_rate`` (a rate or a schedule)."""
    name = params["optimizer"]
    return OPTIMIZERS.build(name, OPTIMIZERS.knob_values(name, params), learning_rate=learning_rate)


def _hidden(x: Any, layer: keras.layers.Layer, batch_norm: str, name: str) -> Any:
    """``layer`` -> [BN] -> ReLU -> [BN], as ``batch_norm`` says."""
    x = layer(x)
    if batch_norm == "before_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    if batch_norm == "after_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def cifar_cnn(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    initializer: str,
    regularizer: keras.regularizers.Regularizer | None,
    batch_norm: str,
    dropout: float,
) -> keras.Model:
    """The classic Keras CIFAR-10 CNN, uncompiled (the builder of :data:`hpsearch.catalog.MODELS` ``cifar_cnn``)."""
    layer_kwargs: dict[str, Any] = {
        "kernel_initializer": initializer,
        "kernel_regularizer": regularizer,
        # A bias right before batch norm is redundant (BN re-centres).
        "use_bias": batch_norm != "before_activation",
    }
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(input_scale, name="rescale")(inputs)
    for block, filters in enumerate((32, 64), start=1):
        x = _hidden(x, keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{block}a", **layer_kwargs), batch_norm, f"conv{block}a")
        x = _hidden(x, keras.layers.Conv2D(filters, 3, name=f"conv{block}b", **layer_kwargs), batch_norm, f"conv{block}b")
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = _hidden(x, keras.layers.Dense(512, name="dense", **layer_kwargs), batch_norm, "dense")
    x = keras.layers.Dropout(dropout, name="dropout3")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=initializer,
        kernel_regularizer=regularizer,
        name="classes",
    )(x)
    return keras.Model(inputs, outputs, name="cifar_cnn")


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
