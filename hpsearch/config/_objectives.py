"""The ``objectives:`` of a multi-objective study file: a list of ``{name: direction}``.

``name`` is a metric the model logs (checked as ``objective.metric`` is) or one hpsearch measures
on the trained model (:data:`~hpsearch.catalog.MEASURED`: ``params``, ``latency_ms``, minimized).
The first *metric* of the list is the trial's monitor (its best epoch, checkpoint and early
stopping); a study's "best" trial is the best by the *first* objective.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hpsearch import catalog as _catalog
from hpsearch.config._problems import Problem, show
from hpsearch.config._sections import ObjectiveConfig, ValidationConfig, _Frozen

__all__ = ["Objective", "parse_objectives", "monitor_of", "objectives_layout", "check_strategies"]

_EXAMPLE = "e.g. [{val_accuracy: maximize}, {params: minimize}]"


class Objective(_Frozen):
    """One objective of a multi-objective study: a logged metric or a measured quantity."""

    metric: str
    direction: str

    @property
    def measured(self) -> bool:
        """Measured on the trained model (``params``, ``latency_ms``), not a logged metric."""
        return self.metric in _catalog.MEASURED


def _entry(raw: Any, i: int) -> tuple[str, str | None]:
    """``{val_accuracy: maximize}`` -> ``("val_accuracy", "maximize")``; ``params`` -> ``("params", None)``."""
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, Mapping) and len(raw) == 1:
        name, direction = next(iter(raw.items()))
        return name, direction
    raise Problem(str(i), f"expected one `metric: direction` pair, got {show(raw)}; {_EXAMPLE}")


def _objective(name: Any, direction: Any, i: int) -> Objective:
    where = f"{i}.{name}"
    if isinstance(name, str) and name in _catalog.MEASURED:
        if direction not in (None, "minimize"):
            raise Problem(where, f"expected minimize, got {direction!r}; maximizing {name} would select the costliest models")
        return Objective(metric=name, direction="minimize")
    try:
        checked = ObjectiveConfig.model_validate({"metric": name} if direction is None else {"metric": name, "direction": direction})
    except ValidationError as e:
        cause = e.errors()[0].get("ctx", {}).get("error")
        message = cause.message if isinstance(cause, Problem) else e.errors()[0]["msg"]
        message = message.replace("use direction: ", f"use {name}: ")
        if e.errors()[0]["loc"] == ("metric",):
            message += f", or a measured one ({', '.join(_catalog.MEASURED)})"
        raise Problem(str(i) if e.errors()[0]["loc"] == ("metric",) else where, message) from None
    return Objective(metric=checked.metric, direction=checked.direction)


def parse_objectives(raw: Any) -> tuple[Objective, ...] | None:
    """The validated list, in the file's order (``None`` when the key is absent).

    Raises:
        Problem: not a list of at least two, an unknown metric, a direction that would select the
            worst models, a name listed twice, or no logged metric at all.
    """
    if raw is None:
        return None
    if isinstance(raw, tuple) and all(isinstance(o, Objective) for o in raw):
        return raw
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:
        got = f"a list of {len(raw)}" if isinstance(raw, (list, tuple)) else show(raw)
        raise Problem("", f"expected a list of two or more objectives, got {got}; {_EXAMPLE} (one objective: use objective:)")
    out = [o if isinstance(o, Objective) else _objective(*_entry(o, i), i) for i, o in enumerate(raw)]
    names = [o.metric for o in out]
    if len(set(names)) != len(names):
        raise Problem("", f"lists an objective twice ({', '.join(names)}); list each once")
    if all(o.measured for o in out):
        raise Problem(
            "", f"needs a metric the model logs (e.g. val_accuracy or val_loss) besides {', '.join(names)}: it picks each trial's best epoch"
        )
    return tuple(out)


def monitor_of(raw: Any) -> dict[str, Any] | None:
    """The ``objective:`` a raw ``objectives:`` list implies: its first logged metric (the trial's
    monitor), or ``None`` when the list is not readable (its own validation then says why)."""
    if not isinstance(raw, (list, tuple)):
        return None
    for i, entry in enumerate(raw):
        if isinstance(entry, Objective):
            name, direction = entry.metric, entry.direction
        else:
            try:
                name, direction = _entry(entry, i)
            except Problem:
                return None
        if isinstance(name, str) and name not in _catalog.MEASURED:
            return {"metric": name} if direction is None else {"metric": name, "direction": direction}
    return None


def objectives_layout(raw: Any) -> Any:
    """A study file's mapping with ``objectives:`` resolved: it excludes ``objective:`` (it implies
    it: its first logged metric) and defaults the pruner to ``none`` (Optuna cannot prune a
    multi-objective trial)."""
    if not isinstance(raw, Mapping) or raw.get("objectives") is None:
        return raw
    if "objective" in raw:
        raise Problem(
            "objectives",
            "is set together with objective:; a study has one objective (objective:) or several (objectives:), remove one",
        )
    raw = dict(raw)
    monitor = monitor_of(raw["objectives"])
    if monitor is not None:
        raw["objective"] = monitor
    raw.setdefault("pruner", "none")
    return raw


def check_strategies(objectives: tuple[Objective, ...] | None, sampler: str, pruner: str, validation: ValidationConfig | None) -> None:
    """Several objectives: a sampler Optuna can use with them, no pruner, no K-fold.

    Raises:
        Problem: at ``sampler``, ``pruner`` or ``validation.folds``.
    """
    if objectives is None:
        return
    if not getattr(_catalog.SAMPLERS.option(sampler), "multi_objective", True):
        able = [n for n in _catalog.SAMPLERS if getattr(_catalog.SAMPLERS.option(n), "multi_objective", True)]
        raise Problem("sampler", f"{sampler} cannot search several objectives; use one of {', '.join(able)} (nsgaii is made for it)")
    if pruner != "none":
        raise Problem(
            "pruner",
            f"Optuna cannot prune a trial of a study with several objectives, got pruner {pruner}; "
            "remove pruner: (it defaults to none here) -- early stopping still applies",
        )
    if validation is not None and validation.folds:
        raise Problem("validation.folds", "K-fold cross-validation is not supported with several objectives; remove validation: or use objective:")
