"""The search space of a study file: one spec per parameter, checked against the catalog's knobs.

Each role of :data:`~hpsearch.catalog.ROLE_ORDER` is a fixed value, a list of choices, a
``{low, high, log, step}`` range, or -- for the conditional roles (optimizer, schedule,
regularizer) -- a set of branches with specs of their own. The model's own knobs are a *group*
(:data:`~hpsearch.catalog.MODEL_ROLES`): ``architecture`` for the ``cnn`` family (checked against
its catalog knobs) and ``model`` for a builder you write (any names; each knob's type is read from
its values). What a value may be comes from the
catalog's :class:`~hpsearch.catalog.Knob` tables, so this parser is table-driven rather
than a pydantic model: a model per knob would restate the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hpsearch import catalog as _catalog
from hpsearch.catalog import Knob
from hpsearch.config._model import is_builder_ref
from hpsearch.config._problems import Problem, as_mapping, check_keys, coerce, join, normalize_name, show
from hpsearch.config._space_types import (
    Branch,
    Choice,
    Conditional,
    Fixed,
    Group,
    ParamSpec,
    Range,
    SearchSpace,
    range_points,
)

__all__ = [
    "Fixed",
    "Choice",
    "Range",
    "ParamSpec",
    "Branch",
    "Conditional",
    "Group",
    "SearchSpace",
    "parse_search_space",
    "default_search_space",
    "range_points",
]


# ----------------------------------------------------------------------------- parsing


def _parse_param(raw: Any, knob: Knob, where: str, *, stored: bool) -> ParamSpec:
    if raw is None:
        return Fixed(knob.default)
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        raw = raw["choices"]
        where = join(where, "choices")
    if isinstance(raw, list):
        if not raw:
            raise Problem(
                where,
                f"empty choice list; list at least one value, or delete the key to use the default ({knob.default!r})",
            )
        values = [coerce(v, knob, join(where, i)) for i, v in enumerate(raw)]
        dupes = sorted({repr(v) for v in values if values.count(v) > 1})
        if dupes:
            raise Problem(where, f"duplicate choices {', '.join(dupes)}; list each value once")
        return Fixed(values[0]) if len(values) == 1 else Choice(tuple(values))
    if isinstance(raw, Mapping):
        return _parse_range(raw, knob, where, stored=stored)
    return Fixed(coerce(raw, knob, where))


def _parse_range(raw: Mapping[str, Any], knob: Knob, where: str, *, stored: bool) -> Range:
    if knob.kind not in (int, float):
        raise Problem(where, f"a low/high range needs a numeric parameter; use a list of choices ({knob.domain()})")
    check_keys(raw, ("low", "high", "log", "step"), where)
    for bound in ("low", "high"):
        if bound not in raw:
            raise Problem(where, f"a range needs both `low` and `high`; `{bound}` is missing")
    # Types first, then the range's own rules (clearer than a domain error), then the domain.
    unbounded = Knob(knob.kind, knob.default)
    low = coerce(raw["low"], unbounded, join(where, "low"))
    high = coerce(raw["high"], unbounded, join(where, "high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise Problem(join(where, "log"), f"expected true or false, got {log!r}")
    step = raw.get("step")
    if low > high:
        raise Problem(where, f"`low <= high` must hold, but got ({low=}, {high=}); swap the bounds")
    if log and low <= 0:
        raise Problem(where, f"`low > 0` must hold for a log range, but got ({low=}); use a positive low or log: false")
    low = coerce(low, knob, join(where, "low"))
    high = coerce(high, knob, join(where, "high"))
    if step is not None:
        if log:
            raise Problem(where, "`step` and `log: true` cannot be combined; drop one of them")
        bad = isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0
        if bad or (knob.kind is int and not float(step).is_integer()):
            raise Problem(join(where, "step"), f"expected a positive {'integer' if knob.kind is int else 'number'}, got {step!r}")
        step = int(step) if knob.kind is int else float(step)
        if not stored:  # see parse_search_space
            _check_step(low, high, step, where)
    return Range(low=low, high=high, log=log, step=step, integer=knob.kind is int)


def _plain(value: Decimal) -> str:
    """``Decimal("100")`` -> ``"100"``, ``Decimal("0.40")`` -> ``"0.4"`` (never ``1E+2``)."""
    return format(value.normalize(), "f")


def _check_step(low: float, high: float, step: float, where: str) -> None:
    """Refuse a grid Optuna would silently change: it samples ``low, low + step, ...`` up to the
    last point ``<= high`` (a step wider than the range leaves only ``low``). Decimal arithmetic,
    as Optuna's own check, so ``0.1 .. 0.2 step 0.05`` is exact."""
    d_low, d_high, d_step = (Decimal(str(v)) for v in (low, high, step))
    span = d_high - d_low
    if span and d_step > span:
        raise Problem(
            where,
            f"`step <= high - low` must hold, but got (step={step}, high - low={_plain(span)}); only low={low} "
            "could ever be sampled. Use a smaller step, or a fixed value",
        )
    if span % d_step:
        below = d_low + (span // d_step) * d_step
        raise Problem(
            where,
            f"`high - low` must be a multiple of `step`, but got ({low=}, {high=}, {step=}); Optuna would silently "
            f"sample only up to {_plain(below)}. Use high: {_plain(below)} or high: {_plain(below + d_step)}",
        )


def _parse_conditional(raw: Any, role: str, where: str, *, stored: bool) -> Conditional:
    table, default = _catalog.CONDITIONAL_ROLES.get(role) or (_catalog.OPTIONAL_CONDITIONAL_ROLES[role], "")
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        raw = raw["choices"]
        where = join(where, "choices")
    if raw is None:
        selected: dict[str, Any] = {default: None}
    elif isinstance(raw, str):
        selected = {normalize_name(raw, table, where): None}
    elif isinstance(raw, list):
        if not raw:
            raise Problem(where, f"empty choice list; list at least one {role}, or delete the key to use {default!r}")
        selected = {}
        for i, name in enumerate(raw):
            key = normalize_name(name, table, join(where, i))
            if key in selected:
                raise Problem(join(where, i), f"duplicate choice {key!r}; list each {role} once")
            selected[key] = None
    elif isinstance(raw, Mapping):
        if not raw:
            raise Problem(where, f"empty mapping; name at least one {role}, or delete the key to use {default!r}")
        selected = {}
        for name, knobs in raw.items():
            key = normalize_name(name, table, join(where, name))
            selected[key] = knobs
    else:
        raise Problem(where, f"expected a {role} name, a list of names or a mapping of name -> options, got {show(raw)}")

    branches = []
    for name, knobs_raw in selected.items():
        bwhere = join(where, name)
        knobs_raw = as_mapping(knobs_raw, bwhere)
        check_keys(knobs_raw, table[name], bwhere)
        knobs = tuple(
            (knob_name, _parse_param(knobs_raw.get(knob_name), knob, join(bwhere, knob_name), stored=stored))
            for knob_name, knob in table[name].items()
        )
        branches.append(Branch(name, knobs))
    return Conditional(tuple(branches))


def _parse_group(raw: Any, knobs: Mapping[str, Knob], role: str, *, stored: bool) -> Group:
    """A group role: a mapping of its knobs (omitted knobs take their defaults)."""
    raw = as_mapping(raw, role)
    check_keys(raw, knobs, role)
    return Group(tuple((name, _parse_param(raw.get(name), knob, join(role, name), stored=stored)) for name, knob in knobs.items()))


_KNOB_KINDS = (bool, int, float, str)


def _kind_of(values: list[Any], where: str) -> type:
    """The one type of a user knob's values (ints and floats mixed: float)."""
    kinds = {type(v) for v in values}
    if not kinds <= set(_KNOB_KINDS):
        bad = next(v for v in values if type(v) not in _KNOB_KINDS)
        raise Problem(where, f"expected a number, true/false or a string, got {show(bad)}")
    if kinds == {int, float}:
        return float
    if len(kinds) > 1:
        raise Problem(where, f"mixes values of types {', '.join(sorted(k.__name__ for k in kinds))}; give values of one type")
    return kinds.pop()


def _user_knob(raw: Any, where: str) -> Knob:
    """The :class:`Knob` a user knob's spec implies: its type from its values, no bounds."""
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        raw = raw["choices"]
    if raw is None:
        raise Problem(where, "expected a value, a list of choices or a {low, high} range, got nothing")
    if isinstance(raw, Mapping):
        bounds = [raw[k] for k in ("low", "high", "step") if raw.get(k) is not None]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bounds)
        kind = int if numbers and all(isinstance(v, int) for v in bounds) else float
        return Knob(kind, bounds[0] if bounds else 0)
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        return Knob(str, None)  # _parse_param refuses an empty list
    return Knob(_kind_of(values, where), values[0])


