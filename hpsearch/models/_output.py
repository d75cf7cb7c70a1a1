"""The output layer a task's head asks for (units and activation from :func:`hpsearch.tasks.head_for`)."""

from __future__ import annotations

from typing import Any

import keras

from hpsearch.tasks import Head

__all__ = ["output_layer"]


def output_layer(head: Head, *, initializer: str, regularizer: keras.regularizers.Regularizer | None, name: str = "outputs") -> keras.layers.Dense:
    """``Dense(head.units, head.activation)`` with the searched initializer and regularizer."""
    kwargs: dict[str, Any] = {"kernel_initializer": initializer, "kernel_regularizer": regularizer}
    return keras.layers.Dense(head.units, activation=head.activation, name=name, **kwargs)
