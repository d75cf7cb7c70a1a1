"""One validation problem = one dotted key path + one message; the checks of raw YAML values.

The table-driven parts of a study file (search-space parameters, sampler and pruner options) are
checked against the catalog's :class:`~hpsearch.catalog.Knob` domains with these helpers;
the fixed sections are pydantic models (``_sections``) whose numeric fields use the same
:func:`coerce` through :class:`~hpsearch.config._sections.Domain`, so every value gets the same
rules and the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hpsearch._errors import did_you_mean
from hpsearch.catalog import Knob

__all__ = ["Problem", "join", "show", "as_mapping", "check_keys", "unknown_key", "coerce", "normalize_name"]


class Problem(ValueError):
    """A problem at ``where``: a dotted key path relative to the value being checked.

    A :class:`ValueError`, so that raised inside a pydantic validator it becomes that field's
    error; ``_schema`` prefixes the field's own path when it reports it.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def join(where: str, key: Any) -> str:
    """``join("budget", "trials") == "budget.trials"``; list indexes as ``where[2]``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def show(value: Any) -> str:
    """A value as a message shows it: a mapping or a list by its kind, anything else by repr."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def as_mapping(raw: Any, where: str) -> dict[str, Any]:
    """A section's raw value as a dict; an empty (``None``) section is an empty dict."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise Problem(where, f"expected a mapping of keys to values, got {show(raw)}")
    return dict(raw)


def unknown_key(key: Any, allowed: Iterable[Any]) -> str:
    """``"unknown key (did you mean 'trials'?)"``, or the list of known keys when none is close."""
    allowed = list(allowed)
    hint = did_you_mean(key, allowed) or f" (known keys: {', '.join(map(str, allowed))})"
    return f"unknown key{hint}"


def check_keys(raw: Mapping[str, Any], allowed: Iterable[Any], where: str) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            raise Problem(join(where, key), unknown_key(key, allowed))


def coerce(value: Any, knob: Knob, where: str) -> Any:
    """Accept ints for float knobs and integral floats for int knobs; then check the domain."""
    if knob.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif knob.kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    elif knob.kind is str and isinstance(value, str) and knob.choices is not None:
        normalized = value.strip().lower().replace("-", "_")
        if normalized in knob.choices:
            value = normalized
        elif value not in knob.choices:
            raise Problem(where, f"unknown value {value!r}{did_you_mean(value, knob.choices)}; expected {knob.domain()}")
    problem = knob.problem(value)
    if problem:
        raise Problem(where, problem)
    return value


def normalize_name(name: Any, table: Mapping[str, Any], where: str) -> str:
    """An option's name as the catalog spells it (``Natural-Exp`` -> ``natural_exp``), or a problem."""
    if not isinstance(name, str):
        raise Problem(where, f"expected one of {', '.join(table)}, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key not in table:
        raise Problem(where, f"unknown choice {name!r}{did_you_mean(key, table)}; expected one of {', '.join(table)}")
    return key
