"""The search space in action: the only module that calls ``trial.suggest_*``.

:func:`sample` turns a :class:`~hpsearch.config.SearchSpace` and an Optuna trial into a plain,
flat dict of *every* parameter the model needs (fixed ones included). Fixed values are not
suggested to Optuna: tables, importances and plots show only what really varies, while the
returned dict (logged to MLflow) is complete.

Conditional knobs are sampled only under their branch, so TPE (``group=True``) models them
separately: ``sgd.momentum`` exists only in trials whose ``optimizer`` is ``sgd``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.catalog import param_name
from hpsearch.config import Branch, Choice, Conditional, Fixed, Group, ParamSpec, Range, SearchSpace
from hpsearch.config._space_types import range_points

if TYPE_CHECKING:
    import optuna

__all__ = ["sample", "first_point", "last_point", "representative_point", "describe", "align_choices"]


def _suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        return trial.suggest_categorical(name, list(spec.choices))
    if spec.integer:
        step = int(spec.step) if spec.step is not None else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)


def sample(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample one configuration: ``{"optimizer": "sgd", "sgd.momentum": 0.9, ...}``.

    Retried trials carry their params already; Optuna then returns those same values here, so a
    retry trains exactly what the failed attempt trained.
    """
    params: dict[str, Any] = {}
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            branch_spec: ParamSpec = Choice(spec.names) if len(spec.branches) > 1 else Fixed(spec.names[0])
            chosen = _suggest(trial, role, branch_spec)
            params[role] = chosen
            for knob, knob_spec in spec.branch(chosen).knobs:
                name = param_name(chosen, knob)
                params[name] = _suggest(trial, name, knob_spec)
        elif isinstance(spec, Group):
            for knob, knob_spec in spec.knobs:
                name = param_name(role, knob)
                params[name] = _suggest(trial, name, knob_spec)
        else:
            params[role] = _suggest(trial, role, spec)
    return params


