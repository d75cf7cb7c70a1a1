"""A study session: everything ``hpsearch study`` and ``hpsearch worker`` do, as library calls.

:func:`run_study` validates the whole request first -- study file, CLI overrides, data, storage
and tracking reachability -- and only then writes: the Optuna study, the MLflow experiment and
parent run. It runs the trials in this process (``workers=1``) or in K worker processes, and
finally evaluates the best trial's best checkpoint on the test set.

:func:`run_worker_process` joins an existing study from any machine: the study's configuration
comes from the storage, so a worker needs only the study name, the two URLs and its data.
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import Locations, resolve_locations, unwritable_reason
from hpsearch._locks import creation_lock
from hpsearch.catalog import TABLE_MODELS
from hpsearch.config import StudyConfig, check_schedules_act, load_study_config
from hpsearch.data._datasets import Dataset
from hpsearch.study._data_record import check_same_data, load_data, record_data_source
from hpsearch.study._finalize import close_after_stop, finalize_study, pending_message, upload_pending
from hpsearch.keys import RunStatus, StudyAttr, Tag
from hpsearch.study._loop import Counts, WorkerResult, count_trials, run_worker
from hpsearch.study._model_check import check_model, record_builder
from hpsearch.study._open import check_seed, fresh_seed, load_study, open_study, stored_config, stored_seed, target_trials
from hpsearch.study._storage import canonical
from hpsearch.study._ranking import best_trial
from hpsearch.study._queue import enqueue_param_sets
from hpsearch.study._reporter import NullReporter, Reporter
from hpsearch.study._storage import check_storage, parse_storage_url
from hpsearch.tasks._plan import settle

__all__ = [
    "StudyRequest",
    "StudySummary",
    "WorkerRequest",
    "check_locations",
    "resolve_config",
    "run_study",
    "run_worker_process",
    "finalize_study",
]


@dataclass(frozen=True)
class StudyRequest:
    """Everything ``hpsearch study`` was asked to do."""

    study: str
    study_name: str | None = None
    trials: int | None = None
    timeout: float | None = None
    epochs: int | None = None
    subset: int | None = None
    dataset: str | None = None
    data_dir: str | None = None
    target: str | None = None
    test: str | None = None
    seed: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    fresh: bool = False
    workers: int = 1
    gpus: tuple[str, ...] | None = None
    deadline: float | None = None  #: absolute ``time.time()``; wins over --timeout (restarts keep it)
    recycle: bool = False  #: stop with "recycle" when memory grew too much (the CLI re-executes)


@dataclass
class StudySummary:
    """How a session ended."""

    config: StudyConfig
    locations: Locations
    stop_reason: str
    counts: Counts
    target: int
    best: FrozenTrial | None = None
    test_metrics: dict[str, Any] | None = None
    experiment_id: str | None = None
    parent_run_id: str | None = None
    study: optuna.Study | None = None
    deadline: float | None = None
    pending: str | None = None  #: why some trials' files are not in MLflow yet (then exit 1)


def resolve_config(request: StudyRequest) -> StudyConfig:
    """Study file + CLI overrides -> validated config (no I/O beyond reading the file)."""
    config = load_study_config(request.study, study_name=request.study_name)
    config = config.with_overrides(
        trials=request.trials,
        timeout=request.timeout,
        max_epochs=request.epochs,
        subset=request.subset,
        dataset=request.dataset,
        target=request.target,
        test=request.test,
        seed=request.seed,
    )
    check_schedules_act(config, epochs_from="training.max_epochs" if request.epochs is None else "--epochs")
    return config


def _shipped_study_as_stored(config: StudyConfig, locations: Locations, request: StudyRequest, reporter: Callable[[str], None]) -> StudyConfig:
    """A study created from a shipped study file continues with the configuration it was created
    with when a newer hpsearch ships that file changed (cifar10 searching augmentation): its
    trials stay comparable. A user's own file is never replaced this way (a changed file is an
    error naming the change, as before)."""
    from hpsearch.config import builtin_studies

    shipped = {str(p) for p in builtin_studies().values()}
    if request.fresh or config.source not in shipped:
        return config
    stored = stored_config(config.name, locations)
    if stored is None or canonical(stored.identity()) == canonical(config.identity()):
        return config
    reporter(
        f"Study {config.name!r} continues with the configuration it was created with; the shipped "
        f"{Path(config.source).name} has changed since (--fresh starts over with the new one)."
    )
    # The budget and the strategies of the new file; everything that makes trials comparable from storage.
    kept = stored.model_copy(update={k: getattr(config, k) for k in ("budget", "sampler", "pruner", "heartbeat", "memory")})
    return kept.with_overrides(
        trials=request.trials, timeout=request.timeout, max_epochs=request.epochs, subset=request.subset,
        dataset=request.dataset, target=request.target, test=request.test, seed=request.seed,
    )


def _settle_seed(config: StudyConfig, locations: Locations, request: StudyRequest) -> StudyConfig:
    """The seed this session runs with: an existing study's own (the validation split its trials
    were scored on), else --seed / the study file's ``seed:``, else a fresh one."""
    recorded = None if request.fresh else stored_seed(config.name, locations)
    if recorded is not None:
        flag = f"--seed {request.seed}" if request.seed is not None else f"`seed:` in {config.source}"
        check_seed(config.name, recorded, config, flag=flag)
        return config.with_overrides(seed=recorded)
    return config if config.seed is not None else config.with_overrides(seed=fresh_seed())