def _parse_user_group(raw: Any, *, stored: bool) -> Group:
    """``search_space.model``: the knobs of a builder you write, any identifier as a name."""
    raw = as_mapping(raw, "model")
    reserved = (*_catalog.ROLE_ORDER, *_catalog.MODEL_ROLES)
    knobs = []
    for name, spec in raw.items():
        where = join("model", name)
        if not isinstance(name, str) or not name.isidentifier():
            raise Problem(where, f"a knob name must be an identifier (read as hp[{name!r}]); use letters, digits and _")
        if name in reserved:
            raise Problem(where, f"{name!r} is a standard role, which hp[{name!r}] already gives; name your knob otherwise")
        knobs.append((name, _parse_param(spec, _user_knob(spec, where), where, stored=stored)))
    return Group(tuple(knobs))


def _model_groups(raw: Mapping[str, Any], model: str | None, *, stored: bool) -> dict[str, Group]:
    """The knob groups of ``model``: a family's (from the catalog), or a builder's (``model``)."""
    if model is None:  # the model itself was refused, and is reported
        return {}
    if is_builder_ref(model):
        if raw.get("architecture") is not None:
            raise Problem(
                "architecture", f"the knobs of the cnn family, and the model is your builder {model}; put its knobs under search_space.model"
            )
        return {} if raw.get("model") is None else {"model": _parse_user_group(raw["model"], stored=stored)}
    if model in _catalog.TABLE_MODELS:  # the MLP: its knobs are the `mlp` role
        for other in _catalog.MODEL_ROLES:
            if raw.get(other) is not None:
                raise Problem(other, f"the knobs of another model, and the model is {model}; its knobs go under search_space.{model}")
        return {}
    option = _catalog.MODELS.option(model)
    role = getattr(option, "role", "")
    for other in _catalog.MODEL_ROLES:
        if other != role and raw.get(other) is not None:
            owner = "a builder you write (model: path/to/file.py:function)" if other == "model" else "the cnn family (model: cnn)"
            theirs = f"; its knobs go under search_space.{role}" if role else ", which has no knobs"
            raise Problem(other, f"the knobs of {owner}, and the model is {model}{theirs}")
    return {role: _parse_group(raw.get(role), option.knobs, role, stored=stored)} if role else {}


