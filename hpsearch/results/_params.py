"""Param sets in study-file syntax: the best trial's, to paste into a study, and those a user
queues to run first (``hpsearch enqueue``), checked against the study's search space.

A param set is written like a study file's ``search_space`` with every value fixed -- a scalar
role as a value, a conditional role as ``{branch: {knob: value}}`` (or just the branch's name) --
or with the flat names ``show`` prints (``sgd.momentum: 0.9``). Roles left out of a queued set
are sampled as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from hpsearch._errors import UsageError
from hpsearch.catalog import CONDITIONAL_ROLES, SCALAR_ROLES, param_name
from hpsearch.config import Choice, Conditional, Fixed, ParamSpec, SearchSpace, StudyConfig
from hpsearch.config._problems import Problem, coerce
from hpsearch.keys import TrialAttr
from hpsearch.study._ranking import first_value

__all__ = ["best_params_yaml", "fixed_space", "read_param_sets", "check_param_set", "enqueue_param_sets"]


# ----------------------------------------------------------------------------- best params -> YAML


def _value(params: Mapping[str, Any], name: str, spec: ParamSpec) -> Any:
    return spec.value if isinstance(spec, Fixed) else params[name]


def fixed_space(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """``search_space`` mapping fixing every role at the value of ``params`` (a trial's params)."""
    out: dict[str, Any] = {}
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            chosen = params[role] if len(spec.branches) > 1 else spec.names[0]
            knobs = spec.branch(chosen).knobs
            out[role] = {chosen: {k: _value(params, param_name(chosen, k), s) for k, s in knobs}}
        else:
            out[role] = _value(params, role, spec)
    return out


def best_params_yaml(study_name: str, config: StudyConfig, trial: Any) -> str:
    """The params of ``trial`` (a FrozenTrial) as a study file's ``search_space`` section."""
    value = first_value(trial)
    score = "" if value is None else f" ({config.all_objectives()[0].metric} {value:.6g})"
    header = (
        f"# Best trial {trial.number} of study {study_name}{score}.\n"
        "# Paste into a study file to fix these values, or queue them: hpsearch enqueue NAME FILE.yaml\n"
    )
    body = yaml.safe_dump({"search_space": fixed_space(config.search_space, trial.params)}, sort_keys=False)
    return header + body


# ----------------------------------------------------------------------------- queued sets <- YAML


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


def _flat_to_nested(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optimizer": "sgd", "sgd.momentum": 0.9}`` -> ``{"optimizer": {"sgd": {"momentum": 0.9}}}``."""
    nested: dict[str, Any] = {k: v for k, v in raw.items() if "." not in str(k)}
    for key, value in raw.items():
        if "." not in str(key):
            continue
        branch, _, knob = str(key).partition(".")
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
    raw = _flat_to_nested(raw)
    roles = dict(space.roles())
    params: dict[str, Any] = {}
    for role, value in raw.items():
        spec = roles.get(role)
        at = f"{where}: {role}"
        if spec is None:
            raise UsageError(f"{at}: not a parameter of the search space (parameters: {', '.join(roles)}).")
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
        elif not isinstance(spec, Fixed):
            missing.append(role)
    missing = [name for name in missing if name not in params]
    if missing:
        raise UsageError(
            f"{where}: the grid sampler needs every searched parameter in a queued set; missing {', '.join(missing)}."
        )


def read_param_sets(path: str | Path, config: StudyConfig) -> list[dict[str, Any]]:
    """The param sets of a YAML file (one mapping, or a list of them), each checked against the
    study's search space.

    Raises:
        UsageError: unreadable file, or one line naming the first bad set, parameter and value.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise UsageError(f"Cannot read {path}: {e.strerror or e}.") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    sets: Sequence[Any] = raw if isinstance(raw, list) else [raw]
    if not sets or raw is None:
        raise UsageError(f"{path}: no param sets; write one mapping of parameter -> value, or a list of them.")
    need_all = config.sampler.name == "grid"
    return [
        check_param_set(config.search_space, s, f"{path}" + (f" [set {i + 1}]" if len(sets) > 1 else ""), need_all=need_all)
        for i, s in enumerate(sets)
    ]


def enqueue_param_sets(study: Any, sets: Sequence[Mapping[str, Any]], source: str) -> tuple[int, int]:
    """Queue each set to run before anything the sampler suggests (Optuna's ``enqueue_trial``);
    a set already queued or run is skipped. Returns ``(queued, skipped)``."""
    before = len(study.get_trials(deepcopy=False))
    for params in sets:
        study.enqueue_trial(dict(params), user_attrs={TrialAttr.ENQUEUED_FROM: source}, skip_if_exists=True)
    queued = len(study.get_trials(deepcopy=False)) - before
    return queued, len(sets) - queued
