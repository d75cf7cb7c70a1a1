"""The searchable CNN family: its knobs, the cifar_cnn preset, and shape feasibility."""

from __future__ import annotations

import inspect
import math
from typing import Any

import keras
import numpy as np
import pytest

from hpsearch._errors import UsageError
from hpsearch.catalog import ARCHITECTURE, CIFAR_CNN_PRESET, MODELS, architecture_problem, space_problem
from hpsearch.catalog._architecture import ACTIVATIONS, feature_map_sides, worst_case
from hpsearch.models._family import cifar_cnn_preset, cnn_family, filters_per_block

#: Layer names and parameter counts of cifar_cnn, as tests/test_golden.py locks them.
GOLDEN_COUNTS = {"none": 1250858, "before_activation": 1252970, "after_activation": 1253674}

TINY = {**CIFAR_CNN_PRESET, "conv_blocks": 1, "base_filters": 4, "dense_units": 8}


def _context(batch_norm: str = "none", input_shape: tuple[int, ...] = (8, 8, 3)) -> dict[str, Any]:
    return {
        "input_shape": input_shape,
        "num_classes": 3,
        "input_scale": 1 / 255,
        "initializer": "he_normal",
        "regularizer": keras.regularizers.L2(1e-4),
        "batch_norm": batch_norm,
        "dropout": 0.25,
    }


def _train_one_step(model: keras.Model) -> float:
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 3, 4)
    return float(model.train_on_batch(x, y))


# ----------------------------------------------------------------------------- the preset


@pytest.mark.parametrize("batch_norm", sorted(GOLDEN_COUNTS))
def test_model_cifar_cnn_is_the_preset_with_the_golden_size(batch_norm: str) -> None:
    """One network, built once: the catalog's ``cifar_cnn`` is the family at its preset (the layer
    names are locked by tests/test_golden.py)."""
    context = {**_context(batch_norm, (32, 32, 3)), "num_classes": 10}
    catalog, preset = MODELS.build("cifar_cnn", **context), cifar_cnn_preset(**context)
    assert MODELS.builder("cifar_cnn") is cifar_cnn_preset
    assert catalog.name == "cifar_cnn" and catalog.count_params() == GOLDEN_COUNTS[batch_norm]
    assert catalog.get_config() == preset.get_config()  # every layer's class, arguments and wiring
    assert catalog.get_config() == cnn_family(**context, **CIFAR_CNN_PRESET, name="cifar_cnn").get_config()


def test_the_family_takes_the_model_build_context_and_one_argument_per_knob() -> None:
    """So that part 2 can register it as a MODELS option (``MODELS.build`` passes exactly these)."""
    parameters = inspect.signature(cnn_family).parameters
    assert set(MODELS.context) | set(ARCHITECTURE) <= set(parameters)
    assert all(parameters[knob].default is inspect.Parameter.empty for knob in ARCHITECTURE)


def test_every_knob_has_a_doc_a_legal_default_and_a_legal_preset_value() -> None:
    assert list(CIFAR_CNN_PRESET) == list(ARCHITECTURE)
    for name, knob in ARCHITECTURE.items():
        assert knob.doc and knob.domain(), name
        assert knob.problem(knob.default) is None, name
        assert knob.problem(CIFAR_CNN_PRESET[name]) is None, name
    assert ACTIVATIONS == ("relu", "elu", "gelu", "swish", "leaky_relu")


# ----------------------------------------------------------------------------- the knobs build and train


VARIANTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    **{f"activation={a}": ({"activation": a}, {f"conv1a_{a}", f"dense_{a}"}) for a in ACTIVATIONS},
    "pooling=average": ({"pooling": "average"}, {"pool1"}),
    "head=global_average": ({"head": "global_average"}, {"global_pool"}),
    "padding=same,3 blocks,growth 1.5": (
        {"padding": "same", "conv_blocks": 3, "filter_growth": 1.5},
        {"conv3a", "conv3b", "pool3", "dropout3", "dropout4"},
    ),
    "padding=valid,kernel 3,1 conv": ({"padding": "valid", "convs_per_block": 1}, {"conv1a", "pool1"}),
    "3 convs per block,kernel 1": ({"convs_per_block": 3, "kernel_size": 1}, {"conv1c"}),
    "no dense layer": ({"dense_layers": 0}, {"flatten", "classes"}),
    "two dense layers": ({"dense_layers": 2}, {"dense", "dense2", "dropout2", "dropout3"}),
}


#: Every variant without batch norm; batch norm (it adds layers, not shapes) crossed with a few.
CASES = [(variant, "none") for variant in VARIANTS] + [
    ("activation=gelu", "before_activation"),
    ("padding=same,3 blocks,growth 1.5", "before_activation"),
    ("two dense layers", "after_activation"),
]


@pytest.mark.parametrize(("variant", "batch_norm"), CASES)
def test_each_knob_builds_and_trains_one_step(variant: str, batch_norm: str) -> None:
    knobs, expected_layers = VARIANTS[variant]
    model = cnn_family(**_context(batch_norm), **{**TINY, **knobs})
    names = {layer.name for layer in model.layers}
    assert expected_layers <= names, sorted(names)
    assert ("conv1a_bn" in names) == (batch_norm != "none")
    assert model.output_shape == (None, 3)
    assert math.isfinite(_train_one_step(model))


def test_a_regression_head_has_raw_outputs() -> None:
    model = cnn_family(**_context(), **TINY, output_activation=None)
    assert model.get_layer("classes").get_config()["activation"] == "linear"


