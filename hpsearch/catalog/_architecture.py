"""The CNN family's architecture knobs, its ``cifar_cnn`` preset, and its shape feasibility.

The family (built by :func:`hpsearch.models._family.cnn_family`) is a stack of ``conv_blocks``
blocks, then a head and ``dense_layers`` hidden dense layers::

    block i (i = 0 .. conv_blocks-1):
        convs_per_block x [Conv(filters_i, kernel_size) -> [BN] -> activation -> [BN]]
        -> 2x2 pooling (max or average) -> dropout
    head: flatten | global average pooling
    dense_layers x [Dense(dense_units) -> [BN] -> activation -> [BN] -> dropout]
    output

with ``filters_i = max(1, round(base_filters * filter_growth ** i))``: a fixed-size space (two
numbers, whatever the number of blocks), which the GP, CMA-ES and QMC samplers need. Batch-norm
placement, dropout, kernel initializer and regularizer are the usual scalar and conditional roles.

Shape feasibility is pure arithmetic on the knobs (no TensorFlow): :func:`architecture_problem`
says why one point cannot take images of a given shape, :func:`space_problem` why a searched space
cannot, judged at its worst point. **A searched space with infeasible points is refused up front,
not sampled with those points skipped**: a skipped point is a wasted trial the sampler learns
nothing from (and a failed or pruned one biases it), while the fix -- lowering one bound, which
the message names -- is a one-line edit of the study file made once, before any trial is stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from hpsearch.catalog._knob import Knob, positive

__all__ = [
    "ACTIVATIONS",
    "POOLINGS",
    "HEADS",
    "PADDINGS",
    "ARCHITECTURE",
    "CIFAR_CNN_PRESET",
    "feature_map_sides",
    "architecture_problem",
    "worst_case",
    "space_problem",
]

ACTIVATIONS = ("relu", "elu", "gelu", "swish", "leaky_relu")
POOLINGS = ("max", "average")
HEADS = ("flatten", "global_average")
#: From the padding that shrinks feature maps least to the one that shrinks them most.
PADDINGS = ("same", "same_then_valid", "valid")

#: The family's knobs; a point of the family gives a value to each.
ARCHITECTURE: Mapping[str, Knob] = MappingProxyType(
    {
        "conv_blocks": Knob(int, 2, 1, None, doc="convolution blocks, each ending in a 2x2 pooling"),
        "base_filters": Knob(int, 32, 1, None, doc="filters of the first block's convolutions"),
        "filter_growth": positive(2.0, "filters multiplier from one block to the next (1 = constant width)"),
        "convs_per_block": Knob(int, 2, 1, None, doc="convolutions in each block"),
        "kernel_size": Knob(int, 3, 1, None, doc="side of every convolution kernel"),
        "padding": Knob(
            str,
            "same_then_valid",
            choices=PADDINGS,
            doc="same keeps a map's size; valid shrinks it by kernel_size - 1; same_then_valid pads a block's first conv only",
        ),
        "activation": Knob(str, "relu", choices=ACTIVATIONS, doc="activation of every hidden layer"),
        "pooling": Knob(str, "max", choices=POOLINGS, doc="2x2 pooling ending each block"),
        "head": Knob(str, "flatten", choices=HEADS, doc="from feature maps to a vector: flatten or global average pooling"),
        "dense_layers": Knob(int, 1, 0, None, doc="hidden dense layers between the head and the output"),
        "dense_units": Knob(int, 512, 1, None, doc="units of each hidden dense layer"),
    }
)

#: The classic Keras CIFAR-10 CNN, Conv32-Conv32-Pool-Conv64-Conv64-Pool-Dense512: the network of
#: ``model: cifar_cnn`` (same layer names and parameter count, locked by tests/test_golden.py).
CIFAR_CNN_PRESET: Mapping[str, Any] = MappingProxyType(
    {
        "conv_blocks": 2,
        "base_filters": 32,
        "filter_growth": 2.0,
        "convs_per_block": 2,
        "kernel_size": 3,
        "padding": "same_then_valid",
        "activation": "relu",
        "pooling": "max",
        "head": "flatten",
        "dense_layers": 1,
        "dense_units": 512,
    }
)


def _conv_pads(padding: str, convs: int) -> list[bool]:
    """Whether each convolution of a block pads (keeps the size)."""
    return [padding == "same" or (padding == "same_then_valid" and j == 0) for j in range(convs)]


def feature_map_sides(knobs: Mapping[str, Any], side: int) -> list[int]:
    """The side of the feature maps after each block, for images ``side`` pixels wide.

    Stops at the first block that cannot run (a valid convolution on a map smaller than its kernel,
    or a 2x2 pooling on a 1-pixel map) and gives ``0`` for it.
    """
    kernel = int(knobs["kernel_size"])
    sides: list[int] = []
    for _ in range(int(knobs["conv_blocks"])):
        for pads in _conv_pads(str(knobs["padding"]), int(knobs["convs_per_block"])):
            side = side if pads else side - kernel + 1
        if side < 2:
            return [*sides, 0]
        side //= 2
        sides.append(side)
    return sides


def _fitting_blocks(knobs: Mapping[str, Any], side: int) -> int:
    return sum(1 for s in feature_map_sides(knobs, side) if s > 0)


def _shape_words(knobs: Mapping[str, Any]) -> str:
    convs = int(knobs["convs_per_block"])
    return (
        f"{knobs['conv_blocks']} conv blocks of {convs} conv{'s' if convs > 1 else ''} "
        f"(kernel_size {knobs['kernel_size']}, padding {knobs['padding']})"
    )


def _check_image_shape(input_shape: tuple[int, ...]) -> str | None:
    if len(input_shape) != 3:
        return f"the CNN family takes images (H, W, C), got shape {tuple(input_shape)}"
    return None


def architecture_problem(knobs: Mapping[str, Any], input_shape: tuple[int, ...]) -> str | None:
    """Why images of ``input_shape`` (H, W, C) cannot feed the family at ``knobs``, or ``None``.

    ``knobs`` holds the shape knobs (``conv_blocks``, ``convs_per_block``, ``kernel_size``,
    ``padding``); other keys are ignored. The message is one line and names the fix.
    """
    problem = _check_image_shape(input_shape)
    if problem:
        return problem
    h, w = input_shape[:2]
    fits = _fitting_blocks(knobs, min(h, w))
    if fits >= int(knobs["conv_blocks"]):
        return None
    fix = f"set conv_blocks to at most {fits}" if fits else "use padding: same or a smaller kernel_size"
    return f"images of {h}x{w} are too small for {_shape_words(knobs)}: block {fits + 1} has no pixels left; {fix}, or larger images"


def _worst(knob: str, values: Collection[Any]) -> Any:
    if knob == "padding":
        return max(values, key=PADDINGS.index)
    return max(values)


def worst_case(space: Mapping[str, Any]) -> dict[str, Any]:
    """The point of a searched architecture space whose feature maps shrink most.

    ``space`` gives each shape knob as a value, or as the collection of values it can take (a
    list of choices; for a range, its two bounds are enough, since the feature maps shrink
    monotonically in ``conv_blocks``, ``convs_per_block`` and ``kernel_size``). Missing knobs take
    their default.
    """
    point: dict[str, Any] = {}
    for knob in ("conv_blocks", "convs_per_block", "kernel_size", "padding"):
        given = space.get(knob, ARCHITECTURE[knob].default)
        many = isinstance(given, Collection) and not isinstance(given, str)
        point[knob] = _worst(knob, list(given)) if many else given
    return point


def space_problem(space: Mapping[str, Any], input_shape: tuple[int, ...]) -> str | None:
    """Why a searched architecture space (as :func:`worst_case` takes it) cannot take images of
    ``input_shape``, or ``None`` if every point of it can. Judged at the worst point; one line."""
    point = worst_case(space)
    problem = architecture_problem(point, input_shape)
    if problem is None:
        return None
    searched = [k for k in point if isinstance(space.get(k), Collection) and not isinstance(space.get(k), str)]
    if not searched:
        return problem
    h, w = input_shape[:2]
    fits = _fitting_blocks(point, min(h, w))
    room = f"only {fits} block{' fits' if fits == 1 else 's fit'} there" if fits else "not even one block fits there"
    return (
        f"the searched architecture does not fit images of {h}x{w} at its largest point, {_shape_words(point)}: "
        f"{room}; narrow the searched {', '.join(searched)} so that every point fits"
    )
