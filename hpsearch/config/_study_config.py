"""Study definitions: a YAML study file becomes a validated, frozen :class:`StudyConfig`.

Everything about a study is checked here, before any storage or tracking is touched, and every
problem is reported as one line: ``<file>: <key.path>: <what is wrong>. <how to fix>``.

The config round-trips through :meth:`StudyConfig.to_dict` / :func:`parse_study_dict`, so the
exact configuration a study was created with is stored next to it and workers on other machines
load it from there. This module never imports TensorFlow.
"""

from __future__ import annotations

import contextvars
import dataclasses
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

import yaml

from hpsearch.space import _catalog as _catalog
from hpsearch.space._catalog import Knob
from hpsearch._errors import UsageError, closest, did_you_mean

__all__ = [
    "Fixed",
    "Choice",
    "Range",
    "ParamSpec",
    "Branch",
    "Conditional",
    "SearchSpace",
    "DataConfig",
    "TrainingConfig",
    "ObjectiveConfig",
    "SamplerConfig",
    "PrunerConfig",
    "BudgetConfig",
    "HeartbeatConfig",
    "MemoryConfig",
    "StudyConfig",
    "load_study_config",
    "parse_study_dict",
    "resolve_study_file",
    "builtin_studies",
    "validate_study_name",
    "check_schedules_act",
]


# ----------------------------------------------------------------------------- parameter specs


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
class SearchSpace:
    """The whole search space, one field per role of :data:`hpsearch.space._catalog.ROLE_ORDER`."""

    optimizer: Conditional
    learning_rate: ParamSpec
    schedule: Conditional
    regularizer: Conditional
    initializer: ParamSpec
    batch_norm: ParamSpec
    dropout: ParamSpec
    batch_size: ParamSpec

    def roles(self) -> Iterator[tuple[str, ParamSpec | Conditional]]:
        for role in _catalog.ROLE_ORDER:
            yield role, getattr(self, role)

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
            elif not isinstance(spec, Fixed):
                names.append(role)
        return names

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for role, spec in self.roles():
            if isinstance(spec, Conditional):
                out[role] = {b.name: {k: _spec_to_yaml(s) for k, s in b.knobs} for b in spec.branches}
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


# ----------------------------------------------------------------------------- study sections


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "cifar10"
    validation_fraction: float = 0.1
    subset: int | None = None


@dataclass(frozen=True)
class TrainingConfig:
    max_epochs: int = 20
    early_stopping_patience: int | None = 5


@dataclass(frozen=True)
class ObjectiveConfig:
    metric: str = "val_accuracy"
    direction: str = "maximize"


@dataclass(frozen=True)
class SamplerConfig:
    name: str = "tpe"
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class PrunerConfig:
    name: str = "median"
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class BudgetConfig:
    trials: int = 20
    timeout: float | None = None
    max_consecutive_failures: int = 5


@dataclass(frozen=True)
class HeartbeatConfig:
    interval: int = 20
    grace_period: int = 60


@dataclass(frozen=True)
class MemoryConfig:
    """Restart a worker process (between trials) once its memory has grown by more than
    ``max_growth`` (a fraction) past its size after its first trial; ``None``: never."""

    max_growth: float | None = 0.05


