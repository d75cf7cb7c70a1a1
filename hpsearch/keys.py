"""Every name hpsearch persists: Optuna study and trial attributes, MLflow tags, artifact paths and
the states it writes.

These strings are read back from stores written by older versions (a study started before an
upgrade continues after it), so a value here never changes; ``tests/test_golden.py`` locks them.
The classes are :class:`enum.StrEnum`: a member *is* its string, so it goes wherever a string goes
(Optuna attribute keys, MLflow tags, JSON) and compares equal to what a store gives back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "StudyAttr",
    "TrialAttr",
    "Tag",
    "Role",
    "RetrainParam",
    "VersionTag",
    "State",
    "RunStatus",
    "LRFindMetric",
    "LRFindParam",
    "LR_FIND_PLOT",
    "END_TAGS",
    "MODEL_ARTIFACT",
    "EPOCH_METRICS",
    "STEPS_METRIC",
    "epoch_metrics",
    "KIND_TAG",
    "KIND",
    "VIEW_KEY",
    "VIEW_TAG",
    "objective_column",
    "objective_metric",
    "param_repr",
]


class StudyAttr(StrEnum):
    """Optuna study user attributes."""

    CONFIG = "hpsearch.config"  #: the resolved study file (what workers and resumes load)
    IDENTITY = "hpsearch.identity"  #: the part of the config that must not change on resume
    SEED = "hpsearch.seed"
    DATA = "hpsearch.data"  #: the data's fingerprint
    DATA_SOURCE = "hpsearch.data_source"  #: where the data came from (see ``Dataset.source``)
    DATA_DESCRIPTION = "hpsearch.data_description"  #: what was read (see ``Dataset.describe``)
    TARGET = "hpsearch.target_trials"
    PARENT_RUN = "hpsearch.mlflow_parent_run_id"
    TEST = "hpsearch.test_metrics"  #: the best trial's test-set metrics
    MODEL_BUILDER = "hpsearch.model_builder"  #: a builder you write: its reference, source file and digest


class TrialAttr(StrEnum):
    """Optuna trial user attributes."""

    MLFLOW_RUN_ID = "mlflow_run_id"
    FAIL_REASON = "fail_reason"
    TRACEBACK = "traceback"
    EPOCHS_TRAINED = "epochs_trained"
    BEST_EPOCH = "best_epoch"
    TIE_BREAK = "tie_break"  #: the objective's tie-breaker (``val_loss``) at the best epoch; ranks equal values
    RESUMED_FROM_EPOCH = "resumed_from_epoch"
    WORKER = "hpsearch.worker"  #: the identity of the process running it
    FOLD_VALUES = "fold_values"  #: K-fold: each fold's objective at the trial's best epoch
    FOLD_STD = "fold_std"  #: K-fold: their standard deviation (the trial's value is their mean)
    RESUMED_FROM_FOLD = "resumed_from_fold"  #: K-fold: the fold of its epoch the attempt started at
    ENQUEUED_FROM = "hpsearch.enqueued_from"  #: the file of a param set queued by ``hpsearch enqueue``


class Tag(StrEnum):
    """MLflow run tags."""

    PARENT = "mlflow.parentRunId"
    RUN_NAME = "mlflow.runName"
    NOTE = "mlflow.note.content"  #: the run's description (markdown), shown on its overview page
    STUDY = "hpsearch.study"
    ROLE = "hpsearch.role"  #: a :class:`Role`
    TRIAL = "hpsearch.trial_number"
    STATE = "hpsearch.state"  #: a :class:`State`
    VALUE = "hpsearch.value"
    FAIL_REASON = "hpsearch.fail_reason"
    RESUMED_FROM = "hpsearch.resumed_from_epoch"
    ATTEMPTS = "hpsearch.attempts"
    RETRY_OF = "hpsearch.retry_of"
    EPOCHS_TRAINED = "hpsearch.epochs_trained"
    MODEL_PENDING = "hpsearch.model_pending"
    MODEL_ERROR = "hpsearch.model_error"
    ARTIFACT_ERROR = "hpsearch.artifact_error"
    SUPERSEDED_BY = "hpsearch.superseded_by"
    # the study's parent run
    SAMPLER = "hpsearch.sampler"
    PRUNER = "hpsearch.pruner"
    SEARCH_SPACE = "hpsearch.search_space"
    TARGET_TRIALS = "hpsearch.target_trials"
    COMPLETE = "hpsearch.complete"
    PRUNED = "hpsearch.pruned"
    FAILED = "hpsearch.failed"
    BEST_TRIAL = "hpsearch.best_trial"
    BEST_VALUE = "hpsearch.best_value"
    # a retrain run (``hpsearch retrain``)
    RETRAIN_OF = "hpsearch.retrain_of"  #: the number of the trial whose params it retrained


class Role(StrEnum):
    """Value of :attr:`Tag.ROLE`."""

    STUDY = "study"
    TRIAL = "trial"
    RETRAIN = "retrain"  #: the best trial's params trained on training + validation data (``hpsearch retrain``)
    LR_FIND = "lr_find"  #: an LR range test (``hpsearch lr-find``)


class RetrainParam(StrEnum):
    """MLflow params a retrain run logs besides the best trial's params."""

    SOURCE_TRIAL = "retrain.source_trial"  #: the trial whose params were retrained
    EPOCHS = "retrain.epochs"  #: how many epochs it trained
    EPOCHS_FROM = "retrain.epochs_from"  #: where that count came from: ``best_epoch``, ``epochs_trained``, ``max_epochs``, ``--epochs``
    EXAMPLES = "retrain.examples"  #: training examples per epoch (training + validation splits)


