"""The ``metrics:`` of a study file: catalog names (:data:`~hpsearch.catalog.TASK_METRICS`), each
alone or with its knobs (``{top_k_accuracy: {k: 3}}``); omitted knobs take their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch import catalog as _catalog
from hpsearch._errors import did_you_mean
from hpsearch.config._problems import Problem, as_mapping, show

__all__ = ["parse_metrics"]


def parse_metrics(metrics: Any) -> tuple[str | dict[str, dict[str, Any]], ...] | None:
    """``[accuracy, {top_k_accuracy: {k: 3}}]`` -> ``("accuracy", {"top_k_accuracy": {"k": 3}})``.

    Raises:
        Problem: an unknown metric or knob, a bad knob value, a metric listed twice.
    """
    if metrics is None:
        return None
    if isinstance(metrics, (str, Mapping)):
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)) or not metrics:
        raise Problem("", f"expected a list of metric names, got {show(metrics)}; e.g. [accuracy, auc] or [{{top_k_accuracy: {{k: 3}}}}]")
    out: list[str | dict[str, dict[str, Any]]] = []
    for i, entry in enumerate(metrics):
        name, knobs = (next(iter(entry.items())) if isinstance(entry, Mapping) and len(entry) == 1 else (entry, None))
        if not isinstance(name, str) or name not in _catalog.TASK_METRICS:
            raise Problem(str(i), f"unknown metric {name!r}{did_you_mean(str(name), _catalog.TASK_METRICS)}; expected one of {', '.join(_catalog.TASK_METRICS)}")
        if knobs is None:
            out.append(name)
            continue
        table = _catalog.TASK_METRICS[name]
        knobs = as_mapping(knobs, f"{i}.{name}")
        for key, value in knobs.items():
            if key not in table:
                raise Problem(f"{i}.{name}.{key}", f"unknown option; {name} has {', '.join(table) or 'none'}")
            problem = table[key].problem(value)
            if problem:
                raise Problem(f"{i}.{name}.{key}", problem)
        out.append({name: {k: knobs.get(k, knob.default) for k, knob in table.items()}})
    names = [e if isinstance(e, str) else next(iter(e)) for e in out]
    if len(set(names)) != len(names):
        raise Problem("", f"lists a metric twice ({show(names)}); list each once")
    return tuple(out)
