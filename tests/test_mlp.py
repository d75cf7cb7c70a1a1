"""The MLP family for tables: its catalog entry, its layers, the head that follows the task."""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np
import pytest

from hpsearch._errors import UsageError
from hpsearch.catalog import MLP, REGULARIZERS, TABLE_MODELS
from hpsearch.tasks import Task, build_loss, build_metrics, encode_labels, head_for

SHARED = {"input_scale": 1.0, "initializer": "glorot_uniform", "regularizer": None, "batch_norm": "none", "dropout": 0.0}


def _mlp(knobs: dict[str, Any] | None = None, *, task: Task = Task("regression"), **shared: Any) -> keras.Model:
    context = {**SHARED, "input_shape": (5,), "head": head_for(task), **shared}
    return TABLE_MODELS.build("mlp", knobs or {}, **context)


def _kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_the_builder_takes_exactly_the_declared_knobs_and_context() -> None:
    parameters = set(inspect.signature(TABLE_MODELS.builder("mlp")).parameters)  # type: ignore[arg-type]
    assert parameters == set(MLP.knobs) | set(TABLE_MODELS.context)


def test_the_defaults_are_the_house_price_network() -> None:
    model = _mlp()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.name) for d in dense] == [(64, "dense1"), (64, "dense2"), (1, "outputs")]
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Activation)] == ["dense1_relu", "dense2_relu"]
    assert dense[-1].get_config()["activation"] == "linear"
    assert model.input_shape == (None, 5) and model.output_shape == (None, 1)


def test_layers_units_activation_dropout_and_batch_norm_are_applied() -> None:
    model = _mlp({"layers": 3, "units": 8, "activation": "tanh"}, dropout=0.3, batch_norm="before_activation")
    assert _kinds(model) == ["InputLayer"] + ["Dense", "BatchNormalization", "Activation", "Dropout"] * 3 + ["Dense"]
    assert all(not layer.use_bias for layer in model.layers[1:-1] if isinstance(layer, keras.layers.Dense))
    assert {layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)} == {0.3}
    assert {layer.get_config()["activation"] for layer in model.layers if isinstance(layer, keras.layers.Activation)} == {"tanh"}
    after = _mlp({"layers": 1}, batch_norm="after_activation")
    assert _kinds(after) == ["InputLayer", "Dense", "Activation", "BatchNormalization", "Dense"]


def test_initializer_and_regularizer_reach_every_kernel() -> None:
    model = _mlp(initializer="he_normal", regularizer=REGULARIZERS.build("l2", {"l2": 0.01}))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert {type(d.kernel_initializer).__name__ for d in dense} == {"HeNormal"}
    assert all(isinstance(d.kernel_regularizer, keras.regularizers.L2) for d in dense)
    model(np.zeros((1, 5), np.float32))
    assert len(model.losses) == len(dense)


@pytest.mark.parametrize(
    ("task", "loss", "units", "activation"),
    [
        (Task("classification", 2), None, 1, "sigmoid"),
        (Task("classification", 4), None, 4, "softmax"),
        (Task("classification", 4), "hinge", 4, "linear"),
        (Task("regression", outputs=3), "mae", 3, "linear"),
    ],
)
def test_the_output_layer_follows_the_task(task: Task, loss: str | None, units: int, activation: str) -> None:
    model = TABLE_MODELS.build("mlp", {"layers": 1, "units": 4}, **{**SHARED, "input_shape": (5,), "head": head_for(task, loss)})
    out = model.get_layer("outputs")
    assert (out.units, out.get_config()["activation"]) == (units, activation)


def test_images_are_flattened_and_rescaled() -> None:
    model = _mlp({"layers": 1, "units": 4}, input_shape=(6, 6, 1), input_scale=1 / 255)
    assert _kinds(model)[:3] == ["InputLayer", "Flatten", "Rescaling"]


@pytest.mark.parametrize(
    ("knobs", "shared", "message"),
    [
        ({"layers": 0}, {}, "mlp layers must be a whole number >= 1, not 0."),
        ({"activation": "sigmod"}, {}, "mlp activation must be one of relu, elu, selu, gelu, tanh, swish, not 'sigmod'."),
        ({}, {"batch_norm": "before"}, "batch_norm must be one of none, before_activation, after_activation, not 'before'."),
        ({"width": 3}, {}, "model 'mlp' has no option 'width'; its options are: layers, units, activation."),
    ],
)
def test_bad_settings_are_one_line_errors(knobs: dict[str, Any], shared: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as error:
        _mlp(knobs, **shared)
    assert str(error.value) == message


def test_it_learns_a_table_regression() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.5 * np.sin(3 * x[:, 0])).astype(np.float32)
    head = head_for(Task("regression"))
    model = _mlp({"layers": 2, "units": 32})
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=build_loss(head), metrics=build_metrics(["mae"], head))
    labels = encode_labels(y, head)
    before = model.evaluate(x, labels, verbose=0, return_dict=True)["mae"]
    model.fit(x, labels, epochs=30, batch_size=32, verbose=0)
    after = model.evaluate(x, labels, verbose=0, return_dict=True)["mae"]
    assert after < 0.25 * before and after < 0.5
