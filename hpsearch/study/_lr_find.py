"""The LR range test of a study (``hpsearch lr-find``), as a library call.

One short training run of the study's model at a deterministic, typical point of its search space
(:func:`~hpsearch.space._sample.representative_point`: the optimizer asked for or the first
declared, the first of each choice, the middle of each range; a constant rate, whatever the study's
schedules), with the learning rate growing exponentially per batch
(:class:`~hpsearch.trial.callbacks.LearningRateRangeTest`). The loss-vs-rate curve gives a range to
search (:func:`~hpsearch.study._lr_bounds.suggest_bounds`). It is drawn to a PNG and recorded as an
MLflow run of the study's experiment (role ``lr_find``); no Optuna trial is written.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import Locations, resolve_locations, unwritable_reason
from hpsearch.config import Range, StudyConfig, builtin_studies, load_study_config
from hpsearch.config._edit import with_learning_rate_range
from hpsearch.keys import LR_FIND_PLOT, LRFindMetric, LRFindParam, Role, RunStatus
from hpsearch.space._sample import representative_point
from hpsearch.study._data_record import load_data
from hpsearch.study._lr_bounds import SuggestedBounds, suggest_bounds
from hpsearch.study._model_check import check_model
from hpsearch.study._open import stored_seed
from hpsearch.study._session import check_locations
from hpsearch.tasks._plan import settle

__all__ = ["LRFindRequest", "LRFindResult", "lr_find", "apply_bounds", "DEFAULT_STEPS", "MIN_STEPS"]

#: batches of the test by default (fastai's and Lightning's default)
DEFAULT_STEPS = 100
#: fewest batches a test can have
MIN_STEPS = 5
#: the test spans at most this many epochs of the training split
MAX_EPOCHS = 2
#: rates of a study without a learning-rate range: fastai's and Lightning's defaults
DEFAULT_START_LR, DEFAULT_END_LR = 1e-7, 10.0
#: with a range, the test spans it widened by this factor on each side
WIDEN = 100.0


@dataclass(frozen=True)
class LRFindRequest:
    """Everything ``hpsearch lr-find`` was asked to do."""

    study: str
    optimizer: str | None = None
    steps: int = DEFAULT_STEPS
    start_lr: float | None = None
    end_lr: float | None = None
    study_name: str | None = None
    subset: int | None = None
    dataset: str | None = None
    data_dir: str | None = None
    target: str | None = None
    test: str | None = None
    seed: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    plot: str | None = None  #: where the PNG goes (default: $HPSEARCH_HOME/lr_find/NAME/OPTIMIZER.png)


@dataclass
class LRFindResult:
    """What the test found."""

    config: StudyConfig
    params: dict[str, Any]  #: the point of the space the model was trained at
    chosen: list[tuple[str, Any, str]]  #: ``(param, value, why)`` for each searched param
    start_lr: float
    end_lr: float
    steps: int  #: batches planned
    limited_from: int | None  #: the --steps asked for when two epochs gave fewer batches
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    diverged_at: int | None = None  #: batch index (0-based) where the loss diverged
    bounds: SuggestedBounds | None = None
    plot: Path | None = None
    run_id: str | None = None
    experiment_id: str | None = None
    seed: int = 0
    beta: float = 0.0  #: the smoothing of the loss (see :func:`~hpsearch.trial.callbacks.default_beta`)

    @property
    def optimizer(self) -> str:
        return str(self.params["optimizer"])


def _config(request: LRFindRequest) -> StudyConfig:
    config = load_study_config(request.study, study_name=request.study_name)
    return config.with_overrides(
        subset=request.subset, dataset=request.dataset, target=request.target, test=request.test, seed=request.seed
    )


def _check_optimizer(config: StudyConfig, optimizer: str | None) -> str:
    names = config.search_space.optimizer.names
    if optimizer is None:
        return names[0]
    if optimizer not in names:
        raise UsageError(
            f"--optimizer {optimizer!r} is not one of the study's optimizers ({', '.join(names)}); pass one of them "
            "(or add it to search_space.optimizer)."
        )
    return optimizer


def _rates(config: StudyConfig, request: LRFindRequest) -> tuple[float, float]:
    """The test's span: --start-lr/--end-lr, else the study's range widened 100x each way, else 1e-7..10."""
    spec = config.search_space.learning_rate
    if isinstance(spec, Range):
        start, end = spec.low / WIDEN, spec.high * WIDEN
    else:
        start, end = DEFAULT_START_LR, DEFAULT_END_LR
    start = request.start_lr if request.start_lr is not None else start
    end = request.end_lr if request.end_lr is not None else end
    if not 0 < start < end:
        raise UsageError(f"The LR range test needs 0 < start < end, got --start-lr {start:g} and --end-lr {end:g}; pass a lower --start-lr.")
    return float(start), float(end)


def _seed(config: StudyConfig, locations: Locations) -> int:
    """The study file's / --seed's seed, else the existing study's (its validation split), else 0."""
    if config.seed is not None:
        return int(config.seed)
    recorded = stored_seed(config.name, locations)
    return int(recorded) if recorded is not None else 0


