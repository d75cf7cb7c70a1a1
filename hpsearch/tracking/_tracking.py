"""MLflow tracking of one study: checking the tracking URI, its experiment, parent run and trial runs.

One experiment per study, one parent run per study, one child run per trial (tag
``mlflow.parentRunId``). Everything goes through an explicit :class:`mlflow.MlflowClient` bound to
an explicit tracking URI: no global "active run", so several trials, threads or processes never
write into each other's runs. A trial's own run is :class:`~hpsearch.tracking._runs.TrialRun`;
the Model Registry side is :mod:`hpsearch.tracking._registry`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._interrupts import signal_safe
from hpsearch._locations import redact
from hpsearch.tracking._runs import RunSummary, TrialRun
from hpsearch.tracking._uris import normalize_tracking_uri
from hpsearch.keys import END_TAGS, KIND, KIND_TAG, MODEL_ARTIFACT, objective_column, param_repr, Role, RunStatus, State, Tag, VIEW_TAG

__all__ = ["check_tracking_uri", "study_experiments", "StudyTracking"]


def check_tracking_uri(uri: str) -> None:
    """Fail fast, writing nothing, if ``uri`` cannot work as a tracking store.

    Raises:
        UsageError: malformed or unsupported URI.
        RuntimeFailure: a server or database that does not answer.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    shown = redact(uri)
    if scheme in ("", "file"):
        raise UsageError(
            f"--tracking-uri {shown}: MLflow >= 3.13 no longer supports file-based tracking stores; "
            "use sqlite:///ABSOLUTE/PATH/mlflow.db or an http:// tracking server."
        )
    if scheme == "sqlite":
        path = Path(parts.path[1:])  # one slash stripped, as SQLAlchemy does
        if not path.parent.is_dir():
            raise UsageError(f"--tracking-uri {shown}: folder {path.parent} does not exist; create it or fix the path.")
        return
    if scheme in ("http", "https"):
        _probe_server(uri)
        return
    if scheme in ("postgresql", "mysql", "mssql"):
        from hpsearch._sql import probe

        if (problem := probe(uri, flag="--tracking-uri")) is not None:
            raise RuntimeFailure(f"Tracking database {shown} does not answer ({problem}); check the URI and that the server runs.")
        return
    if scheme == "databricks":
        return
    raise UsageError(f"--tracking-uri {shown}: unsupported scheme {parts.scheme!r}; use sqlite:///PATH, http://HOST:PORT or postgresql://...")


