"""Remove a study's MLflow side for good: its experiments, their runs, logged models and artifacts,
and the registered model versions exported from them (``hpsearch delete``).

A study's experiments are those tagged ``hpsearch.study = <name>``: the experiment named after it
and the ones ``--fresh`` renamed out of the way (``<name> (replaced ...)``). Nothing of another
study is read or changed: a registered model named after the study loses only the versions whose
run is one of these experiments' runs, and is itself deleted only when no other version is left.

Database tracking stores (SQLite, PostgreSQL, ...) lose the records for good, the way ``mlflow
gc`` removes them. A tracking server offers no such call: there the experiments are renamed (so a
new study of that name gets a new one) and deleted, their artifacts removed through the server,
and the records stay in its trash until ``mlflow gc`` runs on it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any
from urllib.request import url2pathname

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from hpsearch._errors import RuntimeFailure
from hpsearch._locations import redact
from hpsearch.keys import Role, Tag
from hpsearch.tracking._uris import normalize_tracking_uri

__all__ = ["Experiment", "StudyFootprint", "find_study_footprint", "local_path", "purge_study_footprint"]


def local_path(uri: str) -> Path | None:
    """The folder of this machine a ``file:`` artifact URI names, else ``None``."""
    parts = urlsplit(uri)
    return Path(url2pathname(parts.path)) if parts.scheme == "file" else None


@dataclass(frozen=True)
class Experiment:
    """One experiment of the study: ``(id, name, artifact location)``."""

    experiment_id: str
    name: str
    artifact_location: str

    @property
    def local_folder(self) -> Path | None:
        """The artifact folder on this machine, for a ``file:`` artifact location."""
        return local_path(self.artifact_location)


@dataclass(frozen=True)
class StudyFootprint:
    """What a study left in one tracking store (and its Model Registry)."""

    tracking_uri: str
    study_name: str
    experiments: tuple[Experiment, ...] = ()
    run_ids: tuple[str, ...] = ()
    run_artifacts: tuple[str, ...] = ()  #: the artifact URI of every run
    run_roles: tuple[str, ...] = ()  #: the :class:`~hpsearch.keys.Role` tag of every run
    logged_models: tuple[tuple[str, str], ...] = ()  #: ``(model id, artifact location)``
    versions: tuple[str, ...] = ()  #: registered versions of ``study_name`` made from these runs
    other_versions: int = 0  #: versions of that registered model from elsewhere (kept)
    permanent: bool = True  #: whether the store can remove records for good (not a server)

    @property
    def empty(self) -> bool:
        return not (self.experiments or self.versions)

    @property
    def only_lr_find(self) -> bool:
        """Whether every run is an LR range test's (what ``hpsearch lr-find`` leaves before a study runs)."""
        return bool(self.run_ids) and all(role == Role.LR_FIND for role in self.run_roles) and not self.versions

    @property
    def drops_registered_model(self) -> bool:
        """Whether the registered model goes too (every version of it is this study's)."""
        return bool(self.versions) and not self.other_versions


def _client(tracking_uri: str) -> MlflowClient:
    uri = normalize_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiments(client: MlflowClient, name: str) -> list[Experiment]:
    found = client.search_experiments(view_type=ViewType.ALL, filter_string=f"tags.`{Tag.STUDY}` = '{name}'", max_results=1000)
    return [Experiment(e.experiment_id, e.name, e.artifact_location) for e in found]


def _runs(client: MlflowClient, experiment_ids: list[str]) -> list[tuple[str, str, str]]:
    """``(run id, artifact URI, role tag)`` of every run of the experiments, deleted ones included."""
    out: list[tuple[str, str, str]] = []
    token = None
    while experiment_ids:
        page = client.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=1000, page_token=token)
        out += [(run.info.run_id, run.info.artifact_uri, run.data.tags.get(Tag.ROLE, "")) for run in page]
        token = page.token
        if not token:
            break
    return out


