"""Augmentation: preprocessing layers from the catalog, active only while training; a model in
inference mode (and the model exported without the block) predicts exactly as without it."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from hpsearch._errors import UsageError
from hpsearch.catalog import AUGMENTATIONS, MODELS
from hpsearch.models._augment import BLOCK_NAME, build_augmentation, with_augmentation, without_augmentation

EVERYTHING = {name: True for name in AUGMENTATIONS}


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 16, 16, 3)).astype(np.float32)


def _cnn() -> keras.Model:
    return MODELS.build(
        "cifar_cnn", input_shape=(16, 16, 3), num_classes=3, input_scale=1 / 255,
        initializer="glorot_uniform", regularizer=None, batch_norm="after_activation", dropout=0.25,
    )


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_every_builder_takes_exactly_its_knobs_and_the_context(name: str) -> None:
    parameters = set(inspect.signature(AUGMENTATIONS.builder(name)).parameters)  # type: ignore[arg-type]
    assert parameters == set(AUGMENTATIONS[name]) | set(AUGMENTATIONS.context)


def test_the_block_holds_the_chosen_transforms_in_catalog_order() -> None:
    block = build_augmentation({"contrast": {"factor": 0.3}, "zoom": True, "horizontal_flip": True}, seed=1)
    assert block is not None and block.name == BLOCK_NAME
    assert [layer.name for layer in block.layers] == ["horizontal_flip", "zoom", "contrast"]
    assert tuple(block.get_layer("contrast").factor) == (0.3, 0.3)  # contrast in [0.7, 1.3], as documented
    everything = build_augmentation(EVERYTHING, seed=1)
    assert everything is not None and [layer.name for layer in everything.layers] == list(AUGMENTATIONS)


def test_off_transforms_build_nothing() -> None:
    assert build_augmentation({}, seed=0) is None
    assert build_augmentation({"horizontal_flip": False, "rotation": None, "zoom": {"factor": 0.0}}, seed=0) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rotate": True}, "Unknown augmentation 'rotate' (did you mean 'rotation'?); expected one of horizontal_flip, vertical_flip, translation, rotation, zoom, contrast."),
        ({"zoom": {"factor": 1.5}}, "augmentation zoom.factor: expected a number in [0, 1), got 1.5."),
        ({"zoom": {"scale": 0.1}}, "augmentation zoom has no option 'scale'; its options are: factor."),
        ({"horizontal_flip": "yes"}, "augmentation horizontal_flip: expected true, false or its options, got 'yes'."),
    ],
)
def test_bad_settings_are_one_line_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as error:
        build_augmentation(settings, seed=0)
    assert str(error.value) == message


def test_augmentation_acts_in_training_only() -> None:
    block = build_augmentation(EVERYTHING, seed=3)
    assert block is not None
    images = _images()
    np.testing.assert_array_equal(np.asarray(block(images, training=False)), images)
    assert not np.allclose(np.asarray(block(images, training=True)), images)


def test_an_augmented_model_in_inference_mode_predicts_as_the_model_without_the_block(tmp_path: Path) -> None:
    model = _cnn()
    augmented = with_augmentation(model, build_augmentation(EVERYTHING, seed=7))
    images = _images(8)
    labels = np.arange(8) % 3
    augmented.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    augmented.fit(images, labels, epochs=1, batch_size=8, verbose=0)  # trains the shared weights through the block
    plain = without_augmentation(augmented)
    assert plain is model and BLOCK_NAME not in [layer.name for layer in plain.layers]
    expected = np.asarray(plain(images, training=False))
    np.testing.assert_allclose(np.asarray(augmented(images, training=False)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(augmented.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # The exported (stripped) model reloads with the same predictions and no augmentation layer.
    plain.save(tmp_path / "exported.keras")
    exported = keras.models.load_model(tmp_path / "exported.keras")
    assert not any(layer.name in AUGMENTATIONS or layer.name == BLOCK_NAME for layer in exported.layers)
    np.testing.assert_allclose(exported.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_without_a_block_nothing_is_wrapped() -> None:
    model = _cnn()
    assert with_augmentation(model, None) is model and without_augmentation(model) is model