def _probe_server(uri: str) -> None:
    """GET ``/health`` the way MLflow's REST client connects: credentials from the URL's user
    info (``http://user:password@host``) or ``MLFLOW_TRACKING_USERNAME`` / ``..._PASSWORD`` /
    ``..._TOKEN``, MLflow's TLS settings, no retries. Messages never show the password."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    shown = redact(uri)
    password = urlsplit(uri).password

    def hidden(text: str) -> str:
        text = redact(text)
        return text.replace(password, "***") if password else text

    try:
        response = http_request(
            get_default_host_creds(uri.rstrip("/")), "/health", "GET", max_retries=0, timeout=10, raise_on_status=False
        )
    except Exception as e:  # noqa: BLE001 - connection refused, DNS, TLS, timeouts...
        raise RuntimeFailure(
            f"MLflow tracking server {shown} does not answer ({hidden(f'{type(e).__name__}: {e}')}); "
            "start it (hpsearch server) or fix --tracking-uri / MLFLOW_TRACKING_URI."
        ) from None
    if response.status_code in (401, 403):
        raise RuntimeFailure(
            f"MLflow tracking server {shown} refused the credentials (HTTP {response.status_code}); check the user "
            "and password in the URL or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD."
        )
    if response.status_code != 200:
        raise RuntimeFailure(
            f"{shown} answered /health with HTTP {response.status_code}, so it is not an MLflow tracking server; "
            "fix --tracking-uri / MLFLOW_TRACKING_URI."
        )


def study_experiments(tracking_uri: str) -> list[tuple[str, str, bool]]:
    """``(study name, experiment id, has hpsearch's runs view)`` of every hpsearch study in the
    tracking store."""
    client = MlflowClient(tracking_uri=normalize_tracking_uri(tracking_uri))
    found = client.search_experiments(filter_string=f"tags.`{Tag.STUDY}` != ''", max_results=1000)
    return [(e.name, e.experiment_id, VIEW_TAG in e.tags) for e in found]


# Ctrl-C/SIGTERM wait for an MLflow call to return: an interrupt inside an SQLite write would leave
# its lock held, and the stopped trial could not record how it stopped.
SignalSafeMlflowClient = signal_safe(MlflowClient, __name__)


class StudyTracking:
    """MLflow side of one study: its experiment and parent run, and factories for trial runs."""

    def __init__(self, tracking_uri: str, study_name: str, artifact_root: str | None = None, *, create: bool = True) -> None:
        self.tracking_uri = normalize_tracking_uri(tracking_uri)
        self.study_name = study_name
        self.artifact_root = artifact_root
        from hpsearch._locks import creation_lock

        # The client opens the store, creating or migrating it: only one process at a time. Readers
        # (create=False: report, check, export) create nothing and take no lock, so they also work
        # on a store in a folder they may only read.
        with creation_lock(self.tracking_uri) if create else contextlib.nullcontext():
            self.client = SignalSafeMlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            self.experiment_id = self._experiment(create)
        self.parent_run_id: str | None = None

    @property
    def remote(self) -> bool:
        """Whether trials should copy their resume state to the tracking server, so that a retry
        on another machine can resume (``HPSEARCH_REMOTE_CHECKPOINTS=0`` turns it off)."""
        served = urlsplit(self.tracking_uri).scheme in ("http", "https", "databricks")
        return served and os.environ.get("HPSEARCH_REMOTE_CHECKPOINTS", "1") != "0"

    # -- experiment and parent run ------------------------------------------------------------

    def _experiment(self, create: bool = True) -> str:
        exp = self.client.get_experiment_by_name(self.study_name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted" and create:
                self.client.restore_experiment(exp.experiment_id)
            if create and exp.tags.get(KIND_TAG) != KIND:
                self.client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND)
            return exp.experiment_id
        if not create:
            raise RuntimeFailure(
                f"Tracking store {redact(self.tracking_uri)} has no experiment {self.study_name!r}; "
                "pass the --tracking-uri the study was run with."
            )
        location = f"{self.artifact_root}/{self.study_name}" if self.artifact_root else None
        try:
            return self.client.create_experiment(
                self.study_name, artifact_location=location, tags={Tag.STUDY: self.study_name, KIND_TAG: KIND}
            )
        except MlflowException:  # another worker created it first
            exp = self.client.get_experiment_by_name(self.study_name)
            if exp is None:
                raise
            return exp.experiment_id

    def retire_experiment(self, suffix: str) -> None:
        """Rename this study's experiment out of the way (``--fresh``); its runs stay browsable."""
        self.client.rename_experiment(self.experiment_id, f"{self.study_name} (replaced {suffix})")
        self.experiment_id = self._experiment()

    def set_runs_view(self, metric: str, direction: str, params: Iterable[str]) -> None:
        """The runs view :func:`ui_path` links to: every run listed flat, best ``metric`` first,
        with the objective, state, epochs and ``params`` as columns, all runs on the charts."""
        column = f"metrics.`{objective_column(metric)}`"
        view = {
            "searchFilter": "",
            "orderByKey": column,
            "orderByAsc": direction == "minimize",
            "startTime": "ALL",
            "lifecycleFilter": "Active",
            "modelVersionFilter": "All Runs",
            "datasetsFilter": [],
            "selectedColumns": [column, f"tags.`{Tag.STATE}`", f"tags.`{Tag.EPOCHS_TRAINED}`", *(f"params.`{p}`" for p in params)],
            "runsHiddenMode": "SHOW_ALL",
        }
        text = json.dumps(view)
        if self.client.get_experiment(self.experiment_id).tags.get(VIEW_TAG) != text:
            self.client.set_experiment_tag(self.experiment_id, VIEW_TAG, text)

    def open_parent(self, existing_run_id: str | None, *, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str:
        """Reuse the study's parent run if it exists here (setting it RUNNING), else create one."""
        run_id = None
        if existing_run_id:
            try:
                run = self.client.get_run(existing_run_id)
                if run.info.experiment_id == self.experiment_id and run.info.lifecycle_stage == "active":
                    run_id = existing_run_id
                    self.client.update_run(run_id, status=RunStatus.RUNNING)
            except MlflowException:
                run_id = None
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=self.study_name,
                tags={Tag.STUDY: self.study_name, Tag.ROLE: Role.STUDY},
            )
            run_id = run.info.run_id
            self.client.log_batch(run_id, params=[Param(k, param_repr(v)) for k, v in params.items()])
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        self.parent_run_id = run_id
        return run_id

    def attach_parent(self, run_id: str) -> None:
        """Workers joining a study use the parent run its creator opened."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            raise RuntimeFailure(
                f"Study {self.study_name!r} logs to MLflow run {run_id}, which tracking URI "
                f"{redact(self.tracking_uri)} does not have; pass the same --tracking-uri as the study."
            ) from None
        if run.info.experiment_id != self.experiment_id:
            raise RuntimeFailure(f"MLflow run {run_id} is not in experiment {self.study_name!r}; pass the study's --tracking-uri.")
        self.parent_run_id = run_id

    def parent(self) -> TrialRun:
        assert self.parent_run_id is not None, "open_parent() or attach_parent() first"
        return TrialRun(self.client, self.parent_run_id)

    def log_parent_artifact(self, path: str | Path, artifact_path: str | None = None) -> str:
        """Log a file to the parent run; returns its artifact URI."""
        assert self.parent_run_id is not None
        self.client.log_artifact(self.parent_run_id, str(path), artifact_path)
        return self.parent_artifact_uri(artifact_path, Path(path).name)

    def parent_artifact_uri(self, artifact_path: str | None, name: str) -> str:
        """The URI of file ``name`` under ``artifact_path`` of the parent run's artifacts."""
        root = self.client.get_run(self.parent_run_id).info.artifact_uri
        return f"{root}/{artifact_path + '/' if artifact_path else ''}{name}"

    def register_model(
        self,
        local_path: str | Path,
        *,
        model: Any,
        example: Any,
        fmt: str,
        tags: Mapping[str, Any],
        description: str,
    ) -> tuple[str, str, str]:
        """Log ``local_path`` and ``model`` to the parent run and register the model under the
        study's name: see :func:`hpsearch.tracking._registry.register_model`.

        Returns ``(version, model URI, URI of the exported file)``.
        """
        from hpsearch.tracking._registry import register_model

        return register_model(self, local_path, model=model, example=example, fmt=fmt, tags=tags, description=description)

    def log_parent_text(self, text: str, artifact_file: str) -> None:
        assert self.parent_run_id is not None
        self.client.log_text(self.parent_run_id, text, artifact_file)

    def close_parent(self, status: str) -> None:
        if self.parent_run_id is not None:
            self.client.set_terminated(self.parent_run_id, status)

    def start_run(self, run_name: str, role: str, *, params: Mapping[str, Any], tags: Mapping[str, Any] | None = None) -> TrialRun:
        """A run of the study's experiment that is not a trial (``role``: a :class:`~hpsearch.keys.Role`),
        e.g. an LR range test: tagged with the study and its role, not under the parent run."""
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={Tag.STUDY: self.study_name, Tag.ROLE: role, **{k: str(v) for k, v in (tags or {}).items()}}
        )
        handle = self.trial_run(run.info.run_id)
        handle.client.log_batch(handle.run_id, params=[Param(k, param_repr(v)) for k, v in params.items()])
        return handle

    # -- trial runs --------------------------------------------------------------------------

    def start_trial(
        self,
        number: int,
        params: Mapping[str, Any],
        *,
        continue_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> TrialRun:
        """Create the child run of trial ``number``, or continue ``continue_run_id`` (a retry)."""
        assert self.parent_run_id is not None, "open_parent() or attach_parent() first"
        trial_tags = {Tag.TRIAL: number, Tag.STATE: State.RUNNING, Tag.RUN_NAME: f"trial-{number:04d}", **(tags or {})}
        if continue_run_id:
            try:
                run = self.client.get_run(continue_run_id)
                if run.info.experiment_id == self.experiment_id:
                    self.client.update_run(continue_run_id, status=RunStatus.RUNNING)
                    attempts = int(run.data.tags.get(Tag.ATTEMPTS, "1")) + 1
                    handle = self.trial_run(continue_run_id)
                    handle.delete_tags(k for k in END_TAGS if k not in trial_tags)  # running again
                    handle.set_tags({**trial_tags, Tag.ATTEMPTS: attempts})
                    return handle
            except MlflowException:
                pass  # the old run is gone (other tracking store?): start a new one
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number:04d}",
            tags={Tag.PARENT: self.parent_run_id, Tag.STUDY: self.study_name, Tag.ROLE: Role.TRIAL, Tag.ATTEMPTS: "1"},
        )
        handle = self.trial_run(run.info.run_id)
        handle.client.log_batch(
            handle.run_id,
            params=[Param(k, param_repr(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in trial_tags.items()],
        )
        return handle

    def trial_run(self, run_id: str) -> TrialRun:
        return TrialRun(self.client, run_id, tracking_uri=self.tracking_uri, experiment_id=self.experiment_id)

    def has_model(self, run_id: str) -> bool:
        """Whether trial run ``run_id`` holds its model (``model/best.keras``)."""
        return self.trial_run(run_id).has_artifact(MODEL_ARTIFACT)

    def can_continue(self, run_id: str, epochs_done: int) -> bool:
        """Whether a retry that resumes after epoch ``epochs_done`` may continue run ``run_id``:
        only if the run logged no later epoch (it would be logged twice). A run this store does
        not have is for :meth:`start_trial` to replace."""
        try:
            logged = self.trial_run(run_id).logged_steps("loss")
        except MlflowException:
            return True
        return all(step <= epochs_done for step in logged)

    def supersede(self, old_run_id: str, new_run_id: str) -> None:
        """Point the run of a dead attempt at the run that replaces it, and end it if it is still
        RUNNING (its attempt is over; the retry restarted with a clean history)."""
        old = self.trial_run(old_run_id)
        try:
            run = self.client.get_run(old_run_id)
        except MlflowException:
            return
        old.set_tags({Tag.SUPERSEDED_BY: new_run_id})
        if run.info.status == RunStatus.RUNNING:
            reason = run.data.tags.get(Tag.FAIL_REASON) or f"attempt died; its retry restarted in run {new_run_id}"
            old.finish(State.FAIL, tags={Tag.FAIL_REASON: reason, Tag.SUPERSEDED_BY: new_run_id})

    def child_runs(self) -> Iterator[RunSummary]:
        """Every trial run under the parent run, in no particular order (retrain runs left out)."""
        assert self.parent_run_id is not None
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{Tag.PARENT}` = '{self.parent_run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            for run in page:
                tags = run.data.tags
                if tags.get(Tag.ROLE) == Role.RETRAIN:  # under the parent run, but not a trial's
                    continue
                number = tags.get(Tag.TRIAL)
                value = tags.get(Tag.VALUE)
                yield RunSummary(
                    run_id=run.info.run_id,
                    status=run.info.status,
                    trial_number=int(number) if number is not None else None,
                    state=tags.get(Tag.STATE),
                    value=float(value) if value is not None else None,
                    params=dict(run.data.params),
                    model_pending=tags.get(Tag.MODEL_PENDING),
                )
            token = page.token
            if not token:
                return

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))

    def download(self, run_id: str, artifact_path: str, dst: str | Path) -> Path:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_path, dst_path=str(dst), tracking_uri=self.tracking_uri
        )
        return Path(path)
