"""The search space of a study file: one spec per parameter, checked against the catalog's knobs.

Each role of :data:`~hpsearch.catalog.ROLE_ORDER` is a fixed value, a list of choices, a
``{low, high, log, step}`` range, or -- for the conditional roles (optimizer, schedule,
regularizer) -- a set of branches with specs of their own. What a value may be comes from the
catalog's :class:`~hpsearch.catalog.Knob` tables, so this parser is table-driven rather
than a pydantic model: a model per knob would restate the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

from hpsearch import catalog as _catalog
from hpsearch.catalog import Knob
from hpsearch.config._problems import Problem, as_mapping, check_keys, coerce, join, normalize_name, show

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
]


@dataclass(frozen=True)
class Fixed:
    """A value that is not searched."""

    value: Any


@dataclass(frozen=True)
class Choice:
    """A categorical choice among ``choices``."""

    choices: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    """A numeric range; integer when ``integer``; sampled log-uniformly when ``log``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False


ParamSpec = Union[Fixed, Choice, Range]


@dataclass(frozen=True)
class Branch:
    """One option of a conditional role (``sgd`` of ``optimizer``) and the specs of its knobs."""

    name: str
    knobs: tuple[tuple[str, ParamSpec], ...] = ()


@dataclass(frozen=True)
class Conditional:
    """A role whose value selects a branch with knobs of its own (optimizer, schedule, ...)."""

    branches: tuple[Branch, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.branches)

    def branch(self, name: str) -> Branch:
        for b in self.branches:
            if b.name == name:
                return b
        raise KeyError(name)


@dataclass(frozen=True)
class Group:
    """A role that is a fixed set of knobs (``mlp``, ``augmentation``), each with its own spec;
    sampled as ``"<role>.<knob>"``."""

    knobs: tuple[tuple[str, ParamSpec], ...] = ()

    def values(self) -> dict[str, Any]:
        """The knobs' values when every one is fixed (a fixed group's settings)."""
        return {k: s.value for k, s in self.knobs if isinstance(s, Fixed)}


RoleSpec = Union[ParamSpec, Conditional, Group]


@dataclass(frozen=True)
class SearchSpace:
    """The whole search space, one field per role of :data:`hpsearch.catalog.ROLE_ORDER`, then
    the optional roles of :data:`hpsearch.catalog.OPTIONAL_ROLES` (``None`` when not given: a
    study stored before they existed reads back equal)."""

    optimizer: Conditional
    learning_rate: ParamSpec
    schedule: Conditional
    regularizer: Conditional
    initializer: ParamSpec
    batch_norm: ParamSpec
    dropout: ParamSpec
    batch_size: ParamSpec
    loss: Conditional | None = None  #: ``None``: the task's default loss
    mlp: Group | None = None  #: ``None``: the MLP's defaults (when the model is the MLP)
    augmentation: Group | None = None  #: ``None``: no augmentation

    def roles(self) -> Iterator[tuple[str, RoleSpec]]:
        """Every role given, in sampling order (an optional role only when set)."""
        for role in (*_catalog.ROLE_ORDER, *_catalog.OPTIONAL_ROLES):
            spec = getattr(self, role)
            if spec is not None:
                yield role, spec

    def searched(self) -> list[str]:
        """Names of the parameters that really vary (not fixed), in sampling order."""
        names: list[str] = []
        for role, spec in self.roles():
            if isinstance(spec, Conditional):
                if len(spec.branches) > 1:
                    names.append(role)
                for b in spec.branches:
                    names += [
                        _catalog.param_name(b.name, k) for k, s in b.knobs if not isinstance(s, Fixed)
                    ]
            elif isinstance(spec, Group):
                names += [_catalog.param_name(role, k) for k, s in spec.knobs if not isinstance(s, Fixed)]
            elif not isinstance(spec, Fixed):
                names.append(role)
        return names

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for role, spec in self.roles():
            if isinstance(spec, Conditional):
                out[role] = {b.name: {k: _spec_to_yaml(s) for k, s in b.knobs} for b in spec.branches}
            elif isinstance(spec, Group):
                out[role] = {k: _spec_to_yaml(s) for k, s in spec.knobs}
            else:
                out[role] = _spec_to_yaml(spec)
        return out


def _spec_to_yaml(spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        return list(spec.choices)
    out: dict[str, Any] = {"low": spec.low, "high": spec.high}
    if spec.log:
        out["log"] = True
    if spec.step is not None:
        out["step"] = spec.step
    return out


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


def _parse_group(raw: Any, role: str, *, stored: bool) -> Group:
    """A group role: a mapping of its knobs (omitted knobs take their defaults)."""
    knobs = _catalog.GROUP_ROLES[role]
    raw = as_mapping(raw, role)
    check_keys(raw, knobs, role)
    return Group(tuple((name, _parse_param(raw.get(name), knob, join(role, name), stored=stored)) for name, knob in knobs.items()))


def parse_search_space(raw: Any, *, stored: bool = False) -> SearchSpace:
    """Validate a study file's ``search_space`` mapping (``None``: every role at its default).

    Args:
        stored: the space a study was created with, read back from its storage: checks added
            after a study may have been created (a range ``step`` that does not divide it) are
            skipped, so such a study keeps loading.

    Raises:
        Problem: with a key path relative to ``search_space`` (``optimizer.sgd.momentum``).
    """
    raw = as_mapping(raw, "")
    check_keys(raw, (*_catalog.ROLE_ORDER, *_catalog.OPTIONAL_ROLES), "")
    values: dict[str, Any] = {}
    for role in _catalog.ROLE_ORDER:
        if role in _catalog.CONDITIONAL_ROLES:
            values[role] = _parse_conditional(raw.get(role), role, role, stored=stored)
        else:
            values[role] = _parse_param(raw.get(role), _catalog.SCALAR_ROLES[role], role, stored=stored)
    for role in _catalog.OPTIONAL_ROLES:
        if raw.get(role) is None:
            continue
        if role in _catalog.OPTIONAL_CONDITIONAL_ROLES:
            values[role] = _parse_conditional(raw[role], role, role, stored=stored)
        else:
            values[role] = _parse_group(raw[role], role, stored=stored)
    return SearchSpace(**values)


def default_search_space() -> SearchSpace:
    """Every role fixed at its catalog default (what an omitted ``search_space`` means)."""
    return parse_search_space(None)