def _steps(requested: int, examples: int, batch_size: int) -> int:
    """The test's batches: as asked, at most :data:`MAX_EPOCHS` epochs' worth, at least :data:`MIN_STEPS`."""
    available = MAX_EPOCHS * -(-examples // batch_size)
    if available < MIN_STEPS:
        raise UsageError(
            f"{examples} training examples give {available} batches of {batch_size} in {MAX_EPOCHS} epochs; "
            f"the LR range test needs at least {MIN_STEPS}: use more data (--subset) or a smaller batch_size."
        )
    return min(requested, available)


def _plot_path(config: StudyConfig, optimizer: str, where: str | None, locations: Locations) -> Path:
    """Where the plot goes, checked writable before anything trains."""
    path = Path(where) if where else locations.lr_find_folder(config.name) / f"{optimizer}.png"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the first folder that exists must take the new ones
        folder = folder.parent
    reason = unwritable_reason(folder)
    if reason is not None or path.is_dir():
        raise UsageError(f"Cannot write the plot {path} ({reason or 'a folder of that name'}); pass --plot PATH in a folder you can write.")
    return path


def lr_find(request: LRFindRequest) -> LRFindResult:
    """Run the LR range test of ``request.study`` (see the module).

    Raises:
        UsageError: a bad study, optimizer, span or too little data (nothing written).
        RuntimeFailure: unreachable stores, or a curve that gives no suggestion.
    """
    if request.steps < MIN_STEPS:
        raise UsageError(f"--steps must be at least {MIN_STEPS}, got {request.steps}.")
    config = _config(request)
    optimizer = _check_optimizer(config, request.optimizer)
    start_lr, end_lr = _rates(config, request)
    locations = resolve_locations(request.storage, request.tracking_uri)
    config = config.with_overrides(seed=_seed(config, locations))
    dataset = load_data(config, request.data_dir)
    config = settle(config, dataset)
    check_model(config, dataset)
    branches = {"schedule": "none", **({"optimizer": optimizer} if request.optimizer else {})}
    params, notes = representative_point(config.search_space, branches)
    params["learning_rate"] = start_lr  # the callback sets it per batch
    chosen = [
        (name, value, "--optimizer" if name == "optimizer" and request.optimizer else why)
        for name, value, why in notes
        if name not in ("learning_rate", "schedule")
    ]
    steps = _steps(request.steps, len(dataset.train), int(params["batch_size"]))
    plot = _plot_path(config, str(params["optimizer"]), request.plot, locations)
    check_locations(locations)

    from hpsearch.study._lr_train import train_range_test

    result = LRFindResult(
        config=config,
        params=params,
        chosen=chosen,
        start_lr=start_lr,
        end_lr=end_lr,
        steps=steps,
        limited_from=request.steps if steps < request.steps else None,
        seed=int(config.seed),
    )
    train_range_test(result, dataset)
    try:
        result.bounds = suggest_bounds(result.rates, result.smoothed)
    except RuntimeFailure as e:  # the curve still says why: draw it
        few = (
            f" Only {steps} batches ran ({MAX_EPOCHS} epochs of {len(dataset.train)} examples in batches of "
            f"{params['batch_size']}); a smaller batch_size or more data gives more."
            if result.limited_from
            else ""
        )
        raise RuntimeFailure(f"{e}{few} The curve: {_draw(result, plot)}") from None
    result.plot = _draw(result, plot)
    _record(result, locations)
    return result


def _draw(result: LRFindResult, path: Path) -> Path:
    from hpsearch.trial._plots import lr_find_png

    path.parent.mkdir(parents=True, exist_ok=True)
    b = result.bounds
    return lr_find_png(
        result.rates,
        result.losses,
        result.smoothed,
        path,
        bounds=None if b is None else (b.low, b.high),
        marks=None if b is None else {"steepest fall": b.steepest, "lowest loss": b.lowest},
        title=f"LR range test: {result.config.name} ({result.optimizer}, batch size {result.params['batch_size']})",
    )


def _record(result: LRFindResult, locations: Locations) -> None:
    """The test as an MLflow run of the study's experiment: params, the curve per batch, the plot."""
    from hpsearch.tracking._tracking import StudyTracking

    assert result.bounds is not None and result.plot is not None
    tracking = StudyTracking(locations.tracking_uri, result.config.name, locations.artifact_root)
    params = {
        LRFindParam.OPTIMIZER: result.optimizer,
        LRFindParam.STEPS: result.steps,
        LRFindParam.START_LR: result.start_lr,
        LRFindParam.END_LR: result.end_lr,
        LRFindParam.SEED: result.seed,
        LRFindParam.SMOOTHING_BETA: round(result.beta, 4),
        **{name: value for name, value, _ in result.chosen if name != "optimizer"},
    }
    run = tracking.start_run(f"lr-find-{result.optimizer}", Role.LR_FIND, params=params)
    try:
        run.log_steps(
            (step, {LRFindMetric.LEARNING_RATE: rate, LRFindMetric.LOSS: loss, LRFindMetric.SMOOTHED_LOSS: smooth})
            for step, (rate, loss, smooth) in enumerate(zip(result.rates, result.losses, result.smoothed))
        )
        run.log_metrics({LRFindMetric.SUGGESTED_LOW: result.bounds.low, LRFindMetric.SUGGESTED_HIGH: result.bounds.high})
        folder, _, name = LR_FIND_PLOT.rpartition("/")
        with tempfile.TemporaryDirectory() as staging:  # logged under its stored name, whatever the file's
            run.log_artifact(shutil.copy(result.plot, Path(staging) / name), folder)
    except BaseException:
        run.end(RunStatus.FAILED)
        raise
    run.end(RunStatus.FINISHED)
    result.run_id, result.experiment_id = run.run_id, tracking.experiment_id


def apply_bounds(config: StudyConfig, bounds: SuggestedBounds, output: str | None = None) -> tuple[Path, Path | None]:
    """Write a copy of ``config``'s study file with ``search_space.learning_rate`` narrowed to
    ``bounds`` (a log range; comments and layout kept, see :mod:`hpsearch.config._edit`).

    The copy goes to ``output``, else next to the file as ``NAME.lr.yaml`` (a shipped study's to
    the current folder). It is read back: it must load and hold exactly those bounds. A model
    builder file the study names relative to its folder is copied along when the copy's folder
    lacks it (a shipped study's ``resnet_small.py``), so the copy runs as it is.

    Returns:
        The copy, and the builder file copied along (or ``None``).

    Raises:
        UsageError: the copy cannot be written, or does not read back as asked.
    """
    source = Path(config.source)
    shipped = {p.resolve() for p in builtin_studies().values()}
    if output:
        path = Path(output)
    elif source.resolve() in shipped:
        path = Path.cwd() / f"{source.stem}.lr.yaml"
    else:
        path = source.with_name(f"{source.stem}.lr.yaml")
    if path.resolve() == source.resolve():
        raise UsageError(f"-o {output} is the study file itself; pass another path (the original is kept).")
    text = with_learning_rate_range(source.read_text(), bounds.low, bounds.high, where=str(source))
    ref = config.builder_ref()
    builder = None
    if ref is not None and ref.file is not None and not Path(ref.text.rpartition(":")[0]).is_absolute():
        builder = path.parent / ref.text.rpartition(":")[0]
        builder = None if builder.exists() else builder
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if builder is not None and ref is not None and ref.file is not None:
            builder.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ref.file, builder)
    except OSError as e:
        raise UsageError(f"Cannot write {e.filename or path} ({e.strerror or e}); pass -o PATH in a folder you can write.") from None
    written = load_study_config(str(path)).search_space.learning_rate
    if written != Range(bounds.low, bounds.high, log=True):
        raise UsageError(f"{path} reads back learning_rate {written}, not [{bounds.low}, {bounds.high}]; edit it by hand.")
    return path, builder
