"""One tunable value (:class:`Knob`) and the Optuna/MLflow name of a branch knob."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Knob", "param_name", "unit", "positive"]


@dataclass(frozen=True)
class Knob:
    """One tunable value: its Python type, default, legal domain, and a line for the user.

    ``low``/``high`` bound the domain (inclusive unless ``*_open``); ``choices`` restricts a
    string knob to a set of names.
    """

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def domain(self) -> str:
        """Human-readable domain, e.g. ``"a float in (0, 1)"``."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[self.kind]
        if self.low is None and self.high is None:
            return name
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"{name} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"

    def problem(self, value: Any) -> str | None:
        """Return why ``value`` is not legal for this knob, or ``None`` if it is."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"expected {self.domain()}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"expected {self.domain()}, got {value!r}"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"expected {self.domain()}, got {value!r}"
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return f"expected {self.domain()}, got {value!r}"
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def unit(default: float, doc: str, *, low_open: bool = False, high_open: bool = True) -> Knob:
    """A float knob in [0, 1) (ends open or closed as asked)."""
    return Knob(float, default, 0.0, 1.0, low_open=low_open, high_open=high_open, doc=doc)


def positive(default: float, doc: str) -> Knob:
    """A float knob in (0, inf)."""
    return Knob(float, default, 0.0, None, low_open=True, doc=doc)


def param_name(branch: str, knob: str) -> str:
    """Optuna/MLflow name of a branch knob: ``param_name("sgd", "momentum") == "sgd.momentum"``."""
    return f"{branch}.{knob}"
