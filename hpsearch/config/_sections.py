"""The fixed sections of a study file as frozen pydantic models.

Each key's type, default and legal domain is declared once, on its model: pydantic refuses unknown
keys and fills in defaults; numeric domains are :class:`Domain` metadata, checked with the same
rules and messages as the catalog's knobs. Sampler and pruner options come from the catalog's
tables (:data:`~hpsearch.catalog.SAMPLERS`, :data:`~hpsearch.catalog.PRUNERS`).

Validators raise :class:`~hpsearch.config._problems.Problem` (a ``ValueError``); ``_schema`` turns
the first error into the one line the user sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import core_schema

from hpsearch._dataset_kind import CHOICES, OPTIONS_BY_KIND, SUPPORTED, dataset_kind
from hpsearch._errors import UsageError, did_you_mean
from hpsearch import catalog as _catalog
from hpsearch.catalog import Knob
from hpsearch.config._problems import Problem, as_mapping, check_keys, coerce, join, normalize_name, show

__all__ = [
    "Domain",
    "DataConfig",
    "TrainingConfig",
    "ObjectiveConfig",
    "ValidationConfig",
    "SamplerConfig",
    "PrunerConfig",
    "BudgetConfig",
    "HeartbeatConfig",
    "MemoryConfig",
]


@dataclass(frozen=True)
class Domain:
    """``Annotated`` metadata: the legal values of a numeric field, checked as a catalog knob is.

    ``Annotated[int, Domain(1)]`` takes ``3`` and ``3.0`` (as ``3``) and refuses ``0``, ``true``
    and ``"3"`` with ``expected an integer in [1, inf], got 0``; ``int | None`` also takes null.
    Bounds are inclusive unless ``*_open``.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        args = get_args(source)
        kinds = [t for t in args if t is not type(None)] or [source]
        nullable = type(None) in args
        knob = Knob(kinds[0], None, self.low, self.high, low_open=self.low_open, high_open=self.high_open)

        def check(value: Any) -> Any:
            return None if value is None and nullable else coerce(value, knob, "")

        return core_schema.no_info_before_validator_function(check, handler(source))


class _Frozen(BaseModel):
    """Immutable, refuses unknown keys. Validators are built on first use, not at import: `hpsearch
    list` and `--help` import this package without reading a study file."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _Section(_Frozen):
    """A mapping section; an empty one (``training:`` with nothing under it) means all defaults."""

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, raw: Any) -> Any:
        raw = cls._short_form(raw)
        if raw is None:
            return {}
        return cls._derived_defaults(dict(raw)) if isinstance(raw, Mapping) else raw

    @classmethod
    def _short_form(cls, raw: Any) -> Any:
        """The section written another way, as its mapping (none here)."""
        return raw

    @classmethod
    def _derived_defaults(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Fill in the defaults that depend on another key of the section (none here)."""
        return raw