def test_filters_grow_per_block_with_a_fixed_size_space() -> None:
    assert filters_per_block(32, 2.0, 3) == [32, 64, 128]
    assert filters_per_block(10, 1.5, 3) == [10, 15, 22]
    assert filters_per_block(1, 0.1, 2) == [1, 1]  # never below one filter
    model = cnn_family(**_context(), **{**TINY, "padding": "same", "conv_blocks": 3, "filter_growth": 1.5})
    assert [model.get_layer(f"conv{b}a").filters for b in (1, 2, 3)] == [4, 6, 9]


def test_a_knob_outside_its_domain_is_one_line() -> None:
    with pytest.raises(UsageError) as error:
        cnn_family(**_context(), **{**TINY, "activation": "tanh"})
    assert str(error.value) == (
        "Architecture knob activation: expected one of relu, elu, gelu, swish, leaky_relu, got 'tanh'."
    )


# ----------------------------------------------------------------------------- shape feasibility


def test_the_preset_needs_the_smallest_images_the_cifar_cnn_entry_declares() -> None:
    min_side = MODELS.option("cifar_cnn").min_side  # type: ignore[attr-defined]
    assert architecture_problem(CIFAR_CNN_PRESET, (min_side, min_side, 3)) is None
    same = {**CIFAR_CNN_PRESET, "padding": "same"}  # what the entry's message offers for smaller images
    assert architecture_problem(same, (4, 4, 3)) is None and architecture_problem(same, (3, 3, 3)) is not None
    assert "or use model: cnn with architecture padding: same (it fits images down to 4x4)" in str(
        MODELS.option("cifar_cnn").check_input_shape("cifar_cnn", (4, 4, 3))  # type: ignore[attr-defined]
    )
    assert architecture_problem(CIFAR_CNN_PRESET, (min_side - 1, 32, 3)) == (
        "images of 9x32 are too small for 2 conv blocks of 2 convs (kernel_size 3, padding same_then_valid): "
        "block 2 has no pixels left; set conv_blocks to at most 1, or larger images"
    )


@pytest.mark.parametrize(
    ("knobs", "side", "sides"),
    [
        ({"padding": "same", "convs_per_block": 2, "kernel_size": 3}, 8, [4, 2, 1, 0]),
        ({"padding": "valid", "convs_per_block": 2, "kernel_size": 3}, 16, [6, 1, 0]),
        ({"padding": "same_then_valid", "convs_per_block": 3, "kernel_size": 5}, 28, [10, 1, 0]),
    ],
)
def test_blocks_against_image_size_agree_with_keras(knobs: dict[str, Any], side: int, sides: list[int]) -> None:
    """The arithmetic gives the feature maps Keras builds, and refuses the first block that has none."""
    blocks = len(sides)
    point = {**TINY, **knobs, "conv_blocks": blocks, "head": "global_average"}
    assert feature_map_sides(point, side) == sides
    fits = blocks - 1
    model = cnn_family(**_context(input_shape=(side, side, 1)), **{**point, "conv_blocks": fits})
    assert model.get_layer(f"pool{fits}").output.shape[1:3] == (sides[-2], sides[-2])
    with pytest.raises(UsageError, match=f"block {blocks} has no pixels left; set conv_blocks to at most {fits}"):
        cnn_family(**_context(input_shape=(side, side, 1)), **point)


def test_not_even_one_block_fitting_names_the_other_fix() -> None:
    problem = architecture_problem({**TINY, "kernel_size": 9}, (8, 8, 3))
    assert problem is not None and problem.endswith("block 1 has no pixels left; use padding: same or a smaller kernel_size, or larger images")
    assert architecture_problem(TINY, (8, 8)) == "the CNN family takes images (H, W, C), got shape (8, 8)"


def test_a_searched_space_is_judged_at_its_worst_point() -> None:
    space = {"conv_blocks": [1, 4], "kernel_size": (3, 5), "padding": ["same", "valid"], "activation": ["relu", "elu"]}
    assert worst_case(space) == {"conv_blocks": 4, "convs_per_block": 2, "kernel_size": 5, "padding": "valid"}
    assert space_problem(space, (32, 32, 3)) == (
        "the searched architecture does not fit images of 32x32 at its largest point, 4 conv blocks of 2 convs "
        "(kernel_size 5, padding valid): only 2 blocks fit there; narrow the searched conv_blocks, kernel_size, "
        "padding so that every point fits"
    )
    assert space_problem({**space, "padding": "same"}, (32, 32, 3)) is None
    assert space_problem({"conv_blocks": 3}, (8, 8, 3)) == architecture_problem({**TINY, "conv_blocks": 3}, (8, 8, 3))


def test_images_too_small_for_cifar_cnn_are_one_line_naming_the_size_the_minimum_and_the_fixes(store: Any, tmp_path: Any) -> None:
    from click.testing import CliRunner
    from conftest import write_study
    from test_data_cli import no_study_written, write_digit_folder

    from hpsearch.cli import main

    folder = write_digit_folder(tmp_path / "small", classes=2, per_class=6, scale=1)  # 8x8 images
    write_study(tmp_path / "quick.yaml", model="cifar_cnn")
    result = CliRunner().invoke(main, ["study", "quick.yaml", "--dataset", str(folder), "--trials", "1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "Error: small: images of 8x8 are too small for the cifar_cnn model (at least 10x10); resize them to 10x10 or "
        "more, or use model: cnn with architecture padding: same (it fits images down to 4x4)."
    ]
    assert no_study_written(store)
