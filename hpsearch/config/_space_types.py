"""The search space's values: :class:`Fixed`, :class:`Choice`, :class:`Range` specs, the
:class:`Conditional` and :class:`Group` roles, and the whole :class:`SearchSpace` (its roles,
what varies, its study-file form). Parsed from a study file by :mod:`hpsearch.config._space`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

from hpsearch import catalog as _catalog

__all__ = ["Fixed", "Choice", "Range", "ParamSpec", "Branch", "Conditional", "Group", "RoleSpec", "SearchSpace", "range_points"]


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
    """A role that is a fixed set of knobs (``mlp``, ``augmentation``, ``architecture``, ``model``),
    each with its own spec; sampled as ``"<role>.<knob>"``."""

    knobs: tuple[tuple[str, ParamSpec], ...] = ()

    def values(self) -> dict[str, Any]:
        """The knobs' values when every one is fixed (a fixed group's settings)."""
        return {k: s.value for k, s in self.knobs if isinstance(s, Fixed)}


RoleSpec = Union[ParamSpec, Conditional, Group]


@dataclass(frozen=True)
class SearchSpace:
    """The whole search space, one field per role of :data:`hpsearch.catalog.ROLE_ORDER`, then
    the model's knobs (:data:`hpsearch.catalog.MODEL_ROLES`) and the optional roles of
    :data:`hpsearch.catalog.OPTIONAL_ROLES` (``None`` when not given: a study stored before they
    existed reads back equal)."""

    optimizer: Conditional
    learning_rate: ParamSpec
    schedule: Conditional
    regularizer: Conditional
    initializer: ParamSpec
    batch_norm: ParamSpec
    dropout: ParamSpec
    batch_size: ParamSpec
    architecture: Group | None = None  #: the ``cnn`` family's knobs (set whenever the model is ``cnn``)
    model: Group | None = None  #: the knobs of a builder you write
    loss: Conditional | None = None  #: ``None``: the task's default loss
    mlp: Group | None = None  #: ``None``: the MLP's defaults (when the model is the MLP)
    augmentation: Group | None = None  #: ``None``: no augmentation

    def roles(self) -> Iterator[tuple[str, RoleSpec]]:
        """Every role given, in sampling order (a model's knobs and an optional role only when set)."""
        for role in (*_catalog.ROLE_ORDER, *_catalog.MODEL_ROLES, *_catalog.OPTIONAL_ROLES):
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

    def searched_params(self) -> tuple[_catalog.SearchedParam, ...]:
        """The parameters that vary as a sampler sees them (every branch's knobs included), in
        sampling order: the values each can take (``None`` for a continuous range)."""
        out: list[_catalog.SearchedParam] = []
        for role, spec in self.roles():
            if isinstance(spec, Conditional):
                if len(spec.branches) > 1:
                    out.append(_catalog.SearchedParam(role, spec.names, categorical=True))
                for b in spec.branches:
                    out += [
                        _searched(_catalog.param_name(b.name, k), s, conditional=len(spec.branches) > 1)
                        for k, s in b.knobs
                        if not isinstance(s, Fixed)
                    ]
            elif isinstance(spec, Group):
                out += [_searched(_catalog.param_name(role, k), s, conditional=False) for k, s in spec.knobs if not isinstance(s, Fixed)]
            elif not isinstance(spec, Fixed):
                out.append(_searched(role, spec, conditional=False))
        return tuple(out)

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


def _searched(name: str, spec: Choice | Range, *, conditional: bool) -> _catalog.SearchedParam:
    if isinstance(spec, Choice):
        return _catalog.SearchedParam(name, spec.choices, categorical=True, conditional=conditional)
    return _catalog.SearchedParam(name, range_points(spec), conditional=conditional)


def range_points(spec: Range) -> tuple[float, ...] | None:
    """Every value an integer or stepped range can take (what Optuna samples), ``None`` when it is
    continuous. Decimal steps, so ``0.1 .. 0.3 step 0.1`` gives exactly ``0.1, 0.2, 0.3``."""
    if spec.integer:
        return tuple(range(int(spec.low), int(spec.high) + 1, int(spec.step or 1)))
    if spec.step is None:
        return None
    low, high, step = (Decimal(str(v)) for v in (spec.low, spec.high, spec.step))
    return tuple(float(low + i * step) for i in range(int((high - low) // step) + 1))


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
