"""MLflow tracking: the only module that imports ``mlflow``.

One experiment per study, one parent run per study, one child run per trial (tag
``mlflow.parentRunId``). Everything goes through an explicit :class:`mlflow.MlflowClient` bound to
an explicit tracking URI: no global "active run", so several trials, threads or processes never
write into each other's runs.

A retried trial continues the MLflow run of the attempt it retries (same run id): epochs the
killed attempt already logged are not logged again, epochs it completed but did not log are
back-filled from the resume state, so the metric history has every epoch exactly once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import redact

__all__ = [
    "TAG_STUDY",
    "TAG_TRIAL",
    "TAG_STATE",
    "TAG_VALUE",
    "TAG_FAIL_REASON",
    "TAG_RESUMED_FROM",
    "TAG_ATTEMPTS",
    "TAG_MODEL_PENDING",
    "MODEL_ARTIFACT",
    "EPOCH_METRICS",
    "normalize_tracking_uri",
    "check_tracking_uri",
    "StudyTracking",
    "TrialRun",
    "RunSummary",
    "study_experiments",
    "ui_path",
    "objective_column",
    "param_repr",
]

TAG_PARENT = "mlflow.parentRunId"
TAG_STUDY = "hpsearch.study"
TAG_ROLE = "hpsearch.role"
TAG_TRIAL = "hpsearch.trial_number"
TAG_STATE = "hpsearch.state"
TAG_VALUE = "hpsearch.value"
TAG_FAIL_REASON = "hpsearch.fail_reason"
TAG_RESUMED_FROM = "hpsearch.resumed_from_epoch"
TAG_ATTEMPTS = "hpsearch.attempts"
TAG_MODEL_PENDING = "hpsearch.model_pending"
TAG_SUPERSEDED_BY = "hpsearch.superseded_by"
MODEL_ARTIFACT = "model/best.keras"

#: Tags that describe how an attempt ended: a retry that continues the run removes them (and
#: :meth:`TrialRun.finish` the reason and value it does not set), so tags describe the final state.
_END_TAGS = (TAG_FAIL_REASON, TAG_VALUE, "hpsearch.artifact_error", "hpsearch.model_error", TAG_MODEL_PENDING)

#: Per-epoch metrics logged for every trial (step = epoch number, 1-based as Keras prints it).
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds")

# MLflow 3's UI opens experiments in its GenAI layout (traces, tokens) unless told otherwise.
_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"

# MLflow 3.17's runs page restores a "shared view" (sort, filters and visible columns) from the
# experiment tag `mlflow.sharedViewState.<key>` when the URL has `viewStateShareKey=<key>`.
# hpsearch keeps one per study: sorted by the objective, so trial runs are listed flat instead of
# folded under the study's parent run, with the objective, state and searched params as columns.
_VIEW_KEY = "hpsearch"
_VIEW_TAG = f"mlflow.sharedViewState.{_VIEW_KEY}"
TAG_NOTE = "mlflow.note.content"  # the run's description (markdown), shown on its overview page

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "KILLED": "KILLED"}


def normalize_tracking_uri(uri: str) -> str:
    """Give SQLite tracking URIs a generous lock timeout (parallel workers share the file).

    (Appended as text: ``urlunsplit`` would turn ``sqlite:////abs`` into ``sqlite://abs``.)
    """
    if not uri.startswith("sqlite:"):
        return uri
    base, _, query = uri.partition("?")
    if "timeout" in dict(parse_qsl(query)):
        return uri
    return f"{base}?{query + '&' if query else ''}timeout=60"


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
    found = client.search_experiments(filter_string=f"tags.`{TAG_STUDY}` != ''", max_results=1000)
    return [(e.name, e.experiment_id, _VIEW_TAG in e.tags) for e in found]


def ui_path(experiment_id: str, run_id: str | None = None, *, view: bool = True) -> str:
    """The MLflow UI route of an experiment (or run) in its model-training layout; an experiment's
    route opens hpsearch's runs view (see :meth:`StudyTracking.set_runs_view`) when ``view``."""
    if run_id:
        return f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    shared = f"viewStateShareKey={_VIEW_KEY}&" if view else ""
    return f"#/experiments/{experiment_id}/runs?{shared}workflowType=machine_learning"


def objective_column(metric: str) -> str:
    """The metric every trial run gets at its end: the objective at its best epoch."""
    return f"best_{metric}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def param_repr(value: Any) -> str:
    """How a param value is stored in MLflow (floats exactly, via repr)."""
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class RunSummary:
    """A child run as read back from MLflow (for consistency checks and reports)."""

    run_id: str
    status: str
    trial_number: int | None
    state: str | None
    value: float | None
    params: dict[str, str]
    model_pending: str | None = None  #: why the trial's model has not reached MLflow yet


class TrialRun:
    """The MLflow run of one trial (possibly continued by a retry)."""

    def __init__(
        self, client: MlflowClient, run_id: str, resumed: bool, tracking_uri: str | None = None, experiment_id: str | None = None
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.resumed = resumed
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id

    def delete_artifacts(self, artifact_path: str) -> None:
        """Delete a folder of this run's artifacts (the tracking server's store supports it)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = self.client.get_run(self.run_id).info.artifact_uri
        get_artifact_repository(uri, tracking_uri=self.tracking_uri).delete_artifacts(artifact_path)

    def logged_steps(self, key: str) -> set[int]:
        """The steps at which metric ``key`` of this run was logged."""
        return {m.step for m in self.client.get_metric_history(self.run_id, key)}

    def logged_epochs(self, key: str = "loss") -> set[int]:
        return {m.step for m in self.client.get_metric_history(self.run_id, key)}

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        ts = _now_ms()
        batch = [Metric(k, float(v), ts, int(epoch)) for k, v in metrics.items()]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def backfill(self, history: Iterable[Mapping[str, float]]) -> int:
        """Log the epochs of ``history`` this run does not have yet; returns how many."""
        have = self.logged_epochs()
        added = 0
        for row in history:
            epoch = int(row["epoch"])
            if epoch not in have:
                self.log_epoch(epoch, {k: row[k] for k in EPOCH_METRICS if k in row})
                added += 1
        return added

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if tags:
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def delete_tags(self, keys: Iterable[str]) -> None:
        """Remove those of ``keys`` the run has (MLflow refuses to delete a missing tag)."""
        present = self.client.get_run(self.run_id).data.tags
        for key in keys:
            if key in present:
                self.client.delete_tag(self.run_id, key)

    def artifact_uri(self) -> str:
        return self.client.get_run(self.run_id).info.artifact_uri

    def log_metrics(self, metrics: Mapping[str, float], *, step: int = 0) -> None:
        ts = _now_ms()
        finite = [Metric(k, float(v), ts, int(step)) for k, v in metrics.items() if v is not None and math.isfinite(v)]
        if finite:
            self.client.log_batch(self.run_id, metrics=finite)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        """Log every file under ``folder`` (keeping sub-folders) under ``artifact_path``."""
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def store_artifact(self, path: str | Path, artifact_path: str) -> None:
        """Log ``path`` under ``artifact_path`` and confirm the store lists it with its size.

        Raises:
            OSError (or the artifact store's error): the file did not arrive.
        """
        path = Path(path)
        self.log_artifact(path, artifact_path)
        wanted = f"{artifact_path}/{path.name}"
        size = path.stat().st_size
        listed = {a.path: a.file_size for a in self.client.list_artifacts(self.run_id, artifact_path)}
        if listed.get(wanted) != size:
            raise OSError(f"{wanted} is not in the artifact store after the upload (listed: {listed.get(wanted)!r} bytes, sent {size})")

    def has_artifact(self, artifact: str) -> bool:
        folder = artifact.rpartition("/")[0] or None
        return any(a.path == artifact for a in self.client.list_artifacts(self.run_id, folder))

    def finish(self, state: str, *, value: float | None = None, tags: Mapping[str, Any] | None = None) -> None:
        """Record the final Optuna state (COMPLETE / PRUNED / FAIL / KILLED) and end the run.

        A fail reason or value this call does not set is removed: a retry that completes does
        not keep its killed attempt's ``fail_reason``.
        """
        final = {TAG_STATE: state, **(tags or {})}
        if value is not None:
            final[TAG_VALUE] = repr(float(value))
        if self.experiment_id is not None:
            final[TAG_NOTE] = self._description(state, value)
        self.delete_tags(k for k in (TAG_FAIL_REASON, TAG_VALUE) if k not in final)
        self.set_tags(final)
        self.client.set_terminated(self.run_id, _STATUS[state])

    def _description(self, state: str, value: float | None) -> str:
        """The run page's description: its outcome, links to its metric charts and artifacts (in
        the model-training layout), and its learning-curve plot, right where a click on the run
        in the runs table lands."""
        base = f"#/experiments/{self.experiment_id}/runs/{self.run_id}"
        lines = [
            f"**{state}**" + (f", objective value {float(value):.6g}" if value is not None else ""),
            f"[Learning curves (charts)]({base}/model-metrics?workflowType=machine_learning) · "
            f"[Artifacts: plot, checkpoint, history.csv, TensorBoard logs]({base}/artifacts?workflowType=machine_learning)",
        ]
        try:
            plotted = any(a.path == "plots/learning_curve.png" for a in self.client.list_artifacts(self.run_id, "plots"))
        except MlflowException:
            plotted = False
        if plotted:
            lines.append(f"![learning curve](get-artifact?path=plots%2Flearning_curve.png&run_uuid={self.run_id})")
        return "\n\n".join(lines)


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
            self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
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
            if create and exp.tags.get(_KIND_TAG) != _KIND:
                self.client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND)
            return exp.experiment_id
        if not create:
            raise RuntimeFailure(
                f"Tracking store {redact(self.tracking_uri)} has no experiment {self.study_name!r}; "
                "pass the --tracking-uri the study was run with."
            )
        location = f"{self.artifact_root}/{self.study_name}" if self.artifact_root else None
        try:
            return self.client.create_experiment(
                self.study_name, artifact_location=location, tags={TAG_STUDY: self.study_name, _KIND_TAG: _KIND}
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
            "selectedColumns": [column, f"tags.`{TAG_STATE}`", "tags.`hpsearch.epochs_trained`", *(f"params.`{p}`" for p in params)],
            "runsHiddenMode": "SHOW_ALL",
        }
        text = json.dumps(view)
        if self.client.get_experiment(self.experiment_id).tags.get(_VIEW_TAG) != text:
            self.client.set_experiment_tag(self.experiment_id, _VIEW_TAG, text)

    def open_parent(self, existing_run_id: str | None, *, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str:
        """Reuse the study's parent run if it exists here (setting it RUNNING), else create one."""
        run_id = None
        if existing_run_id:
            try:
                run = self.client.get_run(existing_run_id)
                if run.info.experiment_id == self.experiment_id and run.info.lifecycle_stage == "active":
                    run_id = existing_run_id
                    self.client.update_run(run_id, status="RUNNING")
            except MlflowException:
                run_id = None
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=self.study_name,
                tags={TAG_STUDY: self.study_name, TAG_ROLE: "study"},
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
        return TrialRun(self.client, self.parent_run_id, resumed=True)

    def log_parent_artifact(self, path: str | Path, artifact_path: str | None = None) -> str:
        """Log a file to the parent run; returns its artifact URI."""
        assert self.parent_run_id is not None
        self.client.log_artifact(self.parent_run_id, str(path), artifact_path)
        return self._parent_artifact_uri(artifact_path, Path(path).name)

    def _parent_artifact_uri(self, artifact_path: str | None, name: str) -> str:
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
        """Log an exported file to the parent run (``export/<fmt>/``), log ``model`` as an MLflow
        model (Keras flavour, with a signature and an input example, linked to the parent run) and
        register that model in the Model Registry under the study's name, so that
        ``mlflow.pyfunc.load_model("models:/<study>/<version>")`` and ``mlflow models serve`` work.

        Returns ``(version, model URI, URI of the exported file)``.
        """
        assert self.parent_run_id is not None
        local_path = Path(local_path)
        artifact_path = f"export/{fmt}"
        if local_path.is_dir():
            self.client.log_artifacts(self.parent_run_id, str(local_path), f"{artifact_path}/{local_path.name}")
        else:
            self.client.log_artifact(self.parent_run_id, str(local_path), artifact_path)
        exported = self._parent_artifact_uri(artifact_path, local_path.name)
        logged = self._log_keras_model(model, example, tags=tags)
        try:
            self.client.create_registered_model(self.study_name, description=f"Best models of hpsearch study {self.study_name}")
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            self.study_name,
            # The logged model's own folder: a `models:/<id>` source would make the registry
            # resolve the id against the process-wide tracking URI instead of this store.
            source=logged.artifact_location,
            run_id=self.parent_run_id,
            tags={**{k: str(v) for k, v in tags.items()}, "exported_file": exported},
            description=description,
            model_id=logged.model_id,
        )
        return str(version.version), f"models:/{self.study_name}/{version.version}", exported

    def _log_keras_model(self, model: Any, example: Any, *, tags: Mapping[str, Any]) -> Any:
        """Log ``model`` as an MLflow model of the Keras flavour (signature, input example) into
        this study's experiment, as an output of the parent run; returns the ``LoggedModel``.

        This is what ``mlflow.keras.log_model`` does, spelled out with this study's client:
        ``log_model`` writes to the process-wide tracking URI, and in MLflow 3.17 it fails with an
        input example (the Keras flavour writes the example before creating the model folder).
        """
        import tempfile

        import mlflow.keras
        import numpy as np
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        assert self.parent_run_id is not None
        example = np.asarray(example, dtype=np.float32)
        signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
        logged = self.client.create_logged_model(
            self.experiment_id, name=self.study_name, source_run_id=self.parent_run_id, tags={k: str(v) for k, v in tags.items()}
        )
        try:
            with tempfile.TemporaryDirectory(prefix="hpsearch-mlflow-model-") as tmp:
                meta = Model(
                    artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=self.parent_run_id, model_id=logged.model_id
                )
                mlflow.keras.save_model(model, tmp, mlflow_model=meta, signature=signature, input_example=example)
                self.client.log_model_artifacts(logged.model_id, tmp)
        except BaseException:
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            raise
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(self.parent_run_id, [LoggedModelOutput(logged.model_id, step=0)])
        return logged

    def log_parent_text(self, text: str, artifact_file: str) -> None:
        assert self.parent_run_id is not None
        self.client.log_text(self.parent_run_id, text, artifact_file)

    def close_parent(self, status: str) -> None:
        if self.parent_run_id is not None:
            self.client.set_terminated(self.parent_run_id, status)

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
        trial_tags = {TAG_TRIAL: number, TAG_STATE: "RUNNING", "mlflow.runName": f"trial-{number:04d}", **(tags or {})}
        if continue_run_id:
            try:
                run = self.client.get_run(continue_run_id)
                if run.info.experiment_id == self.experiment_id:
                    self.client.update_run(continue_run_id, status="RUNNING")
                    attempts = int(run.data.tags.get(TAG_ATTEMPTS, "1")) + 1
                    handle = TrialRun(
                        self.client, continue_run_id, resumed=True, tracking_uri=self.tracking_uri, experiment_id=self.experiment_id
                    )
                    handle.delete_tags(k for k in _END_TAGS if k not in trial_tags)  # running again
                    handle.set_tags({**trial_tags, TAG_ATTEMPTS: attempts})
                    return handle
            except MlflowException:
                pass  # the old run is gone (other tracking store?): start a new one
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number:04d}",
            tags={TAG_PARENT: self.parent_run_id, TAG_STUDY: self.study_name, TAG_ROLE: "trial", TAG_ATTEMPTS: "1"},
        )
        handle = TrialRun(self.client, run.info.run_id, resumed=False, tracking_uri=self.tracking_uri, experiment_id=self.experiment_id)
        handle.client.log_batch(
            handle.run_id,
            params=[Param(k, param_repr(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in trial_tags.items()],
        )
        return handle

    def trial_run(self, run_id: str) -> TrialRun:
        return TrialRun(self.client, run_id, resumed=True, tracking_uri=self.tracking_uri, experiment_id=self.experiment_id)

    def has_model(self, run_id: str) -> bool:
        """Whether trial run ``run_id`` holds its model (``model/best.keras``)."""
        return self.trial_run(run_id).has_artifact(MODEL_ARTIFACT)

    def can_continue(self, run_id: str, epochs_done: int) -> bool:
        """Whether a retry that resumes after epoch ``epochs_done`` may continue run ``run_id``:
        only if the run logged no later epoch (it would be logged twice). A run this store does
        not have is for :meth:`start_trial` to replace."""
        try:
            logged = self.trial_run(run_id).logged_epochs()
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
        old.set_tags({TAG_SUPERSEDED_BY: new_run_id})
        if run.info.status == "RUNNING":
            reason = run.data.tags.get(TAG_FAIL_REASON) or f"attempt died; its retry restarted in run {new_run_id}"
            old.finish("FAIL", tags={TAG_FAIL_REASON: reason, TAG_SUPERSEDED_BY: new_run_id})

    def child_runs(self) -> Iterator[RunSummary]:
        """Every trial run under the parent run, in no particular order."""
        assert self.parent_run_id is not None
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{TAG_PARENT}` = '{self.parent_run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            for run in page:
                tags = run.data.tags
                number = tags.get(TAG_TRIAL)
                value = tags.get(TAG_VALUE)
                yield RunSummary(
                    run_id=run.info.run_id,
                    status=run.info.status,
                    trial_number=int(number) if number is not None else None,
                    state=tags.get(TAG_STATE),
                    value=float(value) if value is not None else None,
                    params=dict(run.data.params),
                    model_pending=tags.get(TAG_MODEL_PENDING),
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
