"""The loss and the compiled metrics of a head, from catalog names and knob values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog import LOSSES, TASK_METRICS, MetricOption
from hpsearch.tasks._head import Head

__all__ = ["metrics_for", "build_loss", "build_metrics"]

MetricChoice = Sequence[str] | Mapping[str, Mapping[str, Any]]


def metrics_for(task_kind: str) -> tuple[str, ...]:
    """The names of the metrics that fit a task kind (``classification`` | ``regression``)."""
    return tuple(name for name in TASK_METRICS if _metric(name).task == task_kind)


def _metric(name: str) -> MetricOption:
    option = TASK_METRICS.option(name)
    assert isinstance(option, MetricOption)
    return option


def build_loss(head: Head, knobs: Mapping[str, Any] | None = None) -> Any:
    """The ``keras.losses.Loss`` of ``head.loss`` with its knob values (missing ones: defaults)."""
    return LOSSES.build(head.loss, knobs)


def build_metrics(metrics: MetricChoice, head: Head) -> list[Any]:
    """Keras metrics for ``head``: ``["accuracy", "auc"]`` or ``{"top_k_accuracy": {"k": 3}}``."""
    chosen = dict(metrics) if isinstance(metrics, Mapping) else {name: {} for name in metrics}
    kind = head.task.kind
    built = []
    for name, knobs in chosen.items():
        if name not in TASK_METRICS:
            raise UsageError(f"Unknown metric {name!r}{did_you_mean(str(name), TASK_METRICS)}; {kind} metrics: {', '.join(metrics_for(kind))}.")
        if _metric(name).task != kind:
            raise UsageError(f"metric {name!r} is a {_metric(name).task} metric, but the task is {kind}; use one of {', '.join(metrics_for(kind))}.")
        built.append(TASK_METRICS.build(name, knobs, head=head))
    return built
