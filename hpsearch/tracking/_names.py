"""Every name hpsearch stores in MLflow: run tags, artifact paths, per-epoch metric keys.

A study started before a change must continue after it: these strings are read back from
stores written by older versions, so they never change.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TAG_PARENT",
    "TAG_STUDY",
    "TAG_ROLE",
    "TAG_TRIAL",
    "TAG_STATE",
    "TAG_VALUE",
    "TAG_FAIL_REASON",
    "TAG_RESUMED_FROM",
    "TAG_ATTEMPTS",
    "TAG_MODEL_PENDING",
    "TAG_SUPERSEDED_BY",
    "TAG_NOTE",
    "END_TAGS",
    "MODEL_ARTIFACT",
    "EPOCH_METRICS",
    "KIND_TAG",
    "KIND",
    "VIEW_KEY",
    "VIEW_TAG",
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
TAG_NOTE = "mlflow.note.content"  # the run's description (markdown), shown on its overview page
MODEL_ARTIFACT = "model/best.keras"

#: Tags that describe how an attempt ended: a retry that continues the run removes them (and
#: :meth:`TrialRun.finish` the reason and value it does not set), so tags describe the final state.
END_TAGS = (TAG_FAIL_REASON, TAG_VALUE, "hpsearch.artifact_error", "hpsearch.model_error", TAG_MODEL_PENDING)

#: Per-epoch metrics logged for every trial (step = epoch number, 1-based as Keras prints it).
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds")

# MLflow 3's UI opens experiments in its GenAI layout (traces, tokens) unless told otherwise.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"

# MLflow 3.17's runs page restores a "shared view" (sort, filters and visible columns) from the
# experiment tag `mlflow.sharedViewState.<key>` when the URL has `viewStateShareKey=<key>`.
# hpsearch keeps one per study: sorted by the objective, so trial runs are listed flat instead of
# folded under the study's parent run, with the objective, state and searched params as columns.
VIEW_KEY = "hpsearch"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"


def objective_column(metric: str) -> str:
    """The metric a trial run gets at its end for ``metric`` at its best epoch; the objective's
    is the column the runs view sorts by."""
    return f"best_{metric}"


def param_repr(value: Any) -> str:
    """How a param value is stored in MLflow (floats exactly, via repr)."""
    return repr(value) if isinstance(value, float) else str(value)
