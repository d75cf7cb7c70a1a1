"""A study session: everything ``hpsearch study`` and ``hpsearch worker`` do, as library calls.

:func:`run_study` validates the whole request first -- study file, CLI overrides, data, storage
and tracking reachability -- and only then writes: the Optuna study, the MLflow experiment and
parent run. It runs the trials in this process (``workers=1``) or in K worker processes, and
finally evaluates the best trial's best checkpoint on the test set.

:func:`run_worker_process` joins an existing study from any machine: the study's configuration
comes from the storage, so a worker needs only the study name, the two URLs and its data.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from hpsearch.space._catalog import check_input_shape
from hpsearch.config._study_config import StudyConfig, check_schedules_act, load_study_config
from hpsearch.data._datasets import Dataset, load_dataset
from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import Locations, resolve_locations
from hpsearch.study._storage import check_storage, creation_lock, open_storage, parse_storage_url
from hpsearch.study._loop import (
    ATTR_DATA,
    ATTR_DATA_SOURCE,
    ATTR_PARENT_RUN,
    ATTR_TEST,
    Counts,
    NullReporter,
    Reporter,
    WorkerResult,
    check_seed,
    count_trials,
    fresh_seed,
    load_study,
    open_study,
    run_worker,
    stored_seed,
    target_trials,
)

__all__ = [
    "StudyRequest",
    "StudySummary",
    "WorkerRequest",
    "resolve_config",
    "run_study",
    "run_worker_process",
    "finalize_study",
    "gather_tensorboard_logs",
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
        seed=request.seed,
    )
    check_schedules_act(config, epochs_from="training.max_epochs" if request.epochs is None else "--epochs")
    return config


def _settle_seed(config: StudyConfig, locations: Locations, request: StudyRequest) -> StudyConfig:
    """The seed this session runs with: an existing study's own (the validation split its trials
    were scored on), else --seed / the study file's ``seed:``, else a fresh one."""
    recorded = None if request.fresh else stored_seed(config.name, locations)
    if recorded is not None:
        flag = f"--seed {request.seed}" if request.seed is not None else f"`seed:` in {config.source}"
        check_seed(config.name, recorded, config, flag=flag)
        return config.with_overrides(seed=recorded)
    return config if config.seed is not None else config.with_overrides(seed=fresh_seed())


def _check_locations(locations: Locations) -> None:
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
    from hpsearch._locations import unwritable_reason

    for what, folder in locations.local_folders(study_name).items():
        reason = unwritable_reason(folder)
        if reason is not None:
            raise RuntimeFailure(f"Cannot write to the {what} {folder} ({reason}); make it writable, then run the same command again.")


def _load_data(config: StudyConfig, data_dir: str | None) -> Dataset:
    dataset = load_dataset(config.data, seed=config.seed, data_dir=data_dir)
    problem = check_input_shape(config.model, dataset.input_shape)
    if problem:
        raise UsageError(f"{dataset.name}: {problem}.")
    return dataset


def describe_data_source(source: dict[str, Any]) -> str:
    """``CIFAR-10 from files in /data (sha256:...)``, ``/data/mine.npz (sha256:...)``."""
    if source.get("kind") == "npz":
        return f"{source.get('path')} ({source.get('digest')})"
    where = f"files in {source['path']}" if source.get("path") else "the Keras download cache"
    return f"CIFAR-10 from {where} ({source.get('digest')})"


def _record_data_source(study: optuna.Study, dataset: Dataset) -> None:
    """Remember where the study's data came from. A later run that finds the same data elsewhere
    updates the place (the data moved); data with other contents keeps the first record."""
    new, old = dataset.source, study.user_attrs.get(ATTR_DATA_SOURCE)
    if new is None or new == old:
        return
    if old is None or old.get("digest") == new.get("digest"):
        study.set_user_attr(ATTR_DATA_SOURCE, new)


