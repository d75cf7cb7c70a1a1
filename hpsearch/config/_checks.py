"""Checks of a study besides its file's schema: a safe study name, schedules that act within a trial."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hpsearch._errors import UsageError
from hpsearch.config._space import Choice, Fixed

if TYPE_CHECKING:
    from hpsearch.config._schema import StudyConfig

__all__ = ["validate_study_name", "check_schedules_act"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=@-]*$")


def validate_study_name(name: str) -> str:
    """Check a study name is safe as an experiment name and a folder name; return it."""
    if not isinstance(name, str) or not name:
        raise UsageError(
            "The study name is empty; pass a name such as --study-name cifar10-wide "
            "(or omit --study-name to use the study file's name)."
        )
    if "/" in name or "\\" in name or ".." in name:
        raise UsageError(
            f"Invalid study name {name!r}: '/', '\\' and '..' are not allowed (the name becomes a "
            "folder name); use letters, digits and - _ . only, e.g. --study-name cifar10-wide."
        )
    if len(name) > 128 or not _NAME_RE.match(name):
        raise UsageError(
            f"Invalid study name {name!r}: use 1-128 letters, digits and - _ . + = @, starting "
            "with a letter or digit."
        )
    return name


def check_schedules_act(config: StudyConfig, *, epochs_from: str = "training.max_epochs") -> None:
    """Refuse a ``step`` schedule whose drop can never happen within a trial's epochs.

    Its horizon is a fixed number of epochs: ``every_epochs: 8`` with ``--epochs 3`` trains at a
    constant rate while being recorded as a step schedule. (``multistep`` spreads its drops over
    each trial's budget instead; the other schedules are continuous or span ``max_epochs``.)
    Checked when a study is run from its file, not when a stored study is read back.

    Raises:
        UsageError: naming the knob, the epoch budget and the fix.
    """
    if "step" not in config.search_space.schedule.names:
        return
    spec = dict(config.search_space.schedule.branch("step").knobs)["every_epochs"]
    largest = spec.value if isinstance(spec, Fixed) else max(spec.choices) if isinstance(spec, Choice) else spec.high
    max_epochs = config.training.max_epochs
    if largest >= max_epochs:
        raise UsageError(
            f"{config.source}: search_space.schedule.step.every_epochs: a drop every {largest} epochs never happens "
            f"in a trial of at most {max_epochs} epochs ({epochs_from} {max_epochs}); keep every_epochs below "
            f"{max_epochs}, or use the `multistep` schedule, whose drops are spread over each trial's epochs."
        )
