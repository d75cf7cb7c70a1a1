"""Augmentation: Keras preprocessing layers (declared in :data:`hpsearch.catalog.AUGMENTATIONS`)
in front of a model, active only in training.

:func:`with_augmentation` wraps a model as ``inputs -> augmentation -> model``, sharing the
model's weights; in inference mode (``training=False``, ``predict``, an export) every layer of the
block passes images through unchanged. :func:`without_augmentation` returns the model inside,
which is what gets exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpsearch._errors import UsageError
from hpsearch.catalog import AUGMENTATIONS

__all__ = [
    "BLOCK_NAME",
    "build_augmentation",
    "with_augmentation",
    "without_augmentation",
    "horizontal_flip",
    "vertical_flip",
    "translation",
    "rotation",
    "zoom",
    "contrast",
]

BLOCK_NAME = "augmentation"

#: One transform's setting: its knob values, ``True`` (on, default knobs), or ``False``/``None`` (off).
Setting = Mapping[str, Any] | bool | None


def horizontal_flip(*, seed: int, value_range: tuple[float, float]) -> keras.layers.Layer:
    return keras.layers.RandomFlip("horizontal", seed=seed, name="horizontal_flip")


def vertical_flip(*, seed: int, value_range: tuple[float, float]) -> keras.layers.Layer:
    return keras.layers.RandomFlip("vertical", seed=seed, name="vertical_flip")


def translation(*, seed: int, value_range: tuple[float, float], factor: float) -> keras.layers.Layer:
    return keras.layers.RandomTranslation(factor, factor, fill_mode="reflect", seed=seed, name="translation")


def rotation(*, seed: int, value_range: tuple[float, float], factor: float) -> keras.layers.Layer:
    return keras.layers.RandomRotation(factor, fill_mode="reflect", seed=seed, name="rotation")


def zoom(*, seed: int, value_range: tuple[float, float], factor: float) -> keras.layers.Layer:
    return keras.layers.RandomZoom(factor, factor, fill_mode="reflect", seed=seed, name="zoom")


def contrast(*, seed: int, value_range: tuple[float, float], factor: float) -> keras.layers.Layer:
    # A (lower, upper) pair: Keras 3.15 reads a single float as [1, 1 + factor] (never less contrast).
    return keras.layers.RandomContrast((factor, factor), value_range=value_range, seed=seed, name="contrast")


def _active(settings: Mapping[str, Setting]) -> dict[str, dict[str, Any]]:
    """Transform name -> knob values of the transforms that are on (a 0 factor is off)."""
    unknown = [name for name in settings if name not in AUGMENTATIONS]
    if unknown:
        AUGMENTATIONS.option(unknown[0])  # raises the one-line "Unknown augmentation ..." error
    active = {}
    for name in AUGMENTATIONS:  # catalog order, whatever the settings' order
        setting = settings.get(name)
        if setting is None or setting is False:
            continue
        if not isinstance(setting, (bool, Mapping)):
            raise UsageError(f"augmentation {name}: expected true, false or its options, got {setting!r}.")
        knobs = {} if setting is True else dict(setting)
        for knob, value in knobs.items():
            spec = AUGMENTATIONS[name].get(knob)
            if spec is None:
                known = ", ".join(AUGMENTATIONS[name]) or "none"
                raise UsageError(f"augmentation {name} has no option {knob!r}; its options are: {known}.")
            problem = spec.problem(value)
            if problem:
                raise UsageError(f"augmentation {name}.{knob}: {problem}.")
        if knobs.get("factor", 1.0) == 0:
            continue
        active[name] = knobs
    return active


def build_augmentation(
    settings: Mapping[str, Setting], *, seed: int, value_range: tuple[float, float] = (0.0, 255.0)
) -> keras.Sequential | None:
    """The block of the transforms ``settings`` turns on, in catalog order; ``None`` if none is."""
    active = _active(settings)
    if not active:
        return None
    layers = [
        AUGMENTATIONS.build(name, knobs, seed=seed + index, value_range=value_range)
        for index, (name, knobs) in enumerate(active.items())
    ]
    return keras.Sequential(layers, name=BLOCK_NAME)


def with_augmentation(model: keras.Model, block: keras.Sequential | None) -> keras.Model:
    """``inputs -> block -> model`` (``model`` itself when ``block`` is ``None``)."""
    if block is None:
        return model
    inputs = keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype, name="image")
    return keras.Model(inputs, model(block(inputs)), name=model.name)


def without_augmentation(model: keras.Model) -> keras.Model:
    """The model inside :func:`with_augmentation`'s wrapper (``model`` itself if it has no block)."""
    names = [layer.name for layer in model.layers]
    if BLOCK_NAME not in names:
        return model
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name != BLOCK_NAME]
    if len(inner) != 1:
        raise ValueError(f"an augmented model wraps exactly one model, found {[layer.name for layer in inner]}")
    return inner[0]