def _logged_models(client: MlflowClient, experiment_ids: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    token = None
    while experiment_ids:
        page = client.search_logged_models(experiment_ids, max_results=100, page_token=token)
        out += [(m.model_id, m.artifact_location) for m in page]
        token = page.token
        if not token:
            break
    return out


def _registered_versions(client: MlflowClient, name: str, run_ids: set[str]) -> tuple[list[str], int]:
    """``(versions made from run_ids, how many other versions)`` of registered model ``name``."""
    try:
        found = client.search_model_versions(f"name = '{name}'", max_results=10000)
    except MlflowException:
        return [], 0
    ours = sorted((v.version for v in found if v.run_id in run_ids), key=int)
    return [str(v) for v in ours], len(found) - len(ours)


def find_study_footprint(tracking_uri: str, study_name: str) -> StudyFootprint:
    """Everything study ``study_name`` left in the tracking store at ``tracking_uri``. Reads only."""
    client = _client(tracking_uri)
    try:
        experiments = _experiments(client, study_name)
        ids = [e.experiment_id for e in experiments]
        runs = _runs(client, ids)
        models = _logged_models(client, ids)
        versions, others = _registered_versions(client, study_name, {run_id for run_id, _, _ in runs})
    except MlflowException as e:
        raise RuntimeFailure(f"Cannot read tracking store {redact(tracking_uri)} ({e.message.splitlines()[0]}).") from None
    return StudyFootprint(
        tracking_uri=tracking_uri,
        study_name=study_name,
        experiments=tuple(experiments),
        run_ids=tuple(run_id for run_id, _, _ in runs),
        run_artifacts=tuple(uri for _, uri, _ in runs),
        run_roles=tuple(role for _, _, role in runs),
        logged_models=tuple(models),
        versions=tuple(versions),
        other_versions=others,
        permanent=_hard_deleting_store(client) is not None,
    )


def _hard_deleting_store(client: MlflowClient) -> object | None:
    """The client's tracking store when it can remove records for good (what ``mlflow gc`` needs)."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    needed = ("_hard_delete_run", "_hard_delete_experiment", "_hard_delete_logged_model")
    return store if store is not None and all(hasattr(store, n) for n in needed) else None


def _delete_artifacts(uri: str, tracking_uri: str) -> None:
    """Remove everything under artifact ``uri`` (a folder of this machine or on the server)."""
    folder = local_path(uri)
    if folder is not None:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise RuntimeFailure(
                f"Cannot remove the MLflow artifact folder {folder} ({e.strerror}: {e.filename}); make it writable, "
                "then run the same hpsearch delete again to finish."
            ) from None
        return
    try:
        get_artifact_repository(uri, tracking_uri=tracking_uri).delete_artifacts()
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _ignore_missing(call: Callable[..., Any], *args: str) -> None:
    """``call(*args)``; what is already gone (an interrupted earlier deletion) is no error."""
    try:
        call(*args)
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def purge_study_footprint(footprint: StudyFootprint) -> None:
    """Remove what :func:`find_study_footprint` found: registered versions, artifacts, then the
    runs, logged models and experiments (for good on a database store). Safe to run again after
    an interruption: whatever is already gone is skipped."""
    client = _client(footprint.tracking_uri)
    uri = normalize_tracking_uri(footprint.tracking_uri)
    name = footprint.study_name
    if footprint.drops_registered_model:
        _ignore_missing(client.delete_registered_model, name)
    else:
        for version in footprint.versions:
            _ignore_missing(client.delete_model_version, name, version)
    suffix = time.strftime("%Y-%m-%d %H-%M-%S")
    for exp in footprint.experiments:
        # Renamed first: from here on a study of this name gets a new experiment, even if a step
        # below fails (and StudyTracking would otherwise restore a deleted experiment of its name).
        if exp.name == name:
            _ignore_missing(client.rename_experiment, exp.experiment_id, f"{name} (deleted {suffix})")
        try:
            if client.get_experiment(exp.experiment_id).lifecycle_stage != "deleted":
                client.delete_experiment(exp.experiment_id)  # marks its runs deleted too
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    for artifacts in (*footprint.run_artifacts, *(loc for _, loc in footprint.logged_models), *(e.artifact_location for e in footprint.experiments)):
        _delete_artifacts(artifacts, uri)
    store = _hard_deleting_store(client)
    if store is None:
        for model_id, _ in footprint.logged_models:
            _ignore_missing(client.delete_logged_model, model_id)
        return
    for run_id in footprint.run_ids:
        _ignore_missing(store._hard_delete_run, run_id)  # type: ignore[attr-defined]
    for model_id, _ in footprint.logged_models:
        _ignore_missing(store._hard_delete_logged_model, model_id)  # type: ignore[attr-defined]
    for exp in footprint.experiments:
        _ignore_missing(store._hard_delete_experiment, exp.experiment_id)  # type: ignore[attr-defined]
