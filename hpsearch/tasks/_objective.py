"""Which way an objective is better: any logged metric (``val_<m>`` or the training ``<m>``,
``loss`` included), its direction known from :data:`hpsearch.catalog.TASK_METRICS`; an explicit
direction wins."""

from __future__ import annotations

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog import TASK_METRICS, MetricOption
from hpsearch.catalog._tasks import DIRECTIONS

__all__ = ["VALIDATION_PREFIX", "metric_base", "known_objectives", "objective_direction"]

VALIDATION_PREFIX = "val_"


def metric_base(metric: str) -> str:
    """``val_mae`` -> ``mae``; a training metric is its own base."""
    return metric[len(VALIDATION_PREFIX):] if metric.startswith(VALIDATION_PREFIX) else metric


def known_objectives() -> tuple[str, ...]:
    """Every objective whose direction is known: ``val_loss``, ``loss``, ``val_<m>``, ``<m>``."""
    bases = ("loss", *TASK_METRICS)
    return tuple(f"{VALIDATION_PREFIX}{b}" for b in bases) + bases


def _direction_of(base: str) -> str | None:
    if base == "loss":
        return "minimize"
    if base not in TASK_METRICS:
        return None
    option = TASK_METRICS.option(base)
    assert isinstance(option, MetricOption)
    return option.direction


def objective_direction(metric: str, direction: str | None = None) -> str:
    """``maximize`` or ``minimize`` for objective ``metric``. ``direction`` wins when given (it
    is how an objective the catalog does not know, e.g. a user model's own metric, is used)."""
    if not isinstance(metric, str) or not metric_base(metric):
        raise UsageError(f"objective must name a logged metric such as val_loss or val_accuracy, not {metric!r}.")
    if direction is not None:
        if direction not in DIRECTIONS:
            raise UsageError(f"direction must be one of {' | '.join(DIRECTIONS)}, not {direction!r}.")
        return direction
    found = _direction_of(metric_base(metric))
    if found is None:
        raise UsageError(
            f"objective {metric!r}: no known direction{did_you_mean(metric, known_objectives())}; "
            f"use one of {', '.join(known_objectives())}, or set direction: maximize | minimize."
        )
    return found