def _recorded_data(study: optuna.Study, config: StudyConfig, data_dir: str | None, dataset: str | None) -> tuple[StudyConfig, str | None]:
    """How to load the study's data again: ``--data-dir`` / ``--dataset`` when given, else the
    source recorded with the study (one line if it is no longer there)."""
    source = study.user_attrs.get(ATTR_DATA_SOURCE)
    if data_dir or dataset or not source:
        return (config.with_overrides(dataset=dataset) if dataset else config), data_dir
    path = source.get("path")
    if path and not Path(path).exists():
        flag = "--dataset PATH.npz" if source.get("kind") == "npz" else "--data-dir DIR"
        raise UsageError(
            f"Study {config.name!r} was trained on {describe_data_source(source)}, which is no longer there; "
            f"pass {flag} with its new location."
        )
    if source.get("kind") == "npz":
        return config.with_overrides(dataset=path), None
    return config, path


def _data_note(study: optuna.Study, data: Dataset) -> str | None:
    """One line if ``data`` is not where or what the study was trained on; refuse data of another
    shape (the study's models could not even read it)."""
    stored = study.user_attrs.get(ATTR_DATA)
    if stored is not None and stored != data.fingerprint():
        raise UsageError(
            f"This data ({data.fingerprint()}) is not what study {study.study_name!r} was trained on ({stored}); "
            "pass the study's data with --data-dir / --dataset."
        )
    source, new = study.user_attrs.get(ATTR_DATA_SOURCE), data.source
    if not source or not new:
        return None
    if new.get("digest") != source.get("digest"):
        return (
            f"the data loaded ({describe_data_source(new)}) differs from what study {study.study_name!r} was trained on "
            f"({describe_data_source(source)}); the test metrics are for the data loaded."
        )
    if new.get("path") != source.get("path"):
        return f"study {study.study_name!r} was trained on {describe_data_source(source)}; the same data is now at {new.get('path') or 'the Keras download cache'}."
    return None


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
        "objective": f"{config.objective.direction} {config.objective.metric}",
    }
    tags = {
        "hpsearch.target_trials": config.budget.trials,
        "hpsearch.sampler": config.sampler.name,
        "hpsearch.pruner": config.pruner.name,
        "hpsearch.search_space": ", ".join(config.search_space.searched()),
    }
    parent = tracking.open_parent(study.user_attrs.get(ATTR_PARENT_RUN), params=params, tags=tags)
    if study.user_attrs.get(ATTR_PARENT_RUN) != parent:
        study.set_user_attr(ATTR_PARENT_RUN, parent)
    try:
        tracking.log_parent_text(yaml.safe_dump(config.to_dict(), sort_keys=False), "study.yaml")
    except Exception as e:  # noqa: BLE001 - the artifact store refused (folder made unwritable since the check)
        tracking.close_parent("FAILED")
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


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def _sweep_runs(study: optuna.Study, tracking: Any) -> int:
    """End MLflow trial runs left RUNNING although their Optuna trial is over (killed between the
    two writes). Returns how many were fixed."""
    from hpsearch.tracking._tracking import TAG_FAIL_REASON

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    fixed = 0
    for run in tracking.child_runs():
        if run.status != "RUNNING":
            continue
        trial = trials.get(run.trial_number) if run.trial_number is not None else None
        if trial is not None and trial.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        state = trial.state.name if trial is not None else "KILLED"
        reason = trial.user_attrs.get("fail_reason") if trial is not None else "no Optuna trial"
        tracking.trial_run(run.run_id).finish(
            state, value=trial.value if trial is not None else None, tags={TAG_FAIL_REASON: reason} if reason else None
        )
        fixed += 1
    return fixed


