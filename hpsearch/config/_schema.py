"""A whole study: :class:`StudyConfig`, read from a study file's mapping by :func:`parse_study_dict`.

Every problem reaches the user as one line, ``<source>: <key.path>: <what is wrong>. <how to fix>``:
the first error pydantic finds (an unknown key before a bad value of the same section) is turned
into that line. The config round-trips through :meth:`StudyConfig.to_dict`, so the exact
configuration a study was created with is stored next to it and workers load it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from hpsearch._errors import UsageError, closest, did_you_mean
from hpsearch import catalog as _catalog
from hpsearch.config._checks import check_schedules_act, validate_study_name
from hpsearch.config._model import BUILDER_FORMS, BuilderRef, is_builder_ref, parse_builder_ref
from hpsearch.config._metrics import parse_metrics
from hpsearch.config._param_sets import parse_param_sets, queued_params
from hpsearch.config._objectives import Objective, check_strategies, objectives_layout, parse_objectives
from hpsearch.config._problems import Problem, as_mapping, join, show, unknown_key
from hpsearch.config._sections import (
    BudgetConfig,
    DataConfig,
    Domain,
    HeartbeatConfig,
    MemoryConfig,
    ObjectiveConfig,
    PrunerConfig,
    SamplerConfig,
    TrainingConfig,
    ValidationConfig,
    _Frozen,
    _Section,
)
from hpsearch.config._space import SearchSpace, parse_search_space

__all__ = ["StudyConfig", "parse_study_dict", "validate_study_name", "check_schedules_act"]


class StudyConfig(_Frozen):
    """A validated, immutable study definition: a study file, its study's name and its source.

    The fields are in study-file order (:meth:`to_dict`); ``data``'s keys sit at the top of a file.
    """

    name: str
    description: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    model: str = "cifar_cnn"  #: one of :data:`~hpsearch.catalog.MODELS`, or a builder (:mod:`~hpsearch.config._model`)
    seed: Annotated[int | None, Domain(0, 2**32 - 1)] = None  #: ``None``: a new study draws one and records it
    #: Several objectives (a multi-objective study, :mod:`~hpsearch.config._objectives`); ``None``:
    #: one, ``objective``. With a list, ``objective`` is its first logged metric (the monitor).
    objectives: tuple[Objective, ...] | None = None
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    #: Compiled into the model and logged per epoch (train and ``val_``); ``None``: the task's
    #: default (``accuracy`` for classification, ``mae`` for regression).
    metrics: tuple[str | dict[str, dict[str, Any]], ...] | None = None
    validation: ValidationConfig | None = None  #: ``None``: the held-out validation split
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    search_space: SearchSpace = Field(default=None, validate_default=True)  # type: ignore[assignment] - parsed for the model
    #: Param sets to run first (``hpsearch enqueue``'s syntax; a set may fix only some parameters).
    #: Not part of the study's identity: the list may grow, and a set already queued or run is skipped.
    enqueue: Annotated[tuple[dict[str, Any], ...] | None, BeforeValidator(parse_param_sets)] = None
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    source: str = "<dict>"  #: where it was read from, the start of each of its error messages
    #: The folder a relative ``model: file.py:function`` is read from: the study file's; for a stored
    #: study, the one recorded when it last ran (``None`` unless the model is such a file).
    model_dir: str | None = None

    #: Fields that are not keys of a study file.
    NOT_IN_FILE: ClassVar[tuple[str, ...]] = ("name", "source", "model_dir")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        return validate_study_name(name)

    @field_validator("description", mode="before")
    @classmethod
    def _text(cls, description: Any) -> str:
        description = description or ""
        if not isinstance(description, str):
            raise Problem("", f"expected text, got {show(description)}")
        return description.strip()

    #: Keys written only when set: a study stored before they existed reads back (and compares) equal.
    OPTIONAL: ClassVar[tuple[str, ...]] = ("objectives", "metrics", "validation")

    @model_validator(mode="before")
    @classmethod
    def _one_objective_key(cls, raw: Any) -> Any:
        return objectives_layout(raw)

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, objectives: Any) -> tuple[Objective, ...] | None:
        return parse_objectives(objectives)

    @field_validator("model", mode="before")
    @classmethod
    def _known_model(cls, model: Any) -> str:
        if isinstance(model, str) and is_builder_ref(model.strip()):
            try:
                parse_builder_ref(model.strip(), Path("."))  # the form only; the file is read before any trial
            except UsageError as e:
                raise Problem("", str(e).removeprefix(f"model {model.strip()!r}: ").removeprefix("model: ").rstrip(".")) from None
            return model.strip()
        known = (*_catalog.MODELS, *_catalog.TABLE_MODELS)
        if not isinstance(model, str) or model not in known:
            raise Problem(
                "",
                f"unknown model {model!r}{did_you_mean(str(model), known)}; "
                f"expected one of {', '.join(known)}, or your own builder: {BUILDER_FORMS}",
            )
        return model

    @field_validator("metrics", mode="before")
    @classmethod
    def _known_metrics(cls, metrics: Any) -> tuple[str | dict[str, dict[str, Any]], ...] | None:
        return parse_metrics(metrics)

    @field_validator("search_space", mode="plain")
    @classmethod
    def _space(cls, raw: Any, info: ValidationInfo) -> SearchSpace:
        if isinstance(raw, SearchSpace):
            return raw
        stored = bool(info.context and info.context.get("stored"))
        return parse_search_space(raw, stored=stored, model=info.data.get("model"))

    @field_validator("model_dir")
    @classmethod
    def _only_for_files(cls, model_dir: str | None, info: ValidationInfo) -> str | None:
        model = info.data.get("model")
        return model_dir if model is not None and is_builder_ref(model) and ".py:" in model else None

    def builder_ref(self) -> BuilderRef | None:
        """Where the builder of ``model: file.py:function`` / ``module:function`` is; ``None`` for a family."""
        if not is_builder_ref(self.model):
            return None
        return parse_builder_ref(self.model, Path(self.model_dir or "."))

    @model_validator(mode="after")
    def _sampler_fits_space(self) -> StudyConfig:
        """A sampler that cannot search this space (a grid over a continuous range) is refused here."""
        check = getattr(_catalog.SAMPLERS.option(self.sampler.name), "space_problem", None)
        problem = check(self.search_space.searched_params()) if check is not None else None
        if problem is not None:
            raise Problem("sampler", problem)
        return self

    @model_validator(mode="after")
    def _param_sets_fit_space(self) -> StudyConfig:
        self.queued_params()  # every enqueue: set names parameters of the space, with values it can take
        return self

    def queued_params(self) -> list[dict[str, Any]]:
        """The Optuna params of each ``enqueue:`` set (only what the study searches)."""
        return queued_params(self.enqueue or (), self.search_space, need_all=self.sampler.name == "grid")

    @model_validator(mode="after")
    def _strategies_fit_objectives(self) -> StudyConfig:
        check_strategies(self.objectives, self.sampler.name, self.pruner.name, self.validation)
        return self

    @property
    def multi_objective(self) -> bool:
        """The study has several objectives (``objectives:``)."""
        return self.objectives is not None

    @property
    def folds(self) -> int | None:
        """K of K-fold cross-validation (``validation: {folds: K}``), else ``None``."""
        return self.validation.folds if self.validation is not None else None

    def all_objectives(self) -> tuple[Objective, ...]:
        """The objectives a trial reports, in order: ``objectives``, or the one ``objective``."""
        if self.objectives is not None:
            return self.objectives
        return (Objective(metric=self.objective.metric, direction=self.objective.direction),)

    def to_dict(self) -> dict[str, Any]:
        """The config in study-file form (``parse_study_dict(c.to_dict()) == c``, source aside)."""
        out: dict[str, Any] = {}
        for key in type(self).model_fields:
            if key in self.NOT_IN_FILE:
                continue
            value = getattr(self, key)
            if key in (*self.OPTIONAL, "enqueue") and value is None:
                continue
            if key == "objective" and self.objectives is not None:
                continue  # implied by objectives:
            if key == "objectives":
                out[key] = [{o.metric: o.direction} for o in value]
            elif isinstance(value, DataConfig):
                out.update(value.stored_form())
            elif isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, SearchSpace):
                out[key] = value.to_dict()
            else:
                out[key] = value.model_dump() if isinstance(value, BaseModel) else value
        return out

    def identity(self) -> dict[str, Any]:
        """What makes two runs the *same* study: trials of different identities don't compare.

        Budget, sampler, pruner and heartbeat may change between runs of one study; the search
        space, objective, data and training length may not.
        """
        d = self.to_dict()
        data = ("dataset", "validation_fraction", "subset", *(k for k in DataConfig.OPTIONAL if k in d))
        objective = ("objective",) if "objective" in d else ()  # a multi-objective study has objectives (OPTIONAL)
        keys = (*data, "model", *objective, *(k for k in self.OPTIONAL if k in d), "training", "search_space")
        return {k: d[k] for k in keys}

    def with_overrides(self, **changes: Any) -> StudyConfig:
        """A copy with CLI overrides applied and re-validated (``trials=5``, ``max_epochs=2``...)."""
        raw = self.to_dict()
        for key in _SETTLED:  # still unset: keep it so (hpsearch.tasks.settle fills it from the data)
            if key not in self.model_fields_set:
                raw.pop(key, None)
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
            elif key in ("model", "objective", "metrics"):  # settled from the data (see hpsearch.tasks.settle)
                raw[key] = value
            elif key in ("dataset", "subset", "seed", "target", "test"):
                raw[key] = value
                flags[key] = f"{_OVERRIDE_FLAGS[key]} {value}"
            else:  # pragma: no cover - programming error
                raise TypeError(f"unknown override {key!r}")
        # The search space is not overridden and was checked when it was read: a stored one keeps loading.
        return parse_study_dict(raw, name=self.name, source=self.source, flags=flags, stored=True, model_dir=self.model_dir)


#: Keys a study file may leave to the data (the MLP for tables, ``val_loss`` for regression; see hpsearch.tasks._plan.settle).
_SETTLED = ("model", "objective", "metrics")

#: The command-line flag behind each :meth:`StudyConfig.with_overrides` key: a bad value is
#: blamed on the flag that carried it, not on the study file.
_OVERRIDE_FLAGS = {
    "trials": "--trials",
    "timeout": "--timeout",
    "max_epochs": "--epochs",
    "dataset": "--dataset",
    "subset": "--subset",
    "seed": "--seed",
    "target": "--target",
    "test": "--test",
}


def parse_study_dict(
    raw: Any,
    *,
    name: str,
    source: str = "<dict>",
    flags: Mapping[str, str] | None = None,
    stored: bool = False,
    model_dir: str | Path | None = None,
) -> StudyConfig:
    """Validate a study definition (the parsed YAML) into a :class:`StudyConfig`.

    Args:
        flags: key path -> the command-line flag (with its value) that set that key; a problem
            there is reported as ``"--flag value: <problem>"``.
        stored: the config a study was created with, read back from its storage. Checks added
            after a study may have been created (a range ``step`` that does not divide it) are
            skipped, so such a study can still be shown, reported, exported and joined.
        model_dir: the folder a relative ``model: file.py:function`` is read from (the study
            file's folder; for a stored study, the one recorded with it).

    Raises:
        UsageError: with ``"<source>: <key.path>: <problem>"`` or ``"--flag value: <problem>"``.
    """
    validate_study_name(name)
    try:
        fields = _model_layout(raw, name=name, source=source)
        fields["model_dir"] = None if model_dir is None else str(model_dir)
        return StudyConfig.model_validate(fields, context={"stored": stored})
    except Problem as p:
        problem = p
    except ValidationError as e:
        problem = _first_problem(e)
    if flags and problem.where in flags:
        raise UsageError(f"{flags[problem.where]}: {problem.message}.") from None
    where = f"{problem.where}: " if problem.where else ""
    raise UsageError(f"{source}: {where}{problem.message}.") from None


# ----------------------------------------------------------------------------- file layout <-> model


def _file_keys() -> tuple[str, ...]:
    """The top-level keys of a study file, in :meth:`StudyConfig.to_dict` order (and ``data``)."""
    keys: list[str] = []
    for field in StudyConfig.model_fields:
        if field == "data":
            keys += [*DataConfig.model_fields, "data"]
        elif field not in StudyConfig.NOT_IN_FILE:
            keys.append(field)
    return tuple(keys)


def _nested_keys() -> dict[str, str]:
    """Key -> its path inside a section (``trials`` -> ``budget.trials``), to place a misplaced key."""
    nested = {role: f"search_space.{role}" for role in (*_catalog.ROLE_ORDER, *_catalog.MODEL_ROLES) if role != "model"}
    for field, info in StudyConfig.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, _Section) and section is not DataConfig:
            nested.update({key: f"{field}.{key}" for key in section.model_fields})
    return nested


_FILE_KEYS = _file_keys()
_NESTED_KEYS = _nested_keys()


def _hint(key: str) -> str:
    """`` (did you mean 'x'?)`` for the closest top-level key, or key inside a section, if any is close."""
    import difflib

    top, nested = closest(key, _FILE_KEYS), closest(key, _NESTED_KEYS)
    if nested and (not top or difflib.SequenceMatcher(None, key, nested).ratio() > difflib.SequenceMatcher(None, key, top).ratio()):
        return f" (did you mean '{_NESTED_KEYS[nested]}'?)"
    return did_you_mean(key, _FILE_KEYS)


def _model_layout(raw: Any, *, name: str, source: str) -> dict[str, Any]:
    """A study file's mapping as :class:`StudyConfig`'s fields: the top-level data keys go to ``data``."""
    raw = as_mapping(raw, "")
    for key in raw:
        if key not in _FILE_KEYS:
            hint = _hint(str(key))
            raise Problem(str(key), f"unknown key{hint or ' (known keys: ' + ', '.join(_FILE_KEYS) + ')'}")
    data_keys = DataConfig.model_fields
    data = {k: v for k, v in raw.items() if k in data_keys}
    section = as_mapping(raw.get("data"), "data")
    for key in section:
        if key in data:
            raise Problem(f"data.{key}", f"is also set at the top level ({key}: {data[key]!r}); set it in one place")
        if key not in data_keys:
            raise Problem(f"data.{key}", unknown_key(key, data_keys))
    return {
        "name": name,
        "source": source,
        "data": {**data, **section},
        **{k: v for k, v in raw.items() if k not in data_keys and k != "data"},
    }


def _first_problem(error: ValidationError) -> Problem:
    """The error to report, at its study-file key path: the first section's first unknown key,
    else its first error."""
    errors = error.errors()
    section = errors[0]["loc"][:1]
    first = next((e for e in errors if e["loc"][:1] == section and e["type"] == "extra_forbidden"), errors[0])
    loc = first["loc"]
    where = ""
    for part in loc[1:] if loc[:1] == ("data",) else loc:  # the data keys sit at the top of a file
        where = join(where, part)
    return _problem_at(where, first)


def _problem_at(where: str, error: ErrorDetails) -> Problem:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, Problem):
        return Problem(".".join(p for p in (where, cause.where) if p), cause.message)
    if error["type"] == "extra_forbidden":
        return Problem(where, unknown_key(error["loc"][-1], _section_of(error["loc"]).model_fields))
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return Problem(where, f"expected a mapping of keys to values, got {show(error['input'])}")
    return Problem(where, f"{error['msg']}, got {show(error['input'])}")  # a pydantic check of its own (none today)


def _section_of(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model that holds the key at ``loc``."""
    model: type[BaseModel] = StudyConfig
    for part in loc[:-1]:
        model = model.model_fields[str(part)].annotation  # type: ignore[assignment]
    return model
