"""The persisted names never change: stores written by older versions are read back with them."""

from __future__ import annotations

from enum import StrEnum

from hpsearch import keys

#: Every stored name, as it was when each was introduced (a study started before a change continues after it).
STORED = {
    "StudyAttr": {
        "CONFIG": "hpsearch.config",
        "IDENTITY": "hpsearch.identity",
        "SEED": "hpsearch.seed",
        "DATA": "hpsearch.data",
        "DATA_SOURCE": "hpsearch.data_source",
        "DATA_DESCRIPTION": "hpsearch.data_description",
        "TARGET": "hpsearch.target_trials",
        "PARENT_RUN": "hpsearch.mlflow_parent_run_id",
        "TEST": "hpsearch.test_metrics",
        "MODEL_BUILDER": "hpsearch.model_builder",
    },
    "TrialAttr": {
        "MLFLOW_RUN_ID": "mlflow_run_id",
        "FAIL_REASON": "fail_reason",
        "TRACEBACK": "traceback",
        "EPOCHS_TRAINED": "epochs_trained",
        "BEST_EPOCH": "best_epoch",
        "TIE_BREAK": "tie_break",
        "RESUMED_FROM_EPOCH": "resumed_from_epoch",
        "WORKER": "hpsearch.worker",
        "FOLD_VALUES": "fold_values",
        "FOLD_STD": "fold_std",
        "RESUMED_FROM_FOLD": "resumed_from_fold",
        "ENQUEUED_FROM": "hpsearch.enqueued_from",
    },
    "Tag": {
        "PARENT": "mlflow.parentRunId",
        "RUN_NAME": "mlflow.runName",
        "NOTE": "mlflow.note.content",
        "STUDY": "hpsearch.study",
        "ROLE": "hpsearch.role",
        "TRIAL": "hpsearch.trial_number",
        "STATE": "hpsearch.state",
        "VALUE": "hpsearch.value",
        "FAIL_REASON": "hpsearch.fail_reason",
        "RESUMED_FROM": "hpsearch.resumed_from_epoch",
        "ATTEMPTS": "hpsearch.attempts",
        "RETRY_OF": "hpsearch.retry_of",
        "EPOCHS_TRAINED": "hpsearch.epochs_trained",
        "MODEL_PENDING": "hpsearch.model_pending",
        "MODEL_ERROR": "hpsearch.model_error",
        "ARTIFACT_ERROR": "hpsearch.artifact_error",
        "SUPERSEDED_BY": "hpsearch.superseded_by",
        "SAMPLER": "hpsearch.sampler",
        "PRUNER": "hpsearch.pruner",
        "SEARCH_SPACE": "hpsearch.search_space",
        "TARGET_TRIALS": "hpsearch.target_trials",
        "COMPLETE": "hpsearch.complete",
        "PRUNED": "hpsearch.pruned",
        "FAILED": "hpsearch.failed",
        "BEST_TRIAL": "hpsearch.best_trial",
        "BEST_VALUE": "hpsearch.best_value",
        "RETRAIN_OF": "hpsearch.retrain_of",
    },
    "Role": {"STUDY": "study", "TRIAL": "trial", "RETRAIN": "retrain", "LR_FIND": "lr_find"},
    "RetrainParam": {
        "SOURCE_TRIAL": "retrain.source_trial",
        "EPOCHS": "retrain.epochs",
        "EPOCHS_FROM": "retrain.epochs_from",
        "EXAMPLES": "retrain.examples",
    },
    "VersionTag": {
        "TRIAL": "trial",
        "FORMAT": "format",
        "OBJECTIVE_VALUE": "objective_value",
        "RETRAINED_RUN": "retrained_run",
        "MAX_ABS_DIFF": "max_abs_diff",
        "EXPORTED_FILE": "exported_file",
    },
    "LRFindMetric": {
        "LEARNING_RATE": "learning_rate",
        "LOSS": "loss",
        "SMOOTHED_LOSS": "smoothed_loss",
        "SUGGESTED_LOW": "suggested_lr_low",
        "SUGGESTED_HIGH": "suggested_lr_high",
    },
    "LRFindParam": {
        "OPTIMIZER": "optimizer",
        "STEPS": "steps",
        "START_LR": "start_lr",
        "END_LR": "end_lr",
        "SEED": "seed",
        "SMOOTHING_BETA": "smoothing_beta",
    },
    "State": {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAIL", "RUNNING": "RUNNING", "WAITING": "WAITING"},
    "RunStatus": {"RUNNING": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"},
}


def test_every_stored_name_keeps_its_value() -> None:
    enums = {name: getattr(keys, name) for name in STORED}
    assert {name: {m.name: m.value for m in enum} for name, enum in enums.items()} == STORED


def test_every_enum_of_keys_is_locked_here() -> None:
    declared = {
        name for name in keys.__all__ if isinstance(getattr(keys, name), type) and issubclass(getattr(keys, name), StrEnum)
    }
    assert declared == set(STORED)


def test_a_member_is_its_string() -> None:
    """Members go wherever a string goes: attribute keys, tags, JSON, comparisons with what a store gives back."""
    assert keys.Tag.STATE == "hpsearch.state" and f"{keys.State.COMPLETE}" == "COMPLETE"
    assert {keys.TrialAttr.MLFLOW_RUN_ID: 1} == {"mlflow_run_id": 1}
    assert keys.LR_FIND_PLOT == "plots/lr_find.png"
    assert keys.MODEL_ARTIFACT == "model/best.keras" and keys.objective_column("val_loss") == "best_val_loss"
    assert keys.STEPS_METRIC == "train_steps"
    assert keys.objective_metric("latency_ms") == "objective.latency_ms"
