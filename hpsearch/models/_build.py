"""A trial's model from its params: the study's ``model:`` -- a catalog family or your builder -- then compiled.

:class:`ModelFactory` is made once per process for a study. For ``model: file.py:function`` it
imports the builder's file then, so that the custom layers the file registers with
``@keras.saving.register_keras_serializable()`` are known before any checkpoint is loaded (resume,
the best model's test evaluation, export). :meth:`ModelFactory.build` builds one point, uncompiled
(or compiled, if your builder returned it so); :func:`compile_model` compiles what is not.

The compile step is one small function (optimizer and learning-rate plan from the params; the loss
and metrics of today's classification studies), so that the task engine's compile can replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from hpsearch.catalog import MODELS, check_input_shape, param_name
from hpsearch.config import StudyConfig
from hpsearch.models._cnn import build_optimizer, build_regularizer
from hpsearch.models._hp import Hyperparameters
from hpsearch.models._schedules import LearningRatePlan, build_learning_rate
from hpsearch.models._user import Builder, is_compiled, load_builder

__all__ = ["DataSpec", "ModelFactory", "hp_values", "compile_model", "build_trial_model"]

_USER_ROLE = "model"


@dataclass(frozen=True)
class DataSpec:
    """What the data says about the model: one example's shape, the output units and activation,
    and the factor that brings raw inputs to the model's scale."""

    input_shape: tuple[int, ...]
    num_outputs: int
    input_scale: float = 1.0
    output_activation: str | None = "softmax"

    @classmethod
    def of(cls, dataset: Any) -> DataSpec:
        """From a loaded :class:`~hpsearch.data.Dataset`: class probabilities for classification,
        raw values (one per target column) for regression."""
        if dataset.task == "classification":
            return cls(tuple(dataset.input_shape), int(dataset.num_classes), float(dataset.input_scale), "softmax")
        y = np.asarray(dataset.train.y)
        return cls(tuple(dataset.input_shape), 1 if y.ndim == 1 else int(y.shape[1]), float(dataset.input_scale), None)


def hp_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params as ``hp`` gives them: your knobs (``model.width``) by their own name (``width``),
    every other param as it is (``learning_rate``, ``sgd.momentum``)."""
    prefix = _USER_ROLE + "."
    return {name.removeprefix(prefix): value for name, value in params.items()}


class ModelFactory:
    """Builds the study's model from a trial's params.

    Args:
        config: the study; its ``model`` is a :data:`~hpsearch.catalog.MODELS` name or a builder
            reference (resolved from ``config.model_dir``).

    Raises:
        UsageError: the builder cannot be imported, is missing or takes other parameters (one line).
    """

    def __init__(self, config: StudyConfig) -> None:
        self.model = config.model
        self.ref = config.builder_ref()
        self.builder: Builder | None = load_builder(self.ref) if self.ref is not None else None

    def hp(self, params: Mapping[str, Any], data: DataSpec) -> Hyperparameters:
        """What a builder you write receives for ``params``."""
        return Hyperparameters(
            hp_values(params),
            input_shape=data.input_shape,
            num_outputs=data.num_outputs,
            input_scale=data.input_scale,
            output_activation=data.output_activation,
        )

    def build(self, params: Mapping[str, Any], data: DataSpec) -> keras.Model:
        """One point of the model, as its builder returns it (uncompiled, or compiled by your builder)."""
        if self.builder is not None:
            model = self.builder(self.hp(params, data))
            if not isinstance(model, keras.Model):
                raise TypeError(f"{self.model} returned {type(model).__name__}, not a keras.Model")
            return model
        return self._catalog_model(params, data)

    def _catalog_model(self, params: Mapping[str, Any], data: DataSpec) -> keras.Model:
        problem = check_input_shape(self.model, data.input_shape)
        if problem:
            raise ValueError(problem[0].upper() + problem[1:])
        if data.output_activation == "softmax" and data.num_outputs < 2:
            raise ValueError(f"`num_classes >= 2` must hold, but got (num_classes={data.num_outputs}).")
        option = MODELS.option(self.model)
        role = getattr(option, "role", "")
        knobs = {knob: params[param_name(role, knob)] for knob in option.knobs if param_name(role, knob) in params}
        return MODELS.build(
            self.model,
            knobs,
            input_shape=data.input_shape,
            num_classes=data.num_outputs,
            input_scale=data.input_scale,
            initializer=params["initializer"],
            regularizer=build_regularizer(params),
            batch_norm=params["batch_norm"],
            dropout=float(params["dropout"]),
        )


def compile_model(model: keras.Model, params: Mapping[str, Any], plan: LearningRatePlan) -> keras.Model:
    """Compile ``model`` with the searched optimizer at ``plan``'s learning rate, the sparse
    categorical cross-entropy and accuracy; a model your builder compiled is left as it is."""
    if is_compiled(model):
        return model
    model.compile(
        optimizer=build_optimizer(params, plan.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_trial_model(
    factory: ModelFactory, params: Mapping[str, Any], data: DataSpec, *, steps_per_epoch: int, max_epochs: int
) -> tuple[keras.Model, LearningRatePlan]:
    """The trial's compiled model and its learning-rate plan."""
    plan = build_learning_rate(params, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    return compile_model(factory.build(params, data), params, plan), plan
