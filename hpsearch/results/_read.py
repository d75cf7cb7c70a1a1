"""Read a finished (or running) study without changing it: ``show``, ``list``, ``report``,
``export``, ``check`` and ``tensorboard`` as library calls.

Nothing here creates a store, a study or an MLflow experiment: a missing one is a one-line error.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import Locations, resolve_locations
from hpsearch.config import StudyConfig
from hpsearch.study._data_record import data_note, describe_data_source, load_data, recorded_data, summarize_data
from hpsearch.study._open import load_study
from hpsearch.study._storage import open_storage
from hpsearch.keys import param_repr, StudyAttr, TrialAttr

__all__ = [
    "open_results",
    "open_read_only",
    "storage_read_only",
    "open_tracking_read_only",
    "report_study",
    "gather_tensorboard_logs",
    "export_study",
    "check_study",
]


def open_read_only(name: str, storage: str | None) -> tuple[optuna.Study, StudyConfig, Locations]:
    """Load a study for inspection (``show``, ``report``, ``export``) without changing anything."""
    locations = resolve_locations(storage, None)
    study, config = load_study(name, locations)
    return study, config, locations


def open_results(name: str, storage: str | None = None) -> tuple[optuna.Study, StudyConfig]:
    """A study and the configuration it runs with, for reading (public API: ``hpsearch.open_results``).

    ``storage`` is the study's Optuna storage URL (default: ``$HPSEARCH_HOME``'s SQLite store).
    Nothing is created or changed; an unknown study is one :class:`~hpsearch._errors.RuntimeFailure` line naming the studies there.
    """
    study, config, _ = open_read_only(name, storage)
    return study, config


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
    parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
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
    source = study.user_attrs.get(StudyAttr.DATA_SOURCE)
    if source:
        gone = source.get("path") and not Path(source["path"]).exists()
        description = study.user_attrs.get(StudyAttr.DATA_DESCRIPTION)
        read = summarize_data(description) if description else describe_data_source(source)
        notes.append(f"Data: {read}" + (" - no longer there (export will need --data-dir / --dataset)" if gone else ""))

    def history(trial: FrozenTrial, metric: str) -> list[tuple[int, float]]:
        run_id = trial.user_attrs.get(TrialAttr.MLFLOW_RUN_ID)
        if tracking is None or not run_id:
            return []
        return tracking.metric_history(run_id, metric)

    path = Path(output or f"{name}-report.html")
    front = path.with_name(path.stem + "-pareto.png") if config.multi_objective else None
    text = build_report(study, config, history=history if tracking else None, notes=notes, front_png=front)
    path = write_report(text, path)
    uri = tracking.log_parent_artifact(path, "report") if tracking is not None else None
    if front is not None:
        notes.append(f"Pareto front drawn to {front}")
        if tracking is not None:
            tracking.log_parent_artifact(front, "report")
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
        if trial.user_attrs.get(TrialAttr.MLFLOW_RUN_ID):
            latest[trial.user_attrs[TrialAttr.MLFLOW_RUN_ID]] = trial.number
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
    test: str | None = None,
    retrained: bool = False,
    trial: int | None = None,
) -> Any:
    """Export the best model of study ``name`` (see :func:`hpsearch.results._export.export_best`);
    ``retrained``: the model of its newest ``hpsearch retrain`` run; ``trial``: trial ``trial``'s."""
    from hpsearch.results._export import check_choice, export_best
    from hpsearch.study._model_check import import_builder

    check_choice(retrained, trial)  # before anything is loaded
    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    import_builder(config)  # its custom layers, before the checkpoint is loaded
    config, data_dir = recorded_data(study, config, data_dir, dataset)
    if test:
        config = config.with_overrides(test=test)
    tracking = open_tracking_read_only(study, config, locations)
    data = load_data(config, data_dir)
    note = data_note(study, data)
    result = export_best(study, tracking, data, fmt=fmt, output=output, retrained=retrained, trial=trial, kfold=bool(config.folds))
    result.data_note = note
    result.objective = config.all_objectives()[0].metric
    return result


def check_study(name: str, storage: str | None, tracking_uri: str | None) -> tuple[int, int, list[Any]]:
    """Compare study ``name`` in Optuna with its MLflow runs (see :mod:`hpsearch.results._consistency`)."""
    from hpsearch.results._consistency import check_consistency

    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    tracking = open_tracking_read_only(study, config, locations)
    return check_consistency(study, tracking, param_repr=param_repr, kfold=bool(config.folds))
