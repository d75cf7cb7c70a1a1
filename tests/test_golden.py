"""Golden tests: names and shapes that studies already in storage depend on.

A study started by one version of hpsearch must continue under the next: the built CNN (its layer
names are checkpoint keys, its parameter count is the model), the Optuna parameter names, the trial
and study user attrs, and the MLflow tags all keep their spelling. These tests compare against
literal values on purpose; change one only together with a migration for existing studies.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from hpsearch.config import load_study_config

CNN_LAYERS = {
    "none": (
        1250858,
        "image rescale conv1a conv1a_relu conv1b conv1b_relu pool1 dropout1 conv2a conv2a_relu conv2b "
        "conv2b_relu pool2 dropout2 flatten dense dense_relu dropout3 classes",
    ),
    "before_activation": (
        1252970,
        "image rescale conv1a conv1a_bn conv1a_relu conv1b conv1b_bn conv1b_relu pool1 dropout1 conv2a "
        "conv2a_bn conv2a_relu conv2b conv2b_bn conv2b_relu pool2 dropout2 flatten dense dense_bn dense_relu "
        "dropout3 classes",
    ),
    "after_activation": (
        1253674,
        "image rescale conv1a conv1a_relu conv1a_bn conv1b conv1b_relu conv1b_bn pool1 dropout1 conv2a "
        "conv2a_relu conv2a_bn conv2b conv2b_relu conv2b_bn pool2 dropout2 flatten dense dense_relu dense_bn "
        "dropout3 classes",
    ),
}

#: Every Optuna parameter name the flagship study can store.
CIFAR10_PARAMS = (
    "optimizer sgd.momentum sgd.nesterov rmsprop.rho learning_rate schedule exponential.decay_rate "
    "natural_exp.decay_rate inverse_time.decay_rate polynomial.end_fraction polynomial.power cosine.alpha "
    "multistep.drop multistep.drops reduce_on_plateau.factor reduce_on_plateau.patience regularizer l1.l1 "
    "l2.l2 l1_l2.l1 l1_l2.l2 initializer batch_norm dropout batch_size augmentation.horizontal_flip "
    "augmentation.translation augmentation.zoom"
).split()

TRIAL_ATTRS = {"mlflow_run_id", "epochs_trained", "resumed_from_epoch", "best_epoch", "hpsearch.worker"}
FAILED_TRIAL_ATTRS = {"fail_reason", "traceback"}
STUDY_ATTRS = {
    "hpsearch.config",
    "hpsearch.identity",
    "hpsearch.data",
    "hpsearch.target_trials",
    "hpsearch.mlflow_parent_run_id",
    "hpsearch.test_metrics",
    "hpsearch.seed",
    "hpsearch.data_source",
}
TRIAL_RUN_TAGS = {
    "mlflow.parentRunId",
    "hpsearch.study",
    "hpsearch.role",
    "hpsearch.trial_number",
    "hpsearch.state",
    "hpsearch.value",
    "hpsearch.resumed_from_epoch",
    "hpsearch.attempts",
}


@pytest.mark.parametrize("batch_norm", sorted(CNN_LAYERS))
def test_the_cifar_cnn_keeps_its_layers_and_size(batch_norm: str) -> None:
    from hpsearch.models._cnn import build_model

    params = {
        "optimizer": "adam",
        "adam.beta_1": 0.9,
        "adam.beta_2": 0.999,
        "learning_rate": 1e-3,
        "schedule": "none",
        "regularizer": "l2",
        "l2.l2": 1e-4,
        "initializer": "he_normal",
        "batch_norm": batch_norm,
        "dropout": 0.25,
        "batch_size": 64,
    }
    model, _ = build_model(
        params, input_shape=(32, 32, 3), num_classes=10, input_scale=1 / 255, steps_per_epoch=10, max_epochs=2
    )
    count, layers = CNN_LAYERS[batch_norm]
    assert [layer.name for layer in model.layers] == layers.split()
    assert model.count_params() == count


def test_the_flagship_study_keeps_its_parameter_names() -> None:
    config = load_study_config("cifar10")
    assert config.search_space.searched() == CIFAR10_PARAMS


def test_persisted_names_of_a_finished_study_are_unchanged(finished_study: dict) -> None:
    from mlflow.tracking import MlflowClient

    storage = optuna.storages.RDBStorage(finished_study["storage"])
    study = optuna.load_study(study_name=finished_study["name"], storage=storage)
    assert STUDY_ATTRS <= set(study.user_attrs)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert complete and failed
    for trial in complete:
        assert TRIAL_ATTRS <= set(trial.user_attrs), sorted(trial.user_attrs)
        assert {"optimizer", "learning_rate", "batch_size"} <= set(trial.params)
    assert FAILED_TRIAL_ATTRS <= set(failed[0].user_attrs)

    client = MlflowClient(finished_study["tracking"])
    run = client.get_run(complete[0].user_attrs["mlflow_run_id"])
    assert TRIAL_RUN_TAGS <= set(run.data.tags), sorted(run.data.tags)
    assert run.data.tags["hpsearch.role"] == "trial" and run.data.tags["hpsearch.state"] == "COMPLETE"
    assert {"optimizer", "learning_rate", "batch_size", "dropout"} <= set(run.data.params)


def test_a_study_file_keeps_resolving_to_the_same_search_space(tmp_path: Path) -> None:
    """The conditional roles keep their declared branch order (Optuna compares choices by order)."""
    config = load_study_config("cifar10")
    space = config.search_space.to_dict()
    assert list(space["optimizer"]) == ["sgd", "adam", "rmsprop", "nadam", "adagrad", "adadelta"]
    assert list(space["schedule"])[:3] == ["none", "exponential", "natural_exp"]
    assert space["batch_size"] == [32, 64, 128, 256]


GOLDEN = Path(__file__).parent / "golden"


def test_the_resolved_cifar10_study_is_unchanged() -> None:
    """``to_dict()`` and ``identity()`` of the shipped study, key order included (snapshot taken before issue 10)."""
    config = load_study_config("cifar10")
    golden = json.loads((GOLDEN / "cifar10_config.json").read_text())
    resolved = json.loads(json.dumps({"to_dict": config.to_dict(), "identity": config.identity()}))
    assert resolved == golden
    assert json.dumps(resolved["identity"]) == json.dumps(golden["identity"])  # same key order