@dataclass(frozen=True)
class StudyConfig:
    """A validated, immutable study definition."""

    name: str
    search_space: SearchSpace
    description: str = ""
    seed: int | None = None  #: ``None``: a new study draws a fresh seed and records it (see ``_study``)
    model: str = "cifar_cnn"
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    source: str = "<dict>"

    def to_dict(self) -> dict[str, Any]:
        """The config in study-file form (``parse_study_dict(c.to_dict()) == c``, source aside)."""
        return {
            "description": self.description,
            "dataset": self.data.dataset,
            "validation_fraction": self.data.validation_fraction,
            "subset": self.data.subset,
            "model": self.model,
            "seed": self.seed,
            "objective": dataclasses.asdict(self.objective),
            "training": dataclasses.asdict(self.training),
            "search_space": self.search_space.to_dict(),
            "sampler": {"name": self.sampler.name, **dict(self.sampler.options)},
            "pruner": {"name": self.pruner.name, **dict(self.pruner.options)},
            "budget": dataclasses.asdict(self.budget),
            "heartbeat": dataclasses.asdict(self.heartbeat),
            "memory": dataclasses.asdict(self.memory),
        }

    def identity(self) -> dict[str, Any]:
        """What makes two runs the *same* study: trials of different identities don't compare.

        Budget, sampler, pruner and heartbeat may change between runs of one study; the search
        space, objective, data and training length may not.
        """
        d = self.to_dict()
        keys = ("dataset", "validation_fraction", "subset", "model", "objective", "training", "search_space")
        return {k: d[k] for k in keys}

    def with_overrides(self, **changes: Any) -> StudyConfig:
        """A copy with CLI overrides applied and re-validated (``trials=5``, ``max_epochs=2``...)."""
        raw = self.to_dict()
        sections = {
            "trials": ("budget", "trials"),
            "timeout": ("budget", "timeout"),
            "max_epochs": ("training", "max_epochs"),
        }
        flags: dict[str, str] = {}  # where a problem would be reported -> the flag that set the value
        for key, value in changes.items():
            if value is None:
                continue
            if key in sections:
                section, sub = sections[key]
                raw[section][sub] = value
                flags[f"{section}.{sub}"] = f"{_OVERRIDE_FLAGS[key]} {value}"
            elif key in ("dataset", "subset", "seed"):
                raw[key] = value
                flags[key] = f"{_OVERRIDE_FLAGS[key]} {value}"
            else:  # pragma: no cover - programming error
                raise TypeError(f"unknown override {key!r}")
        # The search space is not overridden and was checked when it was read: a stored one keeps loading.
        return parse_study_dict(raw, name=self.name, source=self.source, flags=flags, stored=True)


#: The command-line flag behind each :meth:`StudyConfig.with_overrides` key: a bad value is
#: blamed on the flag that carried it, not on the study file.
_OVERRIDE_FLAGS = {
    "trials": "--trials",
    "timeout": "--timeout",
    "max_epochs": "--epochs",
    "dataset": "--dataset",
    "subset": "--subset",
    "seed": "--seed",
}