def check_locations(locations: Locations) -> None:
    """Fail fast, writing nothing, on a bad storage URL or an unreachable tracking store; then
    create the default store folder if it is used."""
    from hpsearch.tracking._tracking import check_tracking_uri

    if locations.storage_is_default:
        parse_storage_url(locations.storage_url)
    else:
        check_storage(locations.storage_url)
    if not locations.tracking_is_default:
        check_tracking_uri(locations.tracking_uri)
    if locations.storage_is_default or locations.tracking_is_default:
        locations.home.mkdir(parents=True, exist_ok=True)


def _check_folders(locations: Locations, study_name: str) -> None:
    """Fail before the first trial if a folder the trials write into cannot be written."""
    for what, folder in locations.local_folders(study_name).items():
        reason = unwritable_reason(folder)
        if reason is not None:
            raise RuntimeFailure(f"Cannot write to the {what} {folder} ({reason}); make it writable, then run the same command again.")


def _open_tracking(config: StudyConfig, locations: Locations, study: optuna.Study, *, fresh: bool) -> Any:
    from hpsearch.tracking._tracking import StudyTracking

    tracking = StudyTracking(locations.tracking_uri, config.name, locations.artifact_root)
    if fresh:
        runs = tracking.client.search_runs([tracking.experiment_id], max_results=1)
        if runs:
            tracking.retire_experiment(time.strftime("%Y-%m-%d %H-%M-%S"))
    params = {
        "dataset": config.data.dataset,
        "subset": config.data.subset,
        "validation_fraction": config.data.validation_fraction,
        "model": config.model,
        "seed": config.seed,
        "max_epochs": config.training.max_epochs,
        "early_stopping_patience": config.training.early_stopping_patience,
        "objective": ", ".join(f"{o.direction} {o.metric}" for o in config.all_objectives()),
    }
    tags = {
        Tag.TARGET_TRIALS: config.budget.trials,
        Tag.SAMPLER: config.sampler.name,
        Tag.PRUNER: config.pruner.name,
        Tag.SEARCH_SPACE: ", ".join(config.search_space.searched()),
    }
    parent = tracking.open_parent(study.user_attrs.get(StudyAttr.PARENT_RUN), params=params, tags=tags)
    if study.user_attrs.get(StudyAttr.PARENT_RUN) != parent:
        study.set_user_attr(StudyAttr.PARENT_RUN, parent)
    try:
        tracking.log_parent_text(yaml.safe_dump(config.to_dict(), sort_keys=False), "study.yaml")
    except Exception as e:  # noqa: BLE001 - the artifact store refused (folder made unwritable since the check)
        tracking.close_parent(RunStatus.FAILED)
        cause = f"{type(e).__name__}: {e}".splitlines()[0]
        raise RuntimeFailure(f"MLflow's artifact store did not accept study.yaml ({cause}); make it writable, then run the same command again.") from None
    tracking.set_runs_view(config.objective.metric, config.objective.direction, config.search_space.searched())
    return tracking


