"""Losses whose Keras class forgets a knob when saved: fixed here, so a reloaded model (a resumed
trial) trains with the knob it was built with."""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["Huber"]


@keras.saving.register_keras_serializable(package="hpsearch")
class Huber(keras.losses.Huber):
    """``keras.losses.Huber`` that keeps ``delta`` in its config (Keras 3.15 drops it)."""

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(delta=delta, **kwargs)
        self.delta = delta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}