# ----------------------------------------------------------------------------- YAML reading


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 reads it as a string) and rejects
    duplicate keys (a silent last-one-wins is a classic way to run the wrong study)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (also on line {seen[key].start_mark.line + 1})", mark
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read the study file ({e.strerror}).") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: not a text file (byte 0x{e.object[e.start]:02x} at offset {e.start} is not UTF-8); "
            "a study file is YAML text, see studies/cifar10.yaml."
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.reader.ReaderError as e:  # a control character: binary data in a UTF-8 coat
        raise UsageError(
            f"{path}: not a text file (character #x{e.character:04x} at offset {e.position}); "
            "a study file is YAML text, see studies/cifar10.yaml."
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise UsageError(
            f"{path}: {where}invalid YAML: {problem}. Fix the syntax (indent with spaces, "
            "quote strings that contain ': ')."
        ) from None


# ----------------------------------------------------------------------------- validation


class _Problem(Exception):
    """Internal: a validation problem at ``where`` (dotted key path)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def _join(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def _mapping(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Problem(where, f"expected a mapping of keys to values, got {_show(raw)}")
    return dict(raw)


def _check_keys(raw: Mapping[str, Any], allowed: Any, where: str) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f" (known keys: {', '.join(map(str, allowed))})"
            raise _Problem(_join(where, key), f"unknown key{hint}")


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _coerce(value: Any, knob: Knob, where: str) -> Any:
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
            raise _Problem(where, f"unknown value {value!r}{did_you_mean(value, knob.choices)}; expected {knob.domain()}")
    problem = knob.problem(value)
    if problem:
        raise _Problem(where, problem)
    return value


def _parse_param(raw: Any, knob: Knob, where: str) -> ParamSpec:
    if raw is None:
        return Fixed(knob.default)
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        raw = raw["choices"]
        where = _join(where, "choices")
    if isinstance(raw, list):
        if not raw:
            raise _Problem(
                where,
                f"empty choice list; list at least one value, or delete the key to use the default ({knob.default!r})",
            )
        values = [_coerce(v, knob, _join(where, i)) for i, v in enumerate(raw)]
        dupes = sorted({repr(v) for v in values if values.count(v) > 1})
        if dupes:
            raise _Problem(where, f"duplicate choices {', '.join(dupes)}; list each value once")
        return Fixed(values[0]) if len(values) == 1 else Choice(tuple(values))
    if isinstance(raw, Mapping):
        return _parse_range(raw, knob, where)
    return Fixed(_coerce(raw, knob, where))


def _parse_range(raw: Mapping[str, Any], knob: Knob, where: str) -> Range:
    if knob.kind not in (int, float):
        raise _Problem(where, f"a low/high range needs a numeric parameter; use a list of choices ({knob.domain()})")
    _check_keys(raw, ("low", "high", "log", "step"), where)
    for bound in ("low", "high"):
        if bound not in raw:
            raise _Problem(where, f"a range needs both `low` and `high`; `{bound}` is missing")
    # Types first, then the range's own rules (clearer than a domain error), then the domain.
    unbounded = Knob(knob.kind, knob.default)
    low = _coerce(raw["low"], unbounded, _join(where, "low"))
    high = _coerce(raw["high"], unbounded, _join(where, "high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise _Problem(_join(where, "log"), f"expected true or false, got {log!r}")
    step = raw.get("step")
    if low > high:
        raise _Problem(where, f"`low <= high` must hold, but got ({low=}, {high=}); swap the bounds")
    if log and low <= 0:
        raise _Problem(where, f"`low > 0` must hold for a log range, but got ({low=}); use a positive low or log: false")
    low = _coerce(low, knob, _join(where, "low"))
    high = _coerce(high, knob, _join(where, "high"))
    if step is not None:
        if log:
            raise _Problem(where, "`step` and `log: true` cannot be combined; drop one of them")
        bad = isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0
        if bad or (knob.kind is int and not float(step).is_integer()):
            raise _Problem(_join(where, "step"), f"expected a positive {'integer' if knob.kind is int else 'number'}, got {step!r}")
        step = int(step) if knob.kind is int else float(step)
        if not _STORED.get():
            _check_step(low, high, step, where)
    return Range(low=low, high=high, log=log, step=step, integer=knob.kind is int)


#: True while a study's stored config is parsed (see ``parse_study_dict(stored=True)``).
_STORED: contextvars.ContextVar[bool] = contextvars.ContextVar("hpsearch_config_stored", default=False)


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
        raise _Problem(
            where,
            f"`step <= high - low` must hold, but got (step={step}, high - low={_plain(span)}); only low={low} "
            "could ever be sampled. Use a smaller step, or a fixed value",
        )
    if span % d_step:
        below = d_low + (span // d_step) * d_step
        raise _Problem(
            where,
            f"`high - low` must be a multiple of `step`, but got ({low=}, {high=}, {step=}); Optuna would silently "
            f"sample only up to {_plain(below)}. Use high: {_plain(below)} or high: {_plain(below + d_step)}",
        )


def _normalize_branch(name: Any, table: Mapping[str, Any], where: str) -> str:
    if not isinstance(name, str):
        raise _Problem(where, f"expected one of {', '.join(table)}, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key not in table:
        raise _Problem(where, f"unknown choice {name!r}{did_you_mean(key, table)}; expected one of {', '.join(table)}")
    return key


def _parse_conditional(raw: Any, role: str, where: str) -> Conditional:
    table, default = _catalog.CONDITIONAL_ROLES[role]
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        raw = raw["choices"]
        where = _join(where, "choices")
    if raw is None:
        selected: dict[str, Any] = {default: None}
    elif isinstance(raw, str):
        selected = {_normalize_branch(raw, table, where): None}
    elif isinstance(raw, list):
        if not raw:
            raise _Problem(where, f"empty choice list; list at least one {role}, or delete the key to use {default!r}")
        selected = {}
        for i, name in enumerate(raw):
            key = _normalize_branch(name, table, _join(where, i))
            if key in selected:
                raise _Problem(_join(where, i), f"duplicate choice {key!r}; list each {role} once")
            selected[key] = None
    elif isinstance(raw, Mapping):
        if not raw:
            raise _Problem(where, f"empty mapping; name at least one {role}, or delete the key to use {default!r}")
        selected = {}
        for name, knobs in raw.items():
            key = _normalize_branch(name, table, _join(where, name))
            selected[key] = knobs
    else:
        raise _Problem(where, f"expected a {role} name, a list of names or a mapping of name -> options, got {_show(raw)}")

    branches = []
    for name, knobs_raw in selected.items():
        bwhere = _join(where, name)
        knobs_raw = _mapping(knobs_raw, bwhere)
        _check_keys(knobs_raw, table[name], bwhere)
        knobs = tuple(
            (knob_name, _parse_param(knobs_raw.get(knob_name), knob, _join(bwhere, knob_name)))
            for knob_name, knob in table[name].items()
        )
        branches.append(Branch(name, knobs))
    return Conditional(tuple(branches))


def _parse_search_space(raw: Any) -> SearchSpace:
    where = "search_space"
    raw = _mapping(raw, where)
    _check_keys(raw, _catalog.ROLE_ORDER, where)
    values: dict[str, Any] = {}
    for role in _catalog.ROLE_ORDER:
        rwhere = _join(where, role)
        if role in _catalog.CONDITIONAL_ROLES:
            values[role] = _parse_conditional(raw.get(role), role, rwhere)
        else:
            values[role] = _parse_param(raw.get(role), _catalog.SCALAR_ROLES[role], rwhere)
    return SearchSpace(**values)


def _scalar(raw: Mapping[str, Any], key: str, knob: Knob, where: str, *, nullable: bool = False) -> Any:
    if key not in raw:
        return knob.default
    value = raw[key]
    if value is None and nullable:
        return None
    return _coerce(value, knob, _join(where, key))


def _parse_named(raw: Any, where: str, table: Mapping[str, Mapping[str, Knob]], default: str) -> tuple[str, tuple]:
    """Parse ``{name: x, option: value...}`` (or just ``x``) against a table of named options."""
    if isinstance(raw, str) or raw is None:
        raw = {"name": raw or default}
    raw = _mapping(raw, where)
    name = _normalize_branch(raw.get("name", default), table, _join(where, "name"))
    _check_keys(raw, ["name", *table[name]], where)
    options = tuple((k, _scalar(raw, k, knob, where, nullable=knob.default is None)) for k, knob in table[name].items())
    if name == "threshold" and all(dict(options)[k] is None for k in ("lower", "upper")):
        raise _Problem(where, "the threshold pruner needs `lower`, `upper` or both")
    return name, options


_TOP_KEYS = (
    "description",
    "dataset",
    "validation_fraction",
    "subset",
    "model",
    "seed",
    "objective",
    "training",
    "search_space",
    "sampler",
    "pruner",
    "budget",
    "heartbeat",
    "memory",
)


#: Keys that live inside a section, for "did you mean budget.trials?" on a misplaced key.
_SECTION_KEYS = {
    "training": ("max_epochs", "early_stopping_patience"),
    "objective": ("metric", "direction"),
    "budget": ("trials", "timeout", "max_consecutive_failures"),
    "heartbeat": ("interval", "grace_period"),
    "memory": ("max_growth",),
    "search_space": _catalog.ROLE_ORDER,
}


def _check_top_keys(raw: Mapping[str, Any]) -> None:
    nested = {key: f"{section}.{key}" for section, keys in _SECTION_KEYS.items() for key in keys}
    for key in raw:
        if key in _TOP_KEYS:
            continue
        hint = did_you_mean(key, _TOP_KEYS)
        if not hint and (near := closest(key, nested)):
            hint = f" (did you mean '{nested[near]}'?)"
        raise _Problem(str(key), f"unknown key{hint or ' (known keys: ' + ', '.join(_TOP_KEYS) + ')'}")


def _parse(raw: Any, name: str, source: str) -> StudyConfig:
    raw = _mapping(raw, "")
    _check_top_keys(raw)

    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise _Problem("description", f"expected text, got {_show(description)}")

    dataset = raw.get("dataset", "cifar10")
    supported = f"supported: {', '.join(_catalog.DATASETS)}, or a path to an .npz file with x_train, y_train, x_test, y_test"
    if not isinstance(dataset, str) or not dataset.strip():
        raise _Problem("dataset", f"expected a dataset name or path, got {_show(dataset)}; {supported}")
    if not dataset.endswith(".npz") and dataset.strip().lower() not in _catalog.DATASETS:
        raise _Problem("dataset", f"unknown dataset {dataset!r}{did_you_mean(dataset, _catalog.DATASETS)}; {supported}")
    if not dataset.endswith(".npz"):
        dataset = dataset.strip().lower()
    data = DataConfig(
        dataset=dataset,
        validation_fraction=_scalar(
            raw, "validation_fraction", Knob(float, 0.1, 0.0, 1.0, low_open=True, high_open=True), ""
        ),
        subset=_scalar(raw, "subset", Knob(int, None, 2, None), "", nullable=True),
    )
    model = raw.get("model", "cifar_cnn")
    if not isinstance(model, str) or model not in _catalog.MODELS:
        raise _Problem("model", f"unknown model {model!r}{did_you_mean(str(model), _catalog.MODELS)}; expected one of {', '.join(_catalog.MODELS)}")
    seed = _scalar(raw, "seed", Knob(int, None, 0, 2**32 - 1), "", nullable=True)

    obj_raw = _mapping(raw.get("objective"), "objective")
    _check_keys(obj_raw, ("metric", "direction"), "objective")
    metric = obj_raw.get("metric", "val_accuracy")
    if metric not in _catalog.METRICS:
        raise _Problem(
            "objective.metric",
            f"the model does not produce {metric!r}{did_you_mean(str(metric), _catalog.METRICS)}; "
            f"it produces {', '.join(_catalog.METRICS)}",
        )
    direction = obj_raw.get("direction", _catalog.METRICS[metric])
    if direction not in ("maximize", "minimize"):
        raise _Problem("objective.direction", f"expected maximize or minimize, got {direction!r}")
    if direction != _catalog.METRICS[metric]:
        raise _Problem(
            "objective.direction",
            f"{direction} {metric} would select the worst models; use direction: {_catalog.METRICS[metric]}",
        )

    tr_raw = _mapping(raw.get("training"), "training")
    _check_keys(tr_raw, ("max_epochs", "early_stopping_patience"), "training")
    training = TrainingConfig(
        max_epochs=_scalar(tr_raw, "max_epochs", Knob(int, 20, 1, None), "training"),
        early_stopping_patience=_scalar(
            tr_raw, "early_stopping_patience", Knob(int, 5, 0, None), "training", nullable=True
        ),
    )

    sampler_name, sampler_opts = _parse_named(raw.get("sampler"), "sampler", _catalog.SAMPLERS, "tpe")
    pruner_name, pruner_opts = _parse_named(raw.get("pruner"), "pruner", _catalog.PRUNERS, "median")

    b_raw = _mapping(raw.get("budget"), "budget")
    _check_keys(b_raw, ("trials", "timeout", "max_consecutive_failures"), "budget")
    budget = BudgetConfig(
        trials=_scalar(b_raw, "trials", Knob(int, 20, 1, None), "budget"),
        timeout=_scalar(b_raw, "timeout", Knob(float, None, 0.0, None, low_open=True), "budget", nullable=True),
        max_consecutive_failures=_scalar(b_raw, "max_consecutive_failures", Knob(int, 5, 1, None), "budget"),
    )

    h_raw = _mapping(raw.get("heartbeat"), "heartbeat")
    _check_keys(h_raw, ("interval", "grace_period"), "heartbeat")
    interval = _scalar(h_raw, "interval", Knob(int, 20, 1, None), "heartbeat")
    grace = _scalar(h_raw, "grace_period", Knob(int, 3 * interval, 1, None), "heartbeat")
    if grace <= interval:
        raise _Problem(
            "heartbeat.grace_period",
            f"`grace_period > interval` must hold, but got (grace_period={grace}, {interval=}); "
            "a live worker would be declared dead between two heartbeats",
        )

    m_raw = _mapping(raw.get("memory"), "memory")
    _check_keys(m_raw, ("max_growth",), "memory")
    memory = MemoryConfig(
        max_growth=_scalar(m_raw, "max_growth", Knob(float, 0.05, 0.0, None, low_open=True), "memory", nullable=True)
    )

    return StudyConfig(
        name=name,
        description=description.strip(),
        seed=seed,
        model=model,
        data=data,
        training=training,
        objective=ObjectiveConfig(metric=metric, direction=direction),
        search_space=_parse_search_space(raw.get("search_space")),
        sampler=SamplerConfig(sampler_name, sampler_opts),
        pruner=PrunerConfig(pruner_name, pruner_opts),
        budget=budget,
        heartbeat=HeartbeatConfig(interval=interval, grace_period=grace),
        memory=memory,
        source=source,
    )


def parse_study_dict(
    raw: Any, *, name: str, source: str = "<dict>", flags: Mapping[str, str] | None = None, stored: bool = False
) -> StudyConfig:
    """Validate a study definition (the parsed YAML) into a :class:`StudyConfig`.

    Args:
        flags: key path -> the command-line flag (with its value) that set that key; a problem
            there is reported as ``"--flag value: <problem>"``.
        stored: the config a study was created with, read back from its storage. Checks added
            after a study may have been created (a range ``step`` that does not divide it) are
            skipped, so such a study can still be shown, reported, exported and joined.

    Raises:
        UsageError: with ``"<source>: <key.path>: <problem>"`` or ``"--flag value: <problem>"``.
    """
    validate_study_name(name)
    token = _STORED.set(stored)
    try:
        return _parse(raw, name, source)
    except _Problem as p:
        if flags and p.where in flags:
            raise UsageError(f"{flags[p.where]}: {p.message}.") from None
        where = f"{p.where}: " if p.where else ""
        raise UsageError(f"{source}: {where}{p.message}.") from None
    finally:
        _STORED.reset(token)


def check_schedules_act(config: StudyConfig, *, epochs_from: str = "training.max_epochs") -> None:
    """Refuse a ``step`` schedule whose drop can never happen within a trial's epochs.

    Its horizon is a fixed number of epochs: ``every_epochs: 8`` with ``--epochs 3`` trains at a
    constant rate while being recorded as a step schedule. (``multistep`` spreads its drops over
    each trial's budget instead; the other schedules are continuous or span ``max_epochs``.)
    Checked when a study is run from its file, not when a stored study is read back.

    Raises:
        UsageError: naming the knob, the epoch budget and the fix.
    """
    if "step" not in config.search_space.schedule.names:
        return
    spec = dict(config.search_space.schedule.branch("step").knobs)["every_epochs"]
    largest = spec.value if isinstance(spec, Fixed) else max(spec.choices) if isinstance(spec, Choice) else spec.high
    max_epochs = config.training.max_epochs
    if largest >= max_epochs:
        raise UsageError(
            f"{config.source}: search_space.schedule.step.every_epochs: a drop every {largest} epochs never happens "
            f"in a trial of at most {max_epochs} epochs ({epochs_from} {max_epochs}); keep every_epochs below "
            f"{max_epochs}, or use the `multistep` schedule, whose drops are spread over each trial's epochs."
        )


# ----------------------------------------------------------------------------- finding study files

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=@-]*$")


def validate_study_name(name: str) -> str:
    """Check a study name is safe as an experiment name and a folder name; return it."""
    if not isinstance(name, str) or not name:
        raise UsageError("The study name is empty; pass a name such as --study-name cifar10-wide (or omit --study-name to use the study file's name).")
    if "/" in name or "\\" in name or ".." in name:
        raise UsageError(
            f"Invalid study name {name!r}: '/', '\\' and '..' are not allowed (the name becomes a "
            "folder name); use letters, digits and - _ . only, e.g. --study-name cifar10-wide."
        )
    if len(name) > 128 or not _NAME_RE.match(name):
        raise UsageError(
            f"Invalid study name {name!r}: use 1-128 letters, digits and - _ . + = @, starting "
            "with a letter or digit."
        )
    return name


def builtin_studies() -> dict[str, Path]:
    """Study definitions shipped inside the package, by name."""
    root = importlib.resources.files("hpsearch.studies")
    found = {}
    for entry in root.iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = Path(str(entry))
    return dict(sorted(found.items()))


def _not_a_file(name_or_path: str, path: Path) -> UsageError:
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        return UsageError(f"Study file {name_or_path!r} is a directory, not a YAML file{hint}; pass the path of a study file.")
    if path.exists():
        return UsageError(f"Study file {name_or_path!r} is not a regular file; pass the path of a YAML study file.")
    return UsageError(f"Study file {name_or_path!r} does not exist; check the path.")


def resolve_study_file(name_or_path: str) -> Path:
    """``NAME`` -> a path: as given, then ``studies/NAME.yaml``, then the built-in studies."""
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given
    if given.suffix in (".yaml", ".yml") or given.parent != Path("."):
        raise _not_a_file(name_or_path, given)
    local = Path("studies") / f"{name_or_path}.yaml"
    if local.is_file():
        return local
    builtin = builtin_studies()
    if name_or_path in builtin:
        return builtin[name_or_path]
    if given.is_dir():  # only now: a data folder named like a built-in study must not hide it
        raise _not_a_file(name_or_path, given)
    known = sorted({*builtin, *(p.stem for p in Path("studies").glob("*.yaml"))})
    raise UsageError(
        f"No study named {name_or_path!r}{did_you_mean(name_or_path, known)}: looked for the file "
        f"{name_or_path}, studies/{name_or_path}.yaml and the built-in studies "
        f"({', '.join(known) or 'none'})."
    )


def load_study_config(name_or_path: str, *, study_name: str | None = None) -> StudyConfig:
    """Find, read and validate a study file. The study is named ``study_name`` or the file's stem."""
    path = resolve_study_file(name_or_path)
    raw = _read_yaml(path)
    name = path.stem if study_name is None else study_name  # an empty --study-name is an error, not "default"
    if not isinstance(raw, Mapping):
        raise UsageError(
            f"{path}: expected a mapping at the top level (dataset:, search_space:, ...), got {_show(raw)}."
        )
    return parse_study_dict(raw, name=name, source=str(path))

