"""The MLP family for tables: its knobs, declared once, and its builder.

Built as ``TABLE_MODELS.build("mlp", knobs, input_shape=..., head=..., input_scale=...,
initializer=..., regularizer=..., batch_norm=..., dropout=...)``: the shared roles (initializer,
regularizer, batch norm, dropout) come from :data:`~hpsearch.catalog.SCALAR_ROLES` and
:data:`~hpsearch.catalog.CONDITIONAL_ROLES` as for the CNN; the output layer follows the task's
head (:class:`hpsearch.tasks.Head`).
"""

from __future__ import annotations

from hpsearch.catalog._knob import Knob
from hpsearch.catalog._option import Catalog, Option

__all__ = ["ACTIVATIONS", "MLP", "TABLE_MODELS"]

#: Hidden-layer activations (Keras names).
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "tanh", "swish")

MLP = Option(
    doc="dense layers of equal width for tables (Deep Learning with Python's house-price network by default)",
    knobs={
        "layers": Knob(int, 2, 1, 16, doc="hidden dense layers"),
        "units": Knob(int, 64, 1, 4096, doc="units per hidden layer"),
        "activation": Knob(str, "relu", choices=ACTIVATIONS, doc="hidden-layer activation"),
    },
    build="hpsearch.models._mlp:mlp",
)

#: Model families for inputs that are rows of numbers.
TABLE_MODELS = Catalog(
    "model",
    {"mlp": MLP},
    context=("input_shape", "head", "input_scale", "initializer", "regularizer", "batch_norm", "dropout"),
)