def _runner(config: StudyConfig, dataset: Dataset, tracking: Any, locations: Locations, reporter: Reporter) -> Any:
    from hpsearch.data._datasets import Pipelines
    from hpsearch.trial._runner import TrialRunner

    return TrialRunner(
        config,
        Pipelines(dataset),
        tracking,
        locations.checkpoint_root / config.name,
        on_epoch=reporter.epoch_end,
        on_message=reporter.message,
    )


def run_study(
    request: StudyRequest,
    *,
    reporter_factory: Callable[[StudyConfig, int, int], Reporter] | None = None,
    on_ready: Callable[[StudyConfig, Locations, optuna.Study, Any], None] | None = None,
) -> StudySummary:
    """Run (or continue) a study until its budget is met, the timeout passes or it is interrupted.

    Args:
        reporter_factory: ``(config, target, finished) -> Reporter`` for progress display.
        on_ready: called once the study and tracking are open (before the first trial).

    Raises:
        UsageError, RuntimeFailure: bad input (nothing written) or a failed study.
        KeyboardInterrupt: after a clean stop (trial FAIL + retry queued, runs KILLED).
    """
    if request.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {request.workers}.")
    requested = resolve_config(request)
    locations = resolve_locations(request.storage, request.tracking_uri)
    requested = _shipped_study_as_stored(requested, locations, request, lambda line: warnings.warn(line, stacklevel=2))
    config = _settle_seed(requested, locations, request)
    dataset = load_data(config, request.data_dir)
    config = settle(config, dataset)
    builder = check_model(config, dataset)  # the model fits the data; a builder you write is dry-built
    check_locations(locations)
    _check_folders(locations, config.name)

    # Processes started together on a new study: one creates it (and its seed, its parent run),
    # the others wait here and then join it; one whose freshly drawn seed lost reloads its data
    # with the study's seed (the validation split must be the same in every process).
    with creation_lock(locations.storage_url, "open"):
        recorded = None if request.fresh else stored_seed(config.name, locations)
        if recorded is not None and recorded != config.seed:
            config = _settle_seed(requested, locations, request)  # one line if another seed was asked for
            dataset = load_data(config, request.data_dir)
            config = settle(config, dataset)
        study, config = open_study(config, locations, data_fingerprint=dataset.fingerprint(), fresh=request.fresh)
        record_data_source(study, dataset)
        builder_note = record_builder(study, config, builder)
        # The study file's enqueue: sets, once (under the lock: processes started together queue them once)
        queued, _ = enqueue_param_sets(study, config.queued_params(), f"{config.source} (enqueue:)") if config.enqueue else (0, 0)
        if request.fresh:
            shutil.rmtree(locations.checkpoint_root / config.name, ignore_errors=True)
        tracking = _open_tracking(config, locations, study, fresh=request.fresh)
    target = config.budget.trials
    counts = count_trials(study)
    if on_ready is not None:
        on_ready(config, locations, study, tracking)
    reporter = reporter_factory(config, target, counts.finished) if reporter_factory else NullReporter()
    if builder_note:
        reporter.message(builder_note)
    if queued:
        reporter.message(f"Queued {queued} param set(s) from the study file's enqueue: list, to run first.")
    if target > 1 and not config.search_space.searched():
        shipped = "boston_housing" if config.model in TABLE_MODELS else "cifar10"
        reporter.message(
            f"Note: {config.source} fixes every parameter (no search_space: range or choice), so its trials "
            f"differ only in their seed; add a search_space: to search (`hpsearch space {shipped}` shows a shipped one)."
        )
    study_dir = locations.checkpoint_root / config.name
    upload_pending(tracking, study_dir, reporter)

    deadline = request.deadline or (time.time() + config.budget.timeout if config.budget.timeout else None)
    runner = None
    try:
        if request.workers == 1:
            from hpsearch.study._workers import configure_gpus

            configure_gpus()  # memory growth, before the first model touches a GPU
            runner = _runner(config, dataset, tracking, locations, reporter)
            result = run_worker(
                study, config, runner, locations, target=target, deadline=deadline, reporter=reporter, recycle=request.recycle
            )
            reason = result.reason
        else:
            from hpsearch.study._parallel import run_parallel

            reason = run_parallel(request, config, locations, study, reporter, deadline)
    except BaseException as stop:
        close_after_stop(study, tracking, RunStatus.KILLED if isinstance(stop, KeyboardInterrupt) else RunStatus.FAILED)
        raise
    test = None
    pending = None
    if reason != "recycle":  # the replacement process carries on; the study is not over
        pending = pending_message(study_dir)
        pipelines = runner.pipelines if runner else None
        test = finalize_study(study, config, tracking, dataset, pipelines=pipelines, pending=pending, reporter=reporter)
    return StudySummary(
        config=config,
        locations=locations,
        stop_reason=reason,
        counts=count_trials(study),
        target=target,
        best=best_trial(study),
        test_metrics=test or study.user_attrs.get(StudyAttr.TEST),
        experiment_id=tracking.experiment_id,
        parent_run_id=tracking.parent_run_id,
        study=study,
        deadline=deadline,
        pending=pending,
    )