def _upload_pending(tracking: Any, study_dir: Path, reporter: Reporter) -> None:
    """Store the files that earlier runs could not get into MLflow (kept in the trials' checkpoint
    folders); a folder is deleted once the store lists all its files."""
    from hpsearch.trial._checkpoints import TrialCheckpoints
    from hpsearch.tracking._tracking import TAG_MODEL_PENDING

    for pending in TrialCheckpoints.pending_in(study_dir):
        run = tracking.trial_run(pending.run_id)
        try:
            for name, artifact_path in pending.files:
                run.store_artifact(pending.directory / name, artifact_path)
            run.delete_tags([TAG_MODEL_PENDING])
        except Exception as e:  # noqa: BLE001 - still unwritable: keep it for the next run
            cause = f"{type(e).__name__}: {e}".splitlines()[0]
            reporter.message(f"trial {pending.trial}: its model is still not stored in MLflow ({cause}); kept in {pending.directory}")
            continue
        TrialCheckpoints(pending.directory).clear()
        reporter.message(f"trial {pending.trial}: stored {', '.join(f'{a}/{n}' for n, a in pending.files)} in MLflow (kept since an earlier run)")


def _pending_message(study_dir: Path) -> str | None:
    """One line about trials whose files are still waiting for MLflow, or ``None``."""
    from hpsearch.trial._checkpoints import TrialCheckpoints

    pending = TrialCheckpoints.pending_in(study_dir)
    if not pending:
        return None
    trials = ", ".join(str(p.trial) for p in pending)
    return (
        f"The models of trial(s) {trials} are not in MLflow yet ({pending[-1].error}); they are kept in "
        f"{study_dir}. Make the artifact folder writable, then run the same command again: it stores them first."
    )


def _close_after_stop(study: optuna.Study, tracking: Any, status: str) -> None:
    """Interrupted or failed: end the runs that are over and the parent run, best effort."""
    try:
        _sweep_runs(study, tracking)
        tracking.close_parent(status)
    except Exception:  # noqa: BLE001 - never hide the original error
        pass


def finalize_study(
    study: optuna.Study,
    config: StudyConfig,
    tracking: Any,
    dataset: Dataset,
    *,
    pipelines: Any = None,
    interrupted: bool = False,
    pending: str | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any] | None:
    """Close the books once no trial is running: sweep runs, test-evaluate the best trial, end the
    parent run (FAILED while ``pending`` trial files are not in MLflow; never left RUNNING).
    Returns the test metrics (or ``None``)."""
    counts = count_trials(study)
    if counts.running:
        return None
    try:
        _sweep_runs(study, tracking)
        parent = tracking.parent()
        test = _test_best(study, tracking, dataset, pipelines, counts, reporter or NullReporter())
        parent.set_tags(
            {
                "hpsearch.complete": counts.complete,
                "hpsearch.pruned": counts.pruned,
                "hpsearch.failed": counts.failed,
            }
        )
    except BaseException:
        _close_after_stop(study, tracking, "FAILED")
        raise
    tracking.close_parent("KILLED" if interrupted else "FAILED" if pending else "FINISHED")
    return test


def _test_best(study: optuna.Study, tracking: Any, dataset: Dataset, pipelines: Any, counts: Counts, reporter: Reporter) -> dict[str, Any] | None:
    """Evaluate the best trial's model (from MLflow) on the test set and log it to the parent run.

    A best model MLflow does not have is a message, not a failed study: the next run (once its
    upload went through) evaluates it.
    """
    best = _best_trial(study)
    if best is None or not best.user_attrs.get("mlflow_run_id"):
        return None
    stored = study.user_attrs.get(ATTR_TEST) or {}
    parent = tracking.parent()
    if stored.get("trial") == best.number and best.number in parent.logged_steps("test_loss"):
        return stored  # the best trial has not changed since its test metrics were logged
    import keras

    from hpsearch.data._datasets import Pipelines
    from hpsearch.results._export import evaluate, fetch_checkpoint, load_checkpoint, scratch_dir

    run_id = best.user_attrs["mlflow_run_id"]
    try:
        if not tracking.has_model(run_id):
            raise RuntimeFailure(f"its MLflow run {run_id} has no model/best.keras (yet).")
        with scratch_dir() as tmp:
            model = load_checkpoint(fetch_checkpoint(tracking, run_id, tmp))
    except RuntimeFailure as e:
        reporter.message(f"No test-set evaluation of trial {best.number}: {e}")
        return None
    metrics = evaluate(model, pipelines or Pipelines(dataset))
    del model
    keras.backend.clear_session(free_memory=True)
    parent.log_metrics(metrics, step=best.number)  # once per change of the best trial, at its number
    test = {"trial": best.number, **metrics}
    study.set_user_attr(ATTR_TEST, test)
    parent.set_tags({"hpsearch.best_trial": best.number, "hpsearch.best_value": repr(best.value)})
    return test


