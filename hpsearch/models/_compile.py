"""Compiling a model for its task: the task's loss (with its knobs) and metrics, the searched
optimizer. The one place a trial's model is compiled, whichever builder made it.

Importing this module registers hpsearch's own metrics and losses with Keras, so checkpoints
compiled with them reload (safe mode included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

import hpsearch.tasks._losses  # noqa: F401 - registers Huber (keeps delta when saved)
import hpsearch.tasks._metrics  # noqa: F401 - registers the metric classes for reloading
from hpsearch.models._output import output_layer
from hpsearch.tasks import Head, build_loss, build_metrics

__all__ = ["compile_for_task", "fit_head", "targets_of"]


def compile_for_task(
    model: keras.Model,
    head: Head,
    *,
    loss_knobs: Mapping[str, Any] | None,
    metrics: Sequence[str] | Mapping[str, Mapping[str, Any]],
    optimizer: keras.optimizers.Optimizer,
) -> keras.Model:
    """Compile ``model`` with ``head``'s loss (``loss_knobs``: ``label_smoothing``, ``delta``),
    the ``metrics`` (catalog names, or name -> knob values such as ``{"top_k_accuracy": {"k": 3}}``;
    logged as ``<m>`` and ``val_<m>``) and ``optimizer``."""
    chosen = metrics if isinstance(metrics, Mapping) else list(metrics)
    model.compile(optimizer=optimizer, loss=build_loss(head, loss_knobs), metrics=build_metrics(chosen, head))
    return model


def _matches(layer: keras.layers.Layer, head: Head) -> bool:
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    return isinstance(layer, keras.layers.Dense) and layer.units == head.units and activation == head.activation


def fit_head(model: keras.Model, head: Head, *, initializer: str, regularizer: Any) -> keras.Model:
    """``model`` with an output layer ``head`` asks for: itself when its last layer is already
    ``Dense(head.units, head.activation)``; else the same body with a new ``outputs`` layer (e.g.
    one sigmoid unit, or linear margins for a hinge loss, after a softmax classifier)."""
    last = model.layers[-1]
    if _matches(last, head):
        return model
    body = last.input
    return keras.Model(model.inputs, output_layer(head, initializer=initializer, regularizer=regularizer)(body), name=model.name)


def targets_of(model: keras.Model) -> tuple[str, int] | None:
    """``(labels, units)``: how the targets of a compiled model's loss are encoded (see
    :data:`hpsearch.catalog._tasks.LABEL_ENCODINGS`), read from the model itself -- a reloaded
    checkpoint is evaluated on the targets it was trained on. ``None``: class ids (a model
    compiled before losses were searched, or with a loss the catalog does not know)."""
    from hpsearch.catalog import LOSSES, LossOption

    loss = getattr(model, "loss", None)
    units = int(model.output_shape[-1])
    for name in LOSSES:
        option = LOSSES.option(name)
        assert isinstance(option, LossOption)
        build = option.build if isinstance(option.build, str) else ""
        if loss == name or type(loss).__name__ == build.rpartition(":")[2]:
            return (option.labels, units)
    return None
