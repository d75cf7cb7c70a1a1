"""Reading the monitored metric from the epoch logs, and comparing it with the best so far."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MissingMetricError", "monitored_value", "tie_value", "better", "better_or_tied", "tied_with_lower"]


class MissingMetricError(KeyError):
    """The monitored metric is not in the epoch logs; the message lists the metrics that are."""

    def __init__(self, monitor: str, logs: Mapping[str, Any]) -> None:
        available = ", ".join(sorted(logs)) or "none"
        super().__init__(f"Metric {monitor!r} is not in the epoch logs; available: {available}.")

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


def monitored_value(logs: Mapping[str, Any], monitor: str) -> float | None:
    """``logs[monitor]`` as a float.

    Raises:
        MissingMetricError: ``monitor`` is not in ``logs`` (the message lists what is).
    """
    if monitor not in logs:
        raise MissingMetricError(monitor, logs)
    value = logs[monitor]
    return None if value is None else float(value)


def tie_value(logs: Mapping[str, Any], tie_break: str | None) -> float | None:
    """``logs[tie_break]`` as a float; ``None`` without a tie-breaker or when the logs lack it."""
    value = logs.get(tie_break) if tie_break else None
    return None if value is None else float(value)


def better(mode: str) -> Callable[[float, float | None], bool]:
    """``better(value, best)``: whether ``value`` improves on ``best`` (``None``: nothing yet)."""
    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', but got ({mode=}).")

    def is_better(value: float, best: float | None) -> bool:
        if math.isnan(value):
            return False
        return best is None or (value > best if mode == "max" else value < best)

    return is_better


def better_or_tied(mode: str) -> Callable[[float, float | None, float | None, float | None], bool]:
    """``is_best(value, tie, best, best_tie)``: ``value`` improves on ``best``, or equals it with a
    lower tie-breaker (a loss: lower is better; ``None``: no tie-breaker, the earlier one stays)."""
    improves = better(mode)

    def is_best(value: float, tie: float | None, best: float | None, best_tie: float | None) -> bool:
        return improves(value, best) or tied_with_lower(value, tie, best, best_tie)

    return is_best


def tied_with_lower(value: float | None, tie: float | None, best: float | None, best_tie: float | None) -> bool:
    """Whether ``value`` equals ``best`` with a lower tie-breaker (a loss; ``None``: no tie-breaker,
    the earlier epoch stays)."""
    if value is None or value != best or tie is None or math.isnan(tie):
        return False
    return best_tie is None or tie < best_tie
