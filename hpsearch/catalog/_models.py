"""Model families known by name: each with its builder and the smallest images it accepts."""

from __future__ import annotations

from dataclasses import dataclass

from hpsearch.catalog._architecture import ARCHITECTURE
from hpsearch.catalog._option import Catalog, Option

__all__ = ["ModelOption", "MODELS", "MODEL_ROLES", "METRICS", "check_input_shape"]


@dataclass(frozen=True, kw_only=True)
class ModelOption(Option):
    """A model family: its builder, the smallest image height/width it accepts, the
    ``search_space`` key that holds its knobs (``""``: it has none), and what else to do with
    smaller images (``smaller``, added to the message that refuses them)."""

    min_side: int
    role: str = ""
    smaller: str = ""

    def check_input_shape(self, name: str, input_shape: tuple[int, ...], what: str = "this data") -> str | None:
        """Why images of ``input_shape`` (H, W, C) cannot feed model ``name``, or ``None`` if they can;
        ``what`` names the data in the message (``this CSV``)."""
        if len(input_shape) == 1:
            return f"model {name} needs images (H, W, C); {what} gives {input_shape[0]} features per example"
        if len(input_shape) != 3:
            return f"model {name} needs images (H, W, C); {what} gives examples of shape {tuple(input_shape)}"
        if min(input_shape[:2]) < self.min_side:
            h, w = input_shape[:2]
            side = self.min_side
            also = f", or {self.smaller}" if self.smaller else ""
            return f"images of {h}x{w} are too small for the {name} model (at least {side}x{side}); resize them to {side}x{side} or more{also}"
        return None


#: Built as ``MODELS.build(name, input_shape=..., num_classes=..., input_scale=..., initializer=...,
#: regularizer=..., batch_norm=..., dropout=...)``, which returns an uncompiled ``keras.Model``.
MODELS = Catalog(
    "model",
    {
        "cifar_cnn": ModelOption(
            doc="the classic Keras CIFAR-10 CNN (two conv blocks of 32 and 64 filters, dense 512)",
            build="hpsearch.models._family:cifar_cnn_preset",  # the cnn family at CIFAR_CNN_PRESET
            min_side=10,  # per block a padded and a valid 3x3 convolution, then a 2x2 pool (tests/test_family.py)
            smaller="use model: cnn with architecture padding: same (it fits images down to 4x4)",
        ),
        "cnn": ModelOption(
            doc="the searchable CNN family (conv blocks, filters, kernels, activation, pooling, head, dense layers); "
            "its knobs go under search_space.architecture and default to the cifar_cnn network",
            knobs=ARCHITECTURE,
            build="hpsearch.models._family:cnn_family",
            min_side=2,  # one 2x2 pool; the knobs' own feasibility is architecture_problem / space_problem
            role="architecture",
        ),
    },
    context=("input_shape", "num_classes", "input_scale", "initializer", "regularizer", "batch_norm", "dropout"),
)

#: The ``search_space`` keys that hold a model's own knobs: a family's (``architecture`` for
#: ``cnn``, its :attr:`ModelOption.role`) or those of a builder you write (``model``). Each knob is
#: sampled as ``"<key>.<knob>"`` (``architecture.conv_blocks``, ``model.width``).
MODEL_ROLES = ("architecture", "model")

#: The metrics of a default image study (compiled with ``accuracy``), with their directions. Any
#: compiled metric can be an objective: see :data:`~hpsearch.catalog.TASK_METRICS` and
#: :func:`~hpsearch.catalog.metric_direction`.
METRICS: dict[str, str] = {
    "val_accuracy": "maximize",
    "val_loss": "minimize",
    "accuracy": "maximize",
    "loss": "minimize",
}


def check_input_shape(model: str, input_shape: tuple[int, ...], what: str = "this data") -> str | None:
    """Why images of ``input_shape`` (H, W, C) cannot feed ``model``, or ``None`` if they can.

    The one input-shape check; the rule belongs to the model's catalog entry.
    """
    option = MODELS.option(model)
    assert isinstance(option, ModelOption)
    return option.check_input_shape(model, input_shape, what)