def parse_search_space(raw: Any, *, stored: bool = False, model: str | None = None) -> SearchSpace:
    """Validate a study file's ``search_space`` mapping (``None``: every role at its default).

    Args:
        model: the study's ``model:`` (whose knobs ``architecture`` / ``model`` hold); ``None``
            when it was refused (its knobs are then not read).
        stored: the space a study was created with, read back from its storage: checks added
            after a study may have been created (a range ``step`` that does not divide it) are
            skipped, so such a study keeps loading.

    Raises:
        Problem: with a key path relative to ``search_space`` (``optimizer.sgd.momentum``).
    """
    raw = as_mapping(raw, "")
    check_keys(raw, (*_catalog.ROLE_ORDER, *_catalog.MODEL_ROLES, *_catalog.OPTIONAL_ROLES), "")
    values: dict[str, Any] = {}
    for role in _catalog.ROLE_ORDER:
        if role in _catalog.CONDITIONAL_ROLES:
            values[role] = _parse_conditional(raw.get(role), role, role, stored=stored)
        else:
            values[role] = _parse_param(raw.get(role), _catalog.SCALAR_ROLES[role], role, stored=stored)
    values.update(_model_groups(raw, model, stored=stored))
    for role in _catalog.OPTIONAL_ROLES:
        if raw.get(role) is None:
            continue
        if role in _catalog.OPTIONAL_CONDITIONAL_ROLES:
            values[role] = _parse_conditional(raw[role], role, role, stored=stored)
        else:
            values[role] = _parse_group(raw[role], _catalog.GROUP_ROLES[role], role, stored=stored)
    return SearchSpace(**values)


def default_search_space() -> SearchSpace:
    """Every role fixed at its catalog default (what an omitted ``search_space`` means for ``cifar_cnn``)."""
    return parse_search_space(None)