class VersionTag(StrEnum):
    """Tags of a registered model version ``export`` makes (besides one per test metric)."""

    TRIAL = "trial"  #: the trial whose model it is (a retrained model: the trial retrained)
    FORMAT = "format"  #: the export format
    OBJECTIVE_VALUE = "objective_value"  #: the trial's (first) objective value; not on a retrained model
    RETRAINED_RUN = "retrained_run"  #: ``export --retrained``: the retrain run the model comes from
    MAX_ABS_DIFF = "max_abs_diff"  #: largest difference between the exported and the trained model's predictions
    EXPORTED_FILE = "exported_file"  #: the exported file's URI


class State(StrEnum):
    """How a trial ended (Optuna's state names): a trial outcome's state and :attr:`Tag.STATE`."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    RUNNING = "RUNNING"
    WAITING = "WAITING"


class RunStatus(StrEnum):
    """MLflow run statuses hpsearch sets."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class LRFindMetric(StrEnum):
    """Metrics of an LR range test's run (role :attr:`Role.LR_FIND`): per batch (step = batch
    index, 0-based) the rate, the batch's loss and the smoothed loss; at step 0 the suggested bounds."""

    LEARNING_RATE = "learning_rate"
    LOSS = "loss"
    SMOOTHED_LOSS = "smoothed_loss"
    SUGGESTED_LOW = "suggested_lr_low"
    SUGGESTED_HIGH = "suggested_lr_high"


class LRFindParam(StrEnum):
    """MLflow params of an LR range test's run, besides the model's params at the test's point."""

    OPTIMIZER = "optimizer"
    STEPS = "steps"  #: batches planned
    START_LR = "start_lr"
    END_LR = "end_lr"
    SEED = "seed"
    SMOOTHING_BETA = "smoothing_beta"  #: of the bias-corrected moving average of the loss


#: The loss-vs-rate plot of an LR range test, inside its MLflow run.
LR_FIND_PLOT = "plots/lr_find.png"

#: The checkpoint of a trial's best epoch, inside its MLflow run.
MODEL_ARTIFACT = "model/best.keras"

#: Tags that describe how an attempt ended: a retry that continues the run removes them (and
#: ``TrialRun.finish`` the reason and value it does not set), so tags describe the final state.
END_TAGS = (Tag.FAIL_REASON, Tag.VALUE, Tag.ARTIFACT_ERROR, Tag.MODEL_ERROR, Tag.MODEL_PENDING)

#: Per-epoch metrics logged for a trial of an image classification study with the default
#: metrics (step = epoch number, 1-based as Keras prints it). A trial logs every scalar of its
#: epoch logs: ``loss`` and each compiled metric, train and ``val_``, plus ``learning_rate`` and
#: ``epoch_seconds`` (see :func:`epoch_metrics`).
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds")


#: Per-epoch metric of a retrain run: the optimizer steps (batches) its epoch took.
STEPS_METRIC = "train_steps"


def epoch_metrics(metrics: tuple[str, ...] = ("accuracy",)) -> tuple[str, ...]:
    """The per-epoch metrics a trial compiled with ``metrics`` logs."""
    return ("loss", *metrics, "val_loss", *(f"val_{m}" for m in metrics), "learning_rate", "epoch_seconds")

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


def objective_metric(name: str) -> str:
    """The metric a trial run of a multi-objective study gets at its end for each objective (its
    value as Optuna recorded it): ``objective.val_accuracy``, ``objective.params``,
    ``objective.latency_ms``."""
    return f"objective.{name}"


def param_repr(value: Any) -> str:
    """How a param value is stored in MLflow (floats exactly, via repr)."""
    return repr(value) if isinstance(value, float) else str(value)
