"""The MLP family for tables (the builder of :data:`hpsearch.catalog.TABLE_MODELS` ``mlp``)::

    Input -> [Flatten] -> [Rescaling] -> (Dense -> [BN] -> activation -> [BN] -> [Dropout]) x layers -> output

Every hidden layer has ``units`` units; the kernel initializer and regularizer are the searched
ones, batch norm sits before or after each hidden activation (or nowhere), as for the CNN, and
the output layer follows the task's head. Deep Learning with Python's house-price network is the
default: two layers of 64 relu units, no dropout.
"""

from __future__ import annotations

from typing import Any

import keras

from hpsearch._errors import UsageError
from hpsearch.catalog import BATCH_NORM_MODES
from hpsearch.catalog._mlp import ACTIVATIONS
from hpsearch.models._output import output_layer
from hpsearch.tasks import Head

__all__ = ["mlp"]


def _check(layers: int, units: int, activation: str, batch_norm: str, dropout: float) -> None:
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        raise UsageError(f"mlp layers must be a whole number >= 1, not {layers!r}.")
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise UsageError(f"mlp units must be a whole number >= 1, not {units!r}.")
    if activation not in ACTIVATIONS:
        raise UsageError(f"mlp activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}.")
    if batch_norm not in BATCH_NORM_MODES:
        raise UsageError(f"batch_norm must be one of {', '.join(BATCH_NORM_MODES)}, not {batch_norm!r}.")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must be in [0, 1), not {dropout!r}.")


def _hidden(x: Any, index: int, *, units: int, activation: str, batch_norm: str, dropout: float, **dense: Any) -> Any:
    name = f"dense{index}"
    # A bias right before batch norm is redundant (BN re-centres).
    x = keras.layers.Dense(units, use_bias=batch_norm != "before_activation", name=name, **dense)(x)
    if batch_norm == "before_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    if batch_norm == "after_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def mlp(
    *,
    input_shape: tuple[int, ...],
    head: Head,
    input_scale: float,
    initializer: str,
    regularizer: keras.regularizers.Regularizer | None,
    batch_norm: str,
    dropout: float,
    layers: int,
    units: int,
    activation: str,
) -> keras.Model:
    """An uncompiled MLP from ``input_shape`` (features; images are flattened) to ``head``'s outputs."""
    _check(layers, units, activation, batch_norm, float(dropout))
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    if input_scale != 1.0:
        x = keras.layers.Rescaling(input_scale, name="rescale")(x)
    dense = {"kernel_initializer": initializer, "kernel_regularizer": regularizer}
    for index in range(1, layers + 1):
        x = _hidden(x, index, units=units, activation=activation, batch_norm=batch_norm, dropout=float(dropout), **dense)
    outputs = output_layer(head, initializer=initializer, regularizer=regularizer)(x)
    return keras.Model(inputs, outputs, name="mlp")
