"""The bare side of the benchmarks: the classic Keras CIFAR-10 CNN written in plain Keras.

It is what a user would write without hpsearch, and the model hpsearch's ``cifar_cnn`` builds for
``batch_norm: none``, ``regularizer: none``, ``schedule: none`` and adam (the benchmarks check the
parameter counts agree). Shared by ``bench_overhead.py`` and ``bench_stream.py``.
"""

from __future__ import annotations

import keras


def classic_cnn(input_shape: tuple[int, ...], num_classes: int, *, input_scale: float = 1 / 255, dropout: float = 0.25, learning_rate: float = 1e-3) -> keras.Model:
    """Conv32-Conv32-MaxPool-Dropout-Conv64-Conv64-MaxPool-Dropout-Flatten-Dense512-Dropout-Dense, compiled with adam."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(input_scale)(inputs)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(filters, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
