"""Param sets: fixed values for some or all of a study's searched parameters, checked against its
search space -- the study file's ``enqueue:`` list and the files ``hpsearch enqueue`` reads.

A param set is written like a study file's ``search_space`` with every value fixed -- a scalar
role as a value, a conditional role as ``{branch: {knob: value}}`` (or just the branch's name) --
or with the flat names ``show`` prints (``sgd.momentum: 0.9``). Roles left out of a set are
sampled as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from hpsearch._errors import UsageError
from hpsearch.catalog import CONDITIONAL_ROLES, SCALAR_ROLES, Knob, param_name
from hpsearch.config._problems import Problem, coerce, show
from hpsearch.config._space import Choice, Conditional, Fixed, Group, ParamSpec, Range, SearchSpace

__all__ = ["check_param_set", "parse_param_sets", "queued_params"]


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}.")


def _in_spec(value: Any, spec: ParamSpec) -> str | None:
    """Why ``value`` (already of the right type) is not a value ``spec`` can take, or None."""
    if isinstance(spec, Fixed):
        return None if value == spec.value else f"the study fixes it at {spec.value!r}, got {value!r}"
    if isinstance(spec, Choice):
        if value in spec.choices:
            return None
        return f"{value!r} is not one of the study's choices ({', '.join(map(repr, spec.choices))})"
    if not spec.low <= value <= spec.high:
        return f"{value!r} is outside the study's range [{spec.low}, {spec.high}]"
    if spec.step is not None and (Decimal(str(value)) - Decimal(str(spec.low))) % Decimal(str(spec.step)):
        return f"{value!r} is not on the study's grid {spec.low}, {spec.low + spec.step}, ... (step {spec.step})"
    return None


def _checked(value: Any, knob: Any, spec: ParamSpec, where: str) -> Any:
    try:
        value = coerce(value, knob, where)
    except Problem as p:
        raise _fail(p.where or where, p.message) from None
    problem = _in_spec(value, spec)
    if problem is not None:
        raise _fail(where, problem)
    return value


def _flat_to_nested(raw: Mapping[str, Any], groups: tuple[str, ...]) -> dict[str, Any]:
    """``{"optimizer": "sgd", "sgd.momentum": 0.9}`` -> ``{"optimizer": {"sgd": {"momentum": 0.9}}}``;
    a group role's ``{"augmentation.zoom": 0.1}`` -> ``{"augmentation": {"zoom": 0.1}}``."""
    nested: dict[str, Any] = {k: v for k, v in raw.items() if "." not in str(k)}
    for key, value in raw.items():
        if "." not in str(key):
            continue
        branch, _, knob = str(key).partition(".")
        if branch in groups:
            nested[branch] = {**dict(nested.get(branch) or {}), knob: value}
            continue
        role = next((r for r, (table, _) in CONDITIONAL_ROLES.items() if branch in table), None)
        if role is None:
            raise UsageError(f"{key}: no role has a branch {branch!r}.")
        chosen = nested.get(role)
        if isinstance(chosen, str):
            chosen = {chosen: {}}
        chosen = dict(chosen or {branch: {}})
        if branch not in chosen:
            raise UsageError(f"{key}: the set picks {role} {next(iter(chosen))!r}, not {branch!r}.")
        chosen[branch] = {**dict(chosen[branch] or {}), knob: value}
        nested[role] = chosen
    return nested


