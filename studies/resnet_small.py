"""A small residual CNN: the template for bringing your own Keras model to hpsearch.

``studies/resnet_small.yaml`` points at :func:`build` with ``model: resnet_small.py:build`` and
declares the knobs it reads (``hp["width"]``, ...) under ``search_space.model``. Copy both files,
then change the network and its knobs. The contract:

* ``build(hp)`` takes exactly one parameter and returns a ``keras.Model``, uncompiled: hpsearch
  compiles it with the searched optimizer, learning-rate schedule, loss and metrics (a model
  returned compiled is trained as it is; the study then must not search the optimizer).
* ``hp["knob"]`` is each sampled value (your knobs and the standard roles), ``hp.input_shape`` one
  example's shape (no batch dimension) and ``hp.num_outputs`` the output units the task needs.
* ``hp.conv2d`` / ``hp.dense`` give a layer the searched kernel initializer and regularizer,
  ``hp.activate`` the searched batch-norm placement, ``hp.dropout`` the searched dropout, and
  ``hp.output`` the output layer the task needs (class probabilities for classification).
* A custom layer class (here :class:`ResidualScale`) must be decorated with
  ``@keras.saving.register_keras_serializable()`` and have a ``get_config()`` that returns its
  ``__init__`` arguments, so that checkpoints load back in Keras safe mode (resume, export).
  hpsearch imports this file before loading one, and ships it with the model it registers in
  MLflow, so ``mlflow.pyfunc.load_model`` finds the layer in any process.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="resnet_small")
class ResidualScale(keras.layers.Layer):
    """Multiplies a residual branch by one learned scalar that starts at ``init`` (SkipInit: at 0
    each block starts as the identity, so a deeper stack trains from the first step)."""

    def __init__(self, init: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(self.init))

    def call(self, x: Any) -> Any:
        return x * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "init": self.init}


def residual_block(hp: Any, x: Any, filters: int, *, stride: int, name: str) -> Any:
    """conv -> act -> conv -> scale, plus the input (projected by a 1x1 conv when its shape changes), -> act."""
    y = hp.activate(hp.conv2d(filters, 3, strides=stride, name=f"{name}_conv1")(x), hp["activation"], name=f"{name}_1")
    y = ResidualScale(name=f"{name}_scale")(hp.conv2d(filters, 3, name=f"{name}_conv2")(y))
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = hp.conv2d(filters, 1, strides=stride, name=f"{name}_projection")(x)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return hp.activate(y, hp["activation"], name=f"{name}_2")


def build(hp: Any) -> keras.Model:
    """``stages`` stages of ``blocks_per_stage`` residual blocks; each stage doubles the width and
    halves the feature maps; then global average pooling and the output layer."""
    inputs = hp.input()
    x = hp.rescale(inputs)
    x = hp.activate(hp.conv2d(hp["width"], 3, name="stem")(x), hp["activation"], name="stem")
    for stage in range(1, hp["stages"] + 1):
        for block in range(1, hp["blocks_per_stage"] + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = residual_block(hp, x, hp["width"] * 2 ** (stage - 1), stride=stride, name=f"stage{stage}_block{block}")
        x = hp.dropout(x, name=f"stage{stage}_dropout")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, hp.output(x), name="resnet_small")