@dataclass(frozen=True)
class WorkerRequest:
    """Everything ``hpsearch worker`` was asked to do."""

    study_name: str
    storage: str | None = None
    tracking_uri: str | None = None
    data_dir: str | None = None
    dataset: str | None = None
    test: str | None = None
    rank: int = 0
    deadline: float | None = None
    finalize: bool = True
    max_trials: int | None = None
    recycle: bool = False


def run_worker_process(request: WorkerRequest, *, reporter_factory: Callable[[StudyConfig, int, int], Reporter] | None = None) -> WorkerResult:
    """Join an existing study and run its trials until its budget is met."""
    from hpsearch.tracking._tracking import StudyTracking, check_tracking_uri
    from hpsearch.study._workers import configure_gpus

    locations = resolve_locations(request.storage, request.tracking_uri)
    study, config = load_study(request.study_name, locations, rank=request.rank, for_worker=True)
    if request.dataset or request.test:
        config = config.with_overrides(dataset=request.dataset, test=request.test)
    dataset = load_data(config, request.data_dir)
    check_same_data(study, dataset.fingerprint(), fix="pass the same dataset (--dataset / --data-dir).")
    builder_note = record_builder(study, config, check_model(config, dataset), write=False)
    check_tracking_uri(locations.tracking_uri)
    _check_folders(locations, config.name)
    parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    if not parent:
        raise RuntimeFailure(f"Study {config.name!r} has no MLflow parent run yet; start it with `hpsearch study` first.")
    tracking = StudyTracking(locations.tracking_uri, config.name, locations.artifact_root)
    tracking.attach_parent(parent)
    configure_gpus()
    target = target_trials(study, config)
    reporter = reporter_factory(config, target, count_trials(study).finished) if reporter_factory else NullReporter()
    if builder_note:
        reporter.message(builder_note)
    upload_pending(tracking, locations.checkpoint_root / config.name, reporter)
    runner = _runner(config, dataset, tracking, locations, reporter)
    result = run_worker(
        study,
        config,
        runner,
        locations,
        target=target,
        deadline=request.deadline,
        reporter=reporter,
        max_trials=request.max_trials,
        recycle=request.recycle,
    )
    if request.finalize and result.reason == "budget":
        pending = pending_message(locations.checkpoint_root / config.name)
        finalize_study(study, config, tracking, dataset, pipelines=runner.pipelines, pending=pending, reporter=reporter)
        if pending:
            raise RuntimeFailure(pending)
    return result