def check_param_set(space: SearchSpace, raw: Any, where: str, *, need_all: bool = False) -> dict[str, Any]:
    """The Optuna params of one queued set (only what the study searches), every value checked
    against ``space``.

    Raises:
        UsageError: one line naming the bad parameter and value (``where`` first).
    """
    if isinstance(raw, Mapping) and set(raw) == {"search_space"}:
        raw = raw["search_space"]
    if not isinstance(raw, Mapping) or not raw:
        raise UsageError(f"{where}: expected a mapping of parameter -> value, got {raw!r}.")
    roles = dict(space.roles())
    raw = _flat_to_nested(raw, tuple(r for r, s in roles.items() if isinstance(s, Group)))
    params: dict[str, Any] = {}
    for role, value in raw.items():
        spec = roles.get(role)
        at = f"{where}: {role}"
        if spec is None:
            raise UsageError(f"{at}: not a parameter of the search space (parameters: {', '.join(roles)}).")
        if isinstance(spec, Group):
            params.update(_checked_group(spec, role, value, where))
            continue
        if not isinstance(spec, Conditional):
            checked = _checked(value, SCALAR_ROLES[role], spec, at)
            if not isinstance(spec, Fixed):
                params[role] = checked
            continue
        if isinstance(value, str):
            value = {value: {}}
        if not isinstance(value, Mapping) or len(value) != 1:
            raise _fail(at, f"expected one {role} name, or {{name: {{option: value}}}}, got {value!r}")
        (chosen, knobs), = value.items()
        if chosen not in spec.names:
            raise _fail(at, f"{chosen!r} is not one of the study's choices ({', '.join(map(repr, spec.names))})")
        if len(spec.branches) > 1:
            params[role] = chosen
        table = CONDITIONAL_ROLES[role][0][chosen]
        branch = dict(spec.branch(chosen).knobs)
        for knob, knob_value in dict(knobs or {}).items():
            name = param_name(chosen, knob)
            if knob not in branch:
                raise _fail(f"{where}: {name}", f"{chosen} has no option {knob!r} (options: {', '.join(branch) or 'none'})")
            checked = _checked(knob_value, table[knob], branch[knob], f"{where}: {name}")
            if not isinstance(branch[knob], Fixed):
                params[name] = checked
    if need_all:
        _require_all(space, params, where)
    return params


def _spec_knob(spec: ParamSpec) -> Knob:
    """A group knob's type, read from its spec (a builder's knobs have no catalog entry)."""
    if isinstance(spec, Range):
        return Knob(int if spec.integer else float, spec.low)
    values = [spec.value] if isinstance(spec, Fixed) else list(spec.choices)
    kinds = {type(v) for v in values}
    return Knob(float if kinds == {int, float} else type(values[0]), values[0])


def _checked_group(spec: Group, role: str, value: Any, where: str) -> dict[str, Any]:
    """The params of a group role's ``{knob: value}`` mapping (``augmentation``, a model's knobs)."""
    if not isinstance(value, Mapping):
        raise _fail(f"{where}: {role}", f"expected a mapping of {role} option -> value, got {value!r}")
    knobs = dict(spec.knobs)
    params = {}
    for knob, knob_value in value.items():
        name = param_name(role, knob)
        if knob not in knobs:
            raise _fail(f"{where}: {name}", f"{role} has no option {knob!r} (options: {', '.join(knobs) or 'none'})")
        checked = _checked(knob_value, _spec_knob(knobs[knob]), knobs[knob], f"{where}: {name}")
        if not isinstance(knobs[knob], Fixed):
            params[name] = checked
    return params


def _require_all(space: SearchSpace, params: Mapping[str, Any], where: str) -> None:
    """The grid sampler runs a queued set only when it gives every searched parameter."""
    missing = []
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            if len(spec.branches) > 1 and role not in params:
                missing.append(role)
                continue
            chosen = params.get(role, spec.names[0])
            missing += [param_name(chosen, k) for k, s in spec.branch(chosen).knobs if not isinstance(s, Fixed)]
        elif isinstance(spec, Group):
            missing += [param_name(role, k) for k, s in spec.knobs if not isinstance(s, Fixed)]
        elif not isinstance(spec, Fixed):
            missing.append(role)
    missing = [name for name in missing if name not in params]
    if missing:
        raise UsageError(
            f"{where}: the grid sampler needs every searched parameter in a queued set; missing {', '.join(missing)}."
        )


# ----------------------------------------------------------------------------- a study file's enqueue:


def parse_param_sets(raw: Any) -> tuple[dict[str, Any], ...] | None:
    """A study file's ``enqueue:`` -- a list of param sets (one mapping: one set) -- as stored."""
    if raw is None:
        return None
    sets = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(sets, (list, tuple)) or not sets or not all(isinstance(s, Mapping) and s for s in sets):
        raise Problem("", f"expected a list of param sets ({{parameter: value}} mappings), got {show(raw)}")
    return tuple(dict(s) for s in sets)


def queued_params(sets: Sequence[Mapping[str, Any]], space: SearchSpace, *, need_all: bool) -> list[dict[str, Any]]:
    """The Optuna params of each ``enqueue:`` set, checked against ``space``.

    Raises:
        Problem: at ``enqueue``, naming the set, the parameter and the value.
    """
    out = []
    for i, raw in enumerate(sets):
        try:
            out.append(check_param_set(space, raw, f"set {i + 1}", need_all=need_all))
        except UsageError as e:
            raise Problem("enqueue", str(e).rstrip(".")) from None
    return out