def _first(spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        return spec.choices[0]
    return int(spec.low) if spec.integer else spec.low


def _last(spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        return spec.choices[-1]
    points = range_points(spec)
    return points[-1] if points is not None else spec.high


def _point(space: SearchSpace, end: int) -> dict[str, Any]:
    pick = _first if end == 0 else _last
    params: dict[str, Any] = {}
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            branch = spec.branches[end]
            params[role] = branch.name
            params.update({param_name(branch.name, knob): pick(s) for knob, s in branch.knobs})
        elif isinstance(spec, Group):
            params.update({param_name(role, knob): pick(s) for knob, s in spec.knobs})
        else:
            params[role] = pick(spec)
    return params


def first_point(space: SearchSpace) -> dict[str, Any]:
    """One point of ``space`` without a trial (fixed values, first choices, the low end of ranges),
    named as :func:`sample` names it: what a model is dry-built with before any trial."""
    return _point(space, 0)


def last_point(space: SearchSpace) -> dict[str, Any]:
    """The other end of ``space`` (last branches and choices, the high end of ranges, on their
    step): where a builder's knobs behind a branch show (see :func:`first_point`)."""
    return _point(space, -1)


def _middle(spec: Range) -> tuple[Any, str]:
    """The middle of a range: geometric when it is positive (a log range's typical value), else
    arithmetic; an integer or stepped range's nearest point (exactly a value Optuna samples)."""
    geometric = spec.low > 0
    mid = math.sqrt(spec.low * spec.high) if geometric else (spec.low + spec.high) / 2
    points = range_points(spec)
    if points is not None:
        mid = min(points, key=lambda p: abs(p - mid))
    return mid, "geometric middle of the range" if geometric else "middle of the range"


def _representative(spec: ParamSpec) -> tuple[Any, str]:
    if isinstance(spec, Fixed):
        return spec.value, "fixed"
    if isinstance(spec, Choice):
        return spec.choices[0], "first choice"
    return _middle(spec)


def representative_point(space: SearchSpace, branches: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    """One deterministic, typical point of ``space`` without a trial: fixed values, the first of
    each choice, the middle of each range (:func:`_middle`); a conditional role takes the branch
    ``branches`` names for it (knobs of a branch the space does not list take their defaults, so
    only a branch without knobs, such as ``schedule: none``, should be named outside the space),
    else its first. Named as :func:`sample` names them.

    Returns:
        The params, and ``(name, value, why)`` for every parameter the space searches or
        ``branches`` set: what a user is told the point is made of.
    """
    chosen = dict(branches or {})
    params: dict[str, Any] = {}
    notes: list[tuple[str, Any, str]] = []

    def take(name: str, spec: ParamSpec) -> None:
        params[name], why = _representative(spec)
        if why != "fixed":
            notes.append((name, params[name], why))

    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            name = chosen.get(role, spec.names[0])
            branch = spec.branch(name) if name in spec.names else Branch(name)
            params[role] = name
            if role in chosen or len(spec.branches) > 1:
                notes.append((role, name, "asked for" if role in chosen else "first choice"))
            for knob, knob_spec in branch.knobs:
                take(param_name(name, knob), knob_spec)
        elif isinstance(spec, Group):
            for knob, knob_spec in spec.knobs:
                take(param_name(role, knob), knob_spec)
        else:
            take(role, spec)
    return params, notes


def _in_order(values: Sequence[Any], recorded: Sequence[Any]) -> tuple[Any, ...] | None:
    """``values`` sorted into the order of ``recorded``; ``None`` unless they are the same set."""
    if len(values) != len(recorded) or any(v not in recorded for v in values):
        return None
    return tuple(sorted(values, key=lambda v: list(recorded).index(v)))


def align_choices(space: SearchSpace, recorded: Mapping[str, Sequence[Any]]) -> tuple[SearchSpace, list[str]]:
    """Put every categorical parameter's choices in the order a study's trials recorded.

    Optuna stores a categorical value as its index among the choices, and refuses a parameter
    whose choices differ from those already recorded in the study ("dynamic value space"), so
    every process of a study must list them in the same order. A process reads its choices from a
    study file or from the configuration stored with the study; studies stored before hpsearch
    kept that order had their branches sorted. ``recorded`` -- parameter name -> the choices its
    trials were sampled from -- is the authority: choices that are the same set in another order
    are reordered to match.

    Returns:
        The aligned space, and one description per parameter whose choices are not the recorded
        set (left as they are; sampling them would fail).
    """
    conflicts: list[str] = []

    def aligned(name: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if name not in recorded or len(values) < 2:
            return values
        ordered = _in_order(values, recorded[name])
        if ordered is None:
            conflicts.append(f"{name} (the study's trials used {list(recorded[name])}, now {list(values)})")
            return values
        return ordered

    def aligned_spec(name: str, spec: ParamSpec) -> ParamSpec:
        return Choice(aligned(name, spec.choices)) if isinstance(spec, Choice) else spec

    changes: dict[str, Any] = {}
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            branches = {
                b.name: Branch(b.name, tuple((k, aligned_spec(param_name(b.name, k), s)) for k, s in b.knobs))
                for b in spec.branches
            }
            changes[role] = Conditional(tuple(branches[name] for name in aligned(role, spec.names)))
        elif isinstance(spec, Group):
            changes[role] = Group(tuple((k, aligned_spec(param_name(role, k), s)) for k, s in spec.knobs))
        else:
            changes[role] = aligned_spec(role, spec)
    return dataclasses.replace(space, **changes), conflicts


def _describe_spec(spec: ParamSpec) -> str:
    if isinstance(spec, Fixed):
        return f"fixed {spec.value!r}"
    if isinstance(spec, Choice):
        return "one of " + ", ".join(map(repr, spec.choices))
    assert isinstance(spec, Range)
    kind = "int" if spec.integer else "float"
    extra = " log" if spec.log else (f" step {spec.step}" if spec.step is not None else "")
    return f"{kind} in [{spec.low}, {spec.high}]{extra}"


def describe(space: SearchSpace) -> list[tuple[str, str, str]]:
    """Rows ``(parameter, distribution, condition)`` describing the space, in sampling order."""
    rows: list[tuple[str, str, str]] = []
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            names = spec.names
            rows.append((role, _describe_spec(Choice(names) if len(names) > 1 else Fixed(names[0])), ""))
            for branch in spec.branches:
                for knob, knob_spec in branch.knobs:
                    rows.append((param_name(branch.name, knob), _describe_spec(knob_spec), f"{role} == {branch.name!r}"))
        elif isinstance(spec, Group):
            rows += [(param_name(role, knob), _describe_spec(knob_spec), "") for knob, knob_spec in spec.knobs]
        else:
            rows.append((role, _describe_spec(spec), ""))
    return rows
