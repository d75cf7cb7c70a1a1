"""Tracking URIs and MLflow UI routes: plain strings, no ``mlflow`` import."""

from __future__ import annotations

from urllib.parse import parse_qsl
from hpsearch.keys import VIEW_KEY

__all__ = ["normalize_tracking_uri", "ui_path"]


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


def ui_path(experiment_id: str, run_id: str | None = None, *, view: bool = True) -> str:
    """The MLflow UI route of an experiment (or run) in its model-training layout; an experiment's
    route opens hpsearch's runs view (see :meth:`StudyTracking.set_runs_view`) when ``view``."""
    if run_id:
        return f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    shared = f"viewStateShareKey={VIEW_KEY}&" if view else ""
    return f"#/experiments/{experiment_id}/runs?{shared}workflowType=machine_learning"
