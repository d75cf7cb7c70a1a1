"""The optional roles of a search space: present only when a study file names them, so a study
stored before they existed reads back (and compares) unchanged.

* ``loss`` -- a conditional role over :data:`~hpsearch.catalog.LOSSES` (each loss with its own
  knobs: ``label_smoothing``, ``delta``); omitted: the task's default loss.
* ``mlp`` -- the knobs of the MLP family (:data:`~hpsearch.catalog.MLP`): layers, units, activation.
* ``augmentation`` -- one knob per image transform (:data:`~hpsearch.catalog.AUGMENTATION_KNOBS`),
  each off unless given.

A *group* role is a fixed set of knobs, each a fixed value, a list of choices or a range; its
Optuna/MLflow names are ``"<role>.<knob>"`` (``mlp.units``, ``augmentation.zoom``).
"""

from __future__ import annotations

from collections.abc import Mapping

from hpsearch.catalog._augment import AUGMENTATION_KNOBS
from hpsearch.catalog._knob import Knob
from hpsearch.catalog._mlp import MLP
from hpsearch.catalog._option import Catalog
from hpsearch.catalog._tasks import LOSSES

__all__ = ["OPTIONAL_CONDITIONAL_ROLES", "GROUP_ROLES", "OPTIONAL_ROLES"]

#: role -> the catalog of its branches (no default branch: omitted means "the task's default").
OPTIONAL_CONDITIONAL_ROLES: dict[str, Catalog] = {"loss": LOSSES}

#: role -> its knobs (each sampled as ``"<role>.<knob>"``).
GROUP_ROLES: dict[str, Mapping[str, Knob]] = {"mlp": MLP.knobs, "augmentation": AUGMENTATION_KNOBS}

#: Sampled after the roles of :data:`~hpsearch.catalog.ROLE_ORDER`, in this order.
OPTIONAL_ROLES: tuple[str, ...] = ("loss", "mlp", "augmentation")
