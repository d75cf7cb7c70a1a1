"""Image augmentations: Keras preprocessing layers that act only while training.

Each entry builds one layer (``AUGMENTATIONS.build(name, knobs, seed=..., value_range=...)``,
builders in :mod:`hpsearch.models._augment`); the block applies them in the order listed here.
A transform is off when it is not chosen, or when its ``factor`` is 0 (so a searched factor range
that starts at 0 includes "off"). ``value_range`` is the range of the raw pixels the block sees.
"""

from __future__ import annotations

from hpsearch.catalog._knob import Knob
from hpsearch.catalog._option import Catalog, Option

__all__ = ["AUGMENTATIONS", "AUGMENTATION_KNOBS"]

_BUILD = "hpsearch.models._augment:"


def _factor(default: float, doc: str) -> dict[str, Knob]:
    return {"factor": Knob(float, default, 0.0, 1.0, high_open=True, doc=doc + "; 0 = off")}


AUGMENTATIONS = Catalog(
    "augmentation",
    {
        "horizontal_flip": Option(doc="mirror left-right with probability 1/2", build=_BUILD + "horizontal_flip"),
        "vertical_flip": Option(doc="mirror top-bottom with probability 1/2", build=_BUILD + "vertical_flip"),
        "translation": Option(doc="shift by up to factor x height/width", knobs=_factor(0.1, "largest shift, fraction of the side"), build=_BUILD + "translation"),
        "rotation": Option(doc="rotate by up to factor x 360 degrees", knobs=_factor(0.1, "largest turn, fraction of a full turn"), build=_BUILD + "rotation"),
        "zoom": Option(doc="zoom in or out by up to factor", knobs=_factor(0.2, "largest zoom, fraction of the side"), build=_BUILD + "zoom"),
        "contrast": Option(doc="scale contrast by a factor in [1 - factor, 1 + factor]", knobs=_factor(0.2, "largest contrast change"), build=_BUILD + "contrast"),
    },
    context=("seed", "value_range"),
)

#: The ``augmentation`` role of a search space: one knob per transform, off by default. Flips are
#: on or off; the others are their ``factor`` (0 = off), so ``{low: 0, high: 0.2}`` searches
#: "off" too. (Built by :func:`hpsearch.models._augment.build_augmentation` from these values.)
AUGMENTATION_KNOBS: dict[str, Knob] = {
    name: (
        Knob(bool, False, doc=option.doc)
        if not option.knobs
        else Knob(float, 0.0, 0.0, 1.0, high_open=True, doc=f"{option.doc}; 0 = off")
    )
    for name, option in ((n, AUGMENTATIONS.option(n)) for n in AUGMENTATIONS)
}
