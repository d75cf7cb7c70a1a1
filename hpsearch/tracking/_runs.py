"""The MLflow run of one trial, written through an explicit client (no global active run).

A retried trial continues the MLflow run of the attempt it retries (same run id): epochs the
killed attempt already logged are not logged again, epochs it completed but did not log are
back-filled from the resume state, so the metric history has every epoch exactly once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from hpsearch.keys import RunStatus, State, Tag

__all__ = ["TrialRun", "RunSummary"]

_STATUS = {State.COMPLETE: RunStatus.FINISHED, State.PRUNED: RunStatus.FINISHED, State.FAIL: RunStatus.FAILED, RunStatus.KILLED: RunStatus.KILLED}


def _now_ms() -> int:
    return int(time.time() * 1000)


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

    def __init__(self, client: MlflowClient, run_id: str, tracking_uri: str | None = None, experiment_id: str | None = None) -> None:
        self.client = client
        self.run_id = run_id
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

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        ts = _now_ms()
        batch = [Metric(k, float(v), ts, int(epoch)) for k, v in metrics.items()]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_steps(self, rows: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Log ``(step, metrics)`` rows, finite values only, in as few requests as MLflow allows."""
        ts = _now_ms()
        batch = [Metric(k, float(v), ts, int(step)) for step, metrics in rows for k, v in metrics.items() if math.isfinite(v)]
        for start in range(0, len(batch), 1000):  # MLflow's limit of metrics per log_batch
            self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])

    def end(self, status: str) -> None:
        """End a run that is not a trial with an MLflow status (:class:`~hpsearch.keys.RunStatus`)."""
        self.client.set_terminated(self.run_id, status)

    def backfill(self, history: Iterable[Mapping[str, float]]) -> int:
        """Log the epochs of ``history`` this run does not have yet; returns how many."""
        have = self.logged_steps("loss")
        added = 0
        for row in history:
            epoch = int(row["epoch"])
            if epoch not in have:
                self.log_epoch(epoch, {k: v for k, v in row.items() if k != "epoch"})
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
        final = {Tag.STATE: state, **(tags or {})}
        if value is not None:
            final[Tag.VALUE] = repr(float(value))
        if self.experiment_id is not None:
            final[Tag.NOTE] = self._description(state, value)
        self.delete_tags(k for k in (Tag.FAIL_REASON, Tag.VALUE) if k not in final)
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