class DataConfig(_Section):
    """What to train on. In a study file these keys sit at the top level or under ``data:``.

    ``dataset`` is a Keras name (:data:`~hpsearch.catalog.DATASETS`), a folder of images (one
    sub-folder per class), a ``.csv`` table or an ``.npz`` of arrays; the options after ``subset``
    apply to some kinds only (:data:`~hpsearch._dataset_kind.OPTIONS_BY_KIND`; another kind's is
    refused) and are ``None`` when unset (the source's default, see
    :class:`~hpsearch.data.sources.SourceSpec`), so that studies stored without them read back equal.
    """

    dataset: str = "cifar10"
    validation_fraction: Annotated[float, Domain(0.0, 1.0, low_open=True, high_open=True)] = 0.1
    subset: Annotated[int | None, Domain(2)] = None  #: train on this many images; ``None``: all
    target: str | None = None  #: csv: the target column (default: the last one)
    test: str | None = None  #: csv: a test table (default: carved, ``test_fraction``)
    test_fraction: Annotated[float | None, Domain(0.0, 1.0, low_open=True, high_open=True)] = None  #: folder, csv (default 0.2)
    impute: str | None = None  #: csv: ``mean`` | ``median`` fill missing values (default: refuse them)
    image_size: tuple[int, int] | None = None  #: folder: [height, width] (default: the images' own)
    color_mode: str | None = None  #: folder: ``rgb`` | ``grayscale`` (default: grayscale when every image is)
    label_mode: str | None = None  #: cifar100: ``fine`` (100 classes, default) | ``coarse`` (20)
    task: str | None = None  #: csv, npz: ``auto`` (default) | ``classification`` | ``regression``

    #: The options that are not in studies stored before they existed (left out of the stored form when unset).
    OPTIONAL: ClassVar[tuple[str, ...]] = ("target", "test", "test_fraction", "impute", "image_size", "color_mode", "label_mode", "task")

    @field_validator("dataset", mode="before")
    @classmethod
    def _known_kind(cls, dataset: Any) -> str:
        if not isinstance(dataset, str) or not dataset.strip():
            raise Problem("", f"expected a dataset name or path, got {show(dataset)}; use {SUPPORTED}")
        if dataset.strip().lower() in _catalog.DATASETS:
            return dataset.strip().lower()
        try:
            dataset_kind(dataset, must_exist=False)  # the loader checks the path, naming it
        except UsageError as e:
            raise Problem("", str(e).rstrip(".")) from None
        return dataset.strip()

    @field_validator("target", "test", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise Problem("", f"expected a column name or a path, got {show(value)}")
        return value.strip() if value is not None else None

    @field_validator("impute", "color_mode", "label_mode", "task", mode="before")
    @classmethod
    def _choice(cls, value: Any, info: ValidationInfo) -> str | None:
        allowed = CHOICES[str(info.field_name)]
        if value is not None and value not in allowed:
            raise Problem("", f"expected one of {' | '.join(allowed)}, got {show(value)}")
        return value

    @field_validator("image_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> tuple[int, int] | None:
        if value is None:
            return None
        size = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
            raise Problem("", f"expected [height, width] in pixels (or one number for squares), got {show(value)}; e.g. [150, 150]")
        return (int(size[0]), int(size[1]))

    @model_validator(mode="after")
    def _options_fit_the_kind(self) -> DataConfig:
        kind = dataset_kind(self.dataset, must_exist=False)
        for name in self.OPTIONAL:
            if getattr(self, name) is not None and name not in OPTIONS_BY_KIND[kind]:
                users = " / ".join(k for k, opts in OPTIONS_BY_KIND.items() if name in opts)
                raise Problem(name, f"does not apply to dataset {self.dataset} (a {kind} source); it is for {users} sources. Remove it")
        return self

    def stored_form(self) -> dict[str, Any]:
        """The keys as a study file (and the study's stored config) writes them: unset options left out."""
        out = self.model_dump()
        for name in self.OPTIONAL:
            if out[name] is None:
                del out[name]
            elif name == "image_size":
                out[name] = list(out[name])
        return out


class TrainingConfig(_Section):
    max_epochs: Annotated[int, Domain(1)] = 20
    early_stopping_patience: Annotated[int | None, Domain(0)] = 5  #: ``None``: never stop early


class ObjectiveConfig(_Section):
    """The metric a trial is scored by: any logged metric, ``val_<m>`` (validation) or ``<m>``
    (training), ``<m>`` being ``loss`` or a compiled metric (:data:`~hpsearch.catalog.TASK_METRICS`).
    Whether the model compiles it is checked once the task is known (before any trial)."""

    metric: str = "val_accuracy"
    direction: str = "maximize"  #: omitted: the direction that makes ``metric`` better

    @classmethod
    def _short_form(cls, raw: Any) -> Any:
        """``objective: val_mae`` and ``objective: {val_mae: minimize}`` (as an entry of
        ``objectives:`` is written)."""
        if isinstance(raw, str):
            return {"metric": raw}
        if isinstance(raw, Mapping) and len(raw) == 1:
            ((key, value),) = raw.items()
            if key not in cls.model_fields and value in ("maximize", "minimize"):
                return {"metric": key, "direction": value}
        return raw

    @property
    def tie_break(self) -> str | None:
        """The metric that decides between epochs or trials with the same ``metric``: ``val_loss``
        for any other validation metric, else none. Accuracy on a small validation set takes few
        values (126 images: steps of 0.8%), so ties are common; the lower loss is the more
        confident model, and the better guess for unseen data."""
        return "val_loss" if self.metric.startswith("val_") and self.metric != "val_loss" else None

    @classmethod
    def _derived_defaults(cls, raw: dict[str, Any]) -> dict[str, Any]:
        metric = raw.get("metric", cls.model_fields["metric"].default)
        if "direction" not in raw and isinstance(metric, str) and _catalog.metric_direction(metric):
            raw["direction"] = _catalog.metric_direction(metric)
        return raw

    @field_validator("metric", mode="before")
    @classmethod
    def _known(cls, metric: Any) -> str:
        if not isinstance(metric, str) or _catalog.metric_direction(metric) is None:
            known = [f"{prefix}{m}" for prefix in ("val_", "") for m in ("loss", *_catalog.TASK_METRICS)]
            started = [k for k in known if isinstance(metric, str) and metric and k.startswith(metric)]
            hint = f" (did you mean {started[0]!r}?)" if len(started) == 1 else did_you_mean(str(metric), known)
            raise Problem(
                "",
                f"the model does not produce {metric!r}{hint}; use val_loss, "
                f"or val_<m> / <m> for a compiled metric m ({', '.join(_catalog.TASK_METRICS)})",
            )
        return metric

    @field_validator("direction", mode="before")
    @classmethod
    def _improves(cls, direction: Any, info: ValidationInfo) -> str:
        if direction not in ("maximize", "minimize"):
            raise Problem("", f"expected maximize or minimize, got {direction!r}")
        metric = info.data.get("metric")  # absent when the metric itself was refused
        better = _catalog.metric_direction(metric) if metric is not None else None
        if better is not None and direction != better:
            raise Problem("", f"{direction} {metric} would select the worst models; use direction: {better}")
        return direction


class ValidationConfig(_Section):
    """How a trial is validated: ``folds: K`` trains K models on K splits of the training data
    (K-fold cross-validation, stratified for classification) and scores the mean; ``None`` (the
    default): one model, validated on the held-out ``validation_fraction``."""

    folds: Annotated[int | None, Domain(2, 100)] = None


class BudgetConfig(_Section):
    trials: Annotated[int, Domain(1)] = 20
    timeout: Annotated[float | None, Domain(0.0, low_open=True)] = None  #: seconds; ``None``: no limit
    max_consecutive_failures: Annotated[int, Domain(1)] = 5


class HeartbeatConfig(_Section):
    interval: Annotated[int, Domain(1)] = 20  #: seconds between a running trial's heartbeats
    grace_period: Annotated[int, Domain(1)] = 60  #: omitted: three intervals

    @classmethod
    def _derived_defaults(cls, raw: dict[str, Any]) -> dict[str, Any]:
        interval = raw.get("interval", cls.model_fields["interval"].default)
        if "grace_period" not in raw and isinstance(interval, (int, float)) and not isinstance(interval, bool):
            raw["grace_period"] = 3 * interval
        return raw

    @field_validator("grace_period")
    @classmethod
    def _outlives_interval(cls, grace: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval")  # absent when the interval itself was refused
        if interval is not None and grace <= interval:
            raise Problem(
                "",
                f"`grace_period > interval` must hold, but got (grace_period={grace}, {interval=}); "
                "a live worker would be declared dead between two heartbeats",
            )
        return grace


class MemoryConfig(_Section):
    """Restart a worker process (between trials) once its memory has grown by more than
    ``max_growth`` (a fraction) past its size after its first trial; ``None``: never."""

    max_growth: Annotated[float | None, Domain(0.0, low_open=True)] = 0.05


class _Named(_Frozen):
    """An option of a catalog table (a sampler, a pruner) and the values of its knobs.

    A study file writes it ``tpe`` or ``{name: tpe, n_startup_trials: 5}``; omitted knobs take
    the table's defaults, and :meth:`model_dump` gives that form back. ``options`` holds every
    knob of the option, in the table's order.
    """

    _TABLE: ClassVar[Mapping[str, Mapping[str, Knob]]]

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _from_file(cls, raw: Any, handler: ModelWrapValidatorHandler[_Named]) -> _Named:
        if isinstance(raw, cls):
            return raw
        if isinstance(raw, Mapping) and "options" in raw:  # the model's own form: name=..., options=...
            raw = {"name": raw.get("name", cls.model_fields["name"].default), **dict(raw["options"])}
        name, options = cls._parse(raw)
        return handler({"name": name, "options": options})

    @classmethod
    def _parse(cls, raw: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
        default = cls.model_fields["name"].default
        if isinstance(raw, str) or raw is None:
            raw = {"name": raw or default}
        raw = as_mapping(raw, "")
        name = normalize_name(raw.get("name", default), cls._TABLE, "name")
        knobs = cls._TABLE[name]
        check_keys(raw, ["name", *knobs], "")
        return name, tuple((key, _option(raw, key, knob)) for key, knob in knobs.items())

    @model_serializer
    def _to_file(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.options)}


def _option(raw: Mapping[str, Any], key: str, knob: Knob) -> Any:
    """An option's value: its default when omitted; null where the default is null."""
    if key not in raw:
        return knob.default
    value = raw[key]
    if value is None and knob.default is None:
        return None
    return coerce(value, knob, join("", key))


class SamplerConfig(_Named):
    _TABLE = _catalog.SAMPLERS

    name: str = "tpe"


class PrunerConfig(_Named):
    _TABLE = _catalog.PRUNERS

    name: str = "median"

    @model_validator(mode="after")
    def _threshold_has_a_bound(self) -> PrunerConfig:
        options = dict(self.options)
        if self.name == "threshold" and options["lower"] is None and options["upper"] is None:
            raise Problem("", "the threshold pruner needs `lower`, `upper` or both")
        return self