def _parallel(
    request: StudyRequest, config: StudyConfig, locations: Locations, study: optuna.Study, reporter: Reporter, deadline: float | None
) -> str:
    """Run ``request.workers`` worker processes and relay their finished trials to ``reporter``."""
    from hpsearch.study._workers import gpu_for_rank, spawn_worker

    env = dict(os.environ)
    env["HPSEARCH_STORAGE"] = locations.storage_url  # not argv: `ps` would show passwords
    env["MLFLOW_TRACKING_URI"] = locations.tracking_uri
    env["HPSEARCH_CHECKPOINT_DIR"] = str(locations.checkpoint_root)
    env["HPSEARCH_HOME"] = str(locations.home)
    base = [config.name, "--no-finalize", "--quiet"]
    if request.data_dir:
        base += ["--data-dir", str(request.data_dir)]
    if config.data.dataset.endswith(".npz"):
        base += ["--dataset", config.data.dataset]
    procs: list[subprocess.Popen] = []
    for rank in range(request.workers):
        if deadline is not None:
            env["HPSEARCH_DEADLINE"] = repr(deadline)
        procs.append(spawn_worker([*base, "--rank", str(rank)], gpu=gpu_for_rank(request.gpus, rank), env=env))
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

    max_epochs = config.training.max_epochs

    def relay() -> None:
        running = []
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                reporter.trial_finished(t, None)
            elif t.state == TrialState.RUNNING:
                running.append(f"#{t.number} epoch {len(t.intermediate_values)}/{max_epochs}")
        reporter.status(f"{len(procs)} workers; running " + (", ".join(running) if running else "-"))

    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1.0)
            relay()
    except KeyboardInterrupt as stop:
        sig = signal.SIGTERM if type(stop).__name__ == "Terminated" else signal.SIGINT
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
        relay()
        raise
    relay()
    bad = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (0, None)]
    if bad:
        reporter.message("worker(s) " + ", ".join(f"{i} (exit {rc})" for i, rc in bad) + " stopped with an error; see their messages above")
    return "budget" if count_trials(study).finished >= target_trials(study, config) else "workers stopped"


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
    config = _settle_seed(requested, locations, request)
    dataset = _load_data(config, request.data_dir)
    _check_locations(locations)
    _check_folders(locations, config.name)

    # Processes started together on a new study: one creates it (and its seed, its parent run),
    # the others wait here and then join it; one whose freshly drawn seed lost reloads its data
    # with the study's seed (the validation split must be the same in every process).
    with creation_lock(locations.storage_url, "open"):
        recorded = None if request.fresh else stored_seed(config.name, locations)
        if recorded is not None and recorded != config.seed:
            config = _settle_seed(requested, locations, request)  # one line if another seed was asked for
            dataset = _load_data(config, request.data_dir)
        study, config, created = open_study(config, locations, data_fingerprint=dataset.fingerprint(), fresh=request.fresh)
        _record_data_source(study, dataset)
        if request.fresh:
            shutil.rmtree(locations.checkpoint_root / config.name, ignore_errors=True)
        tracking = _open_tracking(config, locations, study, fresh=request.fresh)
    target = config.budget.trials
    counts = count_trials(study)
    if on_ready is not None:
        on_ready(config, locations, study, tracking)
    reporter = reporter_factory(config, target, counts.finished) if reporter_factory else NullReporter()
    study_dir = locations.checkpoint_root / config.name
    _upload_pending(tracking, study_dir, reporter)

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
            reason = _parallel(request, config, locations, study, reporter, deadline)
    except BaseException as stop:
        _close_after_stop(study, tracking, "KILLED" if isinstance(stop, KeyboardInterrupt) else "FAILED")
        raise
    test = None
    pending = None
    if reason != "recycle":  # the replacement process carries on; the study is not over
        pending = _pending_message(study_dir)
        pipelines = runner.pipelines if runner else None
        test = finalize_study(study, config, tracking, dataset, pipelines=pipelines, pending=pending, reporter=reporter)
    return StudySummary(
        config=config,
        locations=locations,
        stop_reason=reason,
        counts=count_trials(study),
        target=target,
        best=_best_trial(study),
        test_metrics=test or study.user_attrs.get(ATTR_TEST),
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
    if request.dataset:
        config = config.with_overrides(dataset=request.dataset)
    dataset = _load_data(config, request.data_dir)
    stored = study.user_attrs.get(ATTR_DATA)
    if stored is not None and stored != dataset.fingerprint():
        raise UsageError(
            f"This worker loads different data ({dataset.fingerprint()}) than study {config.name!r} "
            f"was created with ({stored}); pass the same dataset (--dataset / --data-dir)."
        )
    check_tracking_uri(locations.tracking_uri)
    _check_folders(locations, config.name)
    parent = study.user_attrs.get(ATTR_PARENT_RUN)
    if not parent:
        raise RuntimeFailure(f"Study {config.name!r} has no MLflow parent run yet; start it with `hpsearch study` first.")
    tracking = StudyTracking(locations.tracking_uri, config.name, locations.artifact_root)
    tracking.attach_parent(parent)
    configure_gpus()
    target = target_trials(study, config)
    reporter = reporter_factory(config, target, count_trials(study).finished) if reporter_factory else NullReporter()
    _upload_pending(tracking, locations.checkpoint_root / config.name, reporter)
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
        pending = _pending_message(locations.checkpoint_root / config.name)
        finalize_study(study, config, tracking, dataset, pipelines=runner.pipelines, pending=pending, reporter=reporter)
        if pending:
            raise RuntimeFailure(pending)
    return result


def open_read_only(name: str, storage: str | None) -> tuple[optuna.Study, StudyConfig, Locations]:
    """Load a study for inspection (``show``, ``report``, ``export``) without changing anything."""
    locations = resolve_locations(storage, None)
    study, config = load_study(name, locations)
    return study, config, locations


def storage_read_only(storage: str | None) -> tuple[optuna.storages.BaseStorage, Locations]:
    locations = resolve_locations(storage, None)
    return open_storage(locations.storage_url, create=False), locations


def open_tracking_read_only(study: optuna.Study, config: StudyConfig, locations: Locations) -> Any:
    """The study's MLflow side, attached to its parent run, creating nothing."""
    from hpsearch.tracking._tracking import StudyTracking, check_tracking_uri

    if not locations.tracking_is_default:
        check_tracking_uri(locations.tracking_uri)
    elif not (locations.home / "mlflow.db").is_file():
        raise RuntimeFailure(f"No MLflow store at {locations.home / 'mlflow.db'}; pass the --tracking-uri the study was run with.")
    tracking = StudyTracking(locations.tracking_uri, config.name, locations.artifact_root, create=False)
    parent = study.user_attrs.get(ATTR_PARENT_RUN)
    if not parent:
        raise RuntimeFailure(f"Study {config.name!r} has no MLflow parent run; was it created by `hpsearch study`?")
    tracking.attach_parent(parent)
    return tracking


def report_study(name: str, storage: str | None, tracking_uri: str | None, output: str | None) -> tuple[Path, str | None, list[str]]:
    """Write the HTML report of study ``name``; log it to the parent run when MLflow is reachable.

    Returns ``(path, artifact URI or None, notes)``.
    """
    from hpsearch.results._report import build_report, write_report

    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    notes: list[str] = []
    tracking = None
    try:
        tracking = open_tracking_read_only(study, config, locations)
    except (RuntimeFailure, UsageError) as e:
        notes.append(f"Learning curves come from Optuna's per-epoch reports: MLflow is not available ({e})")
    source = study.user_attrs.get(ATTR_DATA_SOURCE)
    if source:
        gone = source.get("path") and not Path(source["path"]).exists()
        notes.append(f"Data: {describe_data_source(source)}" + (" - no longer there (export will need --data-dir / --dataset)" if gone else ""))

    def history(trial: FrozenTrial, metric: str) -> list[tuple[int, float]]:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if tracking is None or not run_id:
            return []
        return tracking.metric_history(run_id, metric)

    text = build_report(study, config, history=history if tracking else None, notes=notes)
    path = write_report(text, output or f"{name}-report.html")
    uri = tracking.log_parent_artifact(path, "report") if tracking is not None else None
    return path, uri, notes


def gather_tensorboard_logs(name: str, storage: str | None, tracking_uri: str | None, logdir: str | None) -> tuple[Path, int]:
    """Download every trial run's ``tensorboard/`` artifacts into ``<logdir>/trial-NNNN/`` (default
    ``<home>/tensorboard/<study>``), for ``tensorboard --logdir``. Returns ``(folder, trials)``."""
    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    tracking = open_tracking_read_only(study, config, locations)
    folder = Path(logdir).expanduser().resolve() if logdir else locations.home / "tensorboard" / name
    latest: dict[str, int] = {}  # a retried trial continues its run: name it after the last attempt
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("mlflow_run_id"):
            latest[trial.user_attrs["mlflow_run_id"]] = trial.number
    count = 0
    for run_id, number in sorted(latest.items(), key=lambda item: item[1]):
        target = folder / f"trial-{number:04d}"
        staging = folder / ".download"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            downloaded = tracking.download(run_id, "tensorboard", staging)
        except Exception:  # noqa: BLE001 - a trial that never trained has no logs
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(downloaded), str(target))
        count += 1
    shutil.rmtree(folder / ".download", ignore_errors=True)
    if not count:
        raise RuntimeFailure(f"No trial of study {name!r} has TensorBoard logs in MLflow yet (they are stored when a trial ends).")
    return folder, count


def export_study(
    name: str,
    *,
    storage: str | None,
    tracking_uri: str | None,
    fmt: str,
    output: str | None,
    data_dir: str | None,
    dataset: str | None,
) -> Any:
    """Export the best model of study ``name`` (see :func:`hpsearch.results._export.export_best`)."""
    from hpsearch.results._export import export_best

    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    config, data_dir = _recorded_data(study, config, data_dir, dataset)
    tracking = open_tracking_read_only(study, config, locations)
    data = _load_data(config, data_dir)
    note = _data_note(study, data)
    result = export_best(study, tracking, data, fmt=fmt, output=output)
    result.data_note = note
    return result


def check_study(name: str, storage: str | None, tracking_uri: str | None) -> tuple[int, int, list[Any]]:
    """Compare study ``name`` in Optuna with its MLflow runs (see :mod:`hpsearch.results._consistency`)."""
    from hpsearch.results._consistency import check_consistency
    from hpsearch.tracking._tracking import param_repr

    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    tracking = open_tracking_read_only(study, config, locations)
    return check_consistency(study, tracking, param_repr=param_repr)
