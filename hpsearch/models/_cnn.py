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

from hpsearch.space import _catalog as _catalog
from hpsearch._errors import UsageError
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate

__all__ = ["build_model", "build_optimizer", "build_regularizer", "check_input_shape"]

def check_input_shape(input_shape: tuple[int, ...]) -> None:
    """Raise :class:`UsageError` if images of ``input_shape`` (H, W, C) cannot feed the CNN."""
    problem = _catalog.check_input_shape("cifar_cnn", input_shape)
    if problem:
        raise UsageError(problem[0].upper() + problem[1:] + ".")


def build_regularizer(params: Mapping[str, Any]) -> keras.regularizers.Regularizer | None:
    name = params["regularizer"]
    if name == "none":
        return None
    if name == "l1":
        return keras.regularizers.L1(params["l1.l1"])
    if name == "l2":
        return keras.regularizers.L2(params["l2.l2"])
    if name == "l1_l2":
        return keras.regularizers.L1L2(l1=params["l1_l2.l1"], l2=params["l1_l2.l2"])
    raise ValueError(f"Unknown regularizer {name!r}.")


def build_optimizer(params: Mapping[str, Any], learning_rate: Any) -> keras.optimizers.Optimizer:
    name = params["optimizer"]
    opt = keras.optimizers
    if name == "sgd":
        return opt.SGD(learning_rate, momentum=params["sgd.momentum"], nesterov=params["sgd.nesterov"])
    if name == "adam":
        return opt.Adam(learning_rate, beta_1=params["adam.beta_1"], beta_2=params["adam.beta_2"])
    if name == "rmsprop":
        return opt.RMSprop(learning_rate, rho=params["rmsprop.rho"], momentum=params["rmsprop.momentum"])
    if name == "nadam":
        return opt.Nadam(learning_rate, beta_1=params["nadam.beta_1"], beta_2=params["nadam.beta_2"])
    if name == "adagrad":
        return opt.Adagrad(learning_rate, initial_accumulator_value=params["adagrad.initial_accumulator_value"])
    if name == "adadelta":
        return opt.Adadelta(learning_rate, rho=params["adadelta.rho"])
    raise ValueError(f"Unknown optimizer {name!r}.")


def _hidden(x: Any, layer: keras.layers.Layer, batch_norm: str, name: str) -> Any:
    """``layer`` -> [BN] -> ReLU -> [BN], as ``batch_norm`` says."""
    x = layer(x)
    if batch_norm == "before_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    if batch_norm == "after_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def build_model(
    params: Mapping[str, Any],
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    steps_per_epoch: int,
    max_epochs: int,
) -> tuple[keras.Model, LearningRatePlan]:
    """Build and compile the CNN. Returns the model and its learning-rate plan."""
    check_input_shape(input_shape)
    if num_classes < 2:
        raise ValueError(f"`num_classes >= 2` must hold, but got ({num_classes=}).")
    bn = params["batch_norm"]
    layer_kwargs: dict[str, Any] = {
        "kernel_initializer": params["initializer"],
        "kernel_regularizer": build_regularizer(params),
        # A bias right before batch norm is redundant (BN re-centres).
        "use_bias": bn != "before_activation",
    }
    dropout = float(params["dropout"])

    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(input_scale, name="rescale")(inputs)
    for block, filters in enumerate((32, 64), start=1):
        x = _hidden(x, keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{block}a", **layer_kwargs), bn, f"conv{block}a")
        x = _hidden(x, keras.layers.Conv2D(filters, 3, name=f"conv{block}b", **layer_kwargs), bn, f"conv{block}b")
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = _hidden(x, keras.layers.Dense(512, name="dense", **layer_kwargs), bn, "dense")
    x = keras.layers.Dropout(dropout, name="dropout3")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=params["initializer"],
        kernel_regularizer=layer_kwargs["kernel_regularizer"],
        name="classes",
    )(x)
    model = keras.Model(inputs, outputs, name="cifar_cnn")

    plan = build_learning_rate(params, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    model.compile(
        optimizer=build_optimizer(params, plan.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model, plan
