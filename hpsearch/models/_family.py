"""The searchable CNN family: conv blocks, filters, kernels, activation, pooling, head, dense layers.

:func:`cnn_family` builds one point of the family described in
:mod:`hpsearch.catalog._architecture` (the knobs, their domains and the shape feasibility live
there, importable without TensorFlow). Its keyword arguments are the ``MODELS`` build context of
today's ``cifar_cnn`` plus one per architecture knob, so it can be registered as a catalog option.
At :data:`~hpsearch.catalog.CIFAR_CNN_PRESET` it is the classic CIFAR-10 CNN, ``model: cifar_cnn``
(:func:`cifar_cnn_preset`): the layer names and parameter counts it always had (tests/test_golden.py).

Layer names (checkpoint keys, so a study's checkpoints stay loadable): ``rescale``; per block
``b`` (from 1) ``conv{b}a``, ``conv{b}b``, ... with ``_bn`` and ``_<activation>`` companions,
``pool{b}``, ``dropout{b}``; then ``flatten`` or ``global_pool``; hidden dense layers ``dense``,
``dense2``, ... each followed by ``dropout{conv_blocks + i}``; the output layer ``classes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import ascii_lowercase
from typing import Any

import keras

from hpsearch._errors import UsageError
from hpsearch.catalog import ARCHITECTURE, BATCH_NORM_MODES, CIFAR_CNN_PRESET, architecture_problem, check_input_shape

__all__ = ["cnn_family", "cifar_cnn_preset", "filters_per_block", "hidden"]


def filters_per_block(base_filters: int, filter_growth: float, conv_blocks: int) -> list[int]:
    """Filters of each block: ``max(1, round(base_filters * filter_growth ** i))``."""
    return [max(1, round(base_filters * filter_growth**i)) for i in range(conv_blocks)]


def hidden(x: Any, layer: keras.layers.Layer, *, batch_norm: str, activation: str, name: str) -> Any:
    """``layer`` -> [BN] -> activation -> [BN], as ``batch_norm`` says; layers named after ``name``."""
    x = layer(x)
    if batch_norm == "before_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    if batch_norm == "after_activation":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def _conv_name(block: int, index: int) -> str:
    return f"conv{block}{ascii_lowercase[index]}" if index < len(ascii_lowercase) else f"conv{block}_{index + 1}"


def _check(knobs: Mapping[str, Any], input_shape: tuple[int, ...], batch_norm: str) -> None:
    for name, value in knobs.items():
        problem = ARCHITECTURE[name].problem(value)
        if problem:
            raise UsageError(f"Architecture knob {name}: {problem}.")
    if batch_norm not in BATCH_NORM_MODES:
        raise UsageError(f"batch_norm: expected one of {', '.join(BATCH_NORM_MODES)}, got {batch_norm!r}.")
    problem = architecture_problem(knobs, input_shape)
    if problem:
        raise UsageError(problem[0].upper() + problem[1:] + ".")


def cnn_family(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    initializer: str,
    regularizer: keras.regularizers.Regularizer | None,
    batch_norm: str,
    dropout: float,
    conv_blocks: int,
    base_filters: int,
    filter_growth: float,
    convs_per_block: int,
    kernel_size: int,
    padding: str,
    activation: str,
    pooling: str,
    head: str,
    dense_layers: int,
    dense_units: int,
    output_activation: str | None = "softmax",
    name: str = "cnn_family",
) -> keras.Model:
    """One point of the CNN family, uncompiled.

    Args:
        input_shape: images (H, W, C), no batch dimension.
        num_classes: units of the output layer.
        input_scale: factor of the ``Rescaling`` input layer (exported models take raw pixels).
        initializer, regularizer: of every kernel. batch_norm: one of ``BATCH_NORM_MODES``.
        dropout: rate after each block and each hidden dense layer.
        conv_blocks ... dense_units: the architecture knobs (:data:`~hpsearch.catalog.ARCHITECTURE`).
        output_activation: of the output layer (``None`` for raw values, as regression needs).

    Raises:
        UsageError: a knob outside its domain, or images too small for the blocks (one line).
    """
    knobs = {
        "conv_blocks": conv_blocks, "base_filters": base_filters, "filter_growth": filter_growth,
        "convs_per_block": convs_per_block, "kernel_size": kernel_size, "padding": padding,
        "activation": activation, "pooling": pooling, "head": head,
        "dense_layers": dense_layers, "dense_units": dense_units,
    }  # fmt: skip
    _check(knobs, input_shape, batch_norm)
    kernel: dict[str, Any] = {
        "kernel_initializer": initializer,
        "kernel_regularizer": regularizer,
        "use_bias": batch_norm != "before_activation",  # a bias right before batch norm is redundant
    }
    pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(input_scale, name="rescale")(inputs)
    for block, filters in enumerate(filters_per_block(base_filters, filter_growth, conv_blocks), start=1):
        for index in range(convs_per_block):
            pads = padding == "same" or (padding == "same_then_valid" and index == 0)
            layer_name = _conv_name(block, index)
            conv = keras.layers.Conv2D(filters, kernel_size, padding="same" if pads else "valid", name=layer_name, **kernel)
            x = hidden(x, conv, batch_norm=batch_norm, activation=activation, name=layer_name)
        x = pool(2, name=f"pool{block}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{block}")(x)
    if head == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    for index in range(1, dense_layers + 1):
        layer_name = "dense" if index == 1 else f"dense{index}"
        dense = keras.layers.Dense(dense_units, name=layer_name, **kernel)
        x = hidden(x, dense, batch_norm=batch_norm, activation=activation, name=layer_name)
        x = keras.layers.Dropout(dropout, name=f"dropout{conv_blocks + index}")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation=output_activation,
        kernel_initializer=initializer,
        kernel_regularizer=regularizer,
        name="classes",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def cifar_cnn_preset(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    initializer: str,
    regularizer: keras.regularizers.Regularizer | None,
    batch_norm: str,
    dropout: float,
) -> keras.Model:
    """The classic Keras CIFAR-10 CNN, uncompiled: the builder of :data:`~hpsearch.catalog.MODELS`
    ``cifar_cnn``, :func:`cnn_family` at :data:`~hpsearch.catalog.CIFAR_CNN_PRESET` named ``cifar_cnn``::

        Conv32-Conv32-MaxPool-Dropout-Conv64-Conv64-MaxPool-Dropout-Flatten-Dense512-Dropout-Dense(classes)

    Takes the ``MODELS`` build context (see :func:`cnn_family`).

    Raises:
        UsageError: images smaller than the entry's ``min_side`` (one line, naming the fix).
    """
    problem = check_input_shape("cifar_cnn", tuple(input_shape))
    if problem:
        raise UsageError(problem[0].upper() + problem[1:] + ".")
    return cnn_family(
        input_shape=input_shape, num_classes=num_classes, input_scale=input_scale, initializer=initializer,
        regularizer=regularizer, batch_norm=batch_norm, dropout=dropout, **CIFAR_CNN_PRESET, name="cifar_cnn",
    )  # fmt: skip
