"""The task engine wired into studies: the study file's task, loss, metrics and objective, settled
from the data before any trial is written; the model a trial builds (MLP for tables, the task's
head, augmentation), its targets, and what a finished study shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hpsearch._errors import UsageError
from hpsearch.config import Fixed, Group, parse_study_dict
from hpsearch.data._types import Dataset, Split


def _table(task: str = "regression", n: int = 60, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32)) if task == "regression" else rng.integers(0, classes, n)
    split = Split(x, y)
    return Dataset(name="t.csv", train=split, validation=split, test=split, num_classes=0 if task == "regression" else classes,
                   input_scale=1.0, task=task, source={"kind": "csv"})


def _images(classes: int = 2) -> Dataset:
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 255, (20, 12, 12, 3), dtype=np.uint8), np.arange(20) % classes)
    return Dataset(name="imgs", train=split, validation=split, test=split, num_classes=classes, input_scale=1 / 255)


def _config(**raw: object):
    return parse_study_dict({"dataset": "t.csv", **raw}, name="t", source="t.yaml")


# ----------------------------------------------------------------------------- study file -> settled config


def test_a_table_gets_the_mlp_and_regression_gets_val_loss() -> None:
    from hpsearch.tasks._plan import plan_for, settle

    config = settle(_config(), _table())
    assert config.model == "mlp"
    assert (config.objective.metric, config.objective.direction) == ("val_loss", "minimize")
    plan = plan_for(config, _table())
    assert (plan.task.kind, plan.default_loss, plan.metrics) == ("regression", "mse", ("mae",))
    assert plan.target_mean == pytest.approx((float(np.mean(_table().train.y)),))
    # Settled values are explicit from then on: stored, they read back the same.
    again = parse_study_dict(config.to_dict(), name="t", stored=True)
    assert (again.model, again.objective) == (config.model, config.objective)


def test_an_explicit_model_and_objective_win() -> None:
    from hpsearch.tasks._plan import settle

    config = settle(_config(model="mlp", objective={"metric": "val_mae"}, metrics=["mae", "rmse"]), _table())
    assert (config.objective.metric, config.objective.direction, config.metrics) == ("val_mae", "minimize", ("mae", "rmse"))
    with pytest.raises(UsageError, match=r"model cifar_cnn needs images .*; or use model: mlp"):
        settle(_config(model="cifar_cnn"), _table())


def test_image_studies_keep_todays_defaults_two_classes_included() -> None:
    from hpsearch.tasks._plan import plan_for, settle

    config = parse_study_dict({}, name="c")
    settled = settle(config, _images(classes=2))
    assert settled.to_dict() == config.to_dict()  # nothing filled in: today's stored form
    plan = plan_for(settled, _images(classes=2))
    head = plan.head({})
    assert (plan.default_loss, plan.metrics, head.units, head.activation) == ("sparse_categorical_crossentropy", ("accuracy",), 2, "softmax")
    # A table with two classes gets the single sigmoid.
    assert plan_for(settle(_config(), _table("classification")), _table("classification")).head({}).units == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"search_space": {"loss": "mse"}}, "search_space.loss: loss 'mse' is a regression loss, but the task is classification"),
        ({"metrics": ["mae"]}, "metrics: mae is not a classification metric"),
        ({"objective": {"metric": "val_auc"}}, "objective.metric: val_auc is not logged by this classification study"),
        ({"metrics": ["top_k_accuracy"], "objective": {"metric": "val_top_k_accuracy"}}, "top_k_accuracy (k=5) needs more than 5 classes"),
        ({"metrics": [{"top_k_accuracy": {"k": 2}}]}, "top_k_accuracy (k=2) needs more than 2 classes; t.csv has 2: use {top_k_accuracy: {k: 1}} or fewer"),
    ],
)
def test_what_does_not_fit_the_task_is_one_line(raw: dict, message: str) -> None:
    from hpsearch.tasks._plan import settle

    with pytest.raises(UsageError) as err:
        settle(_config(**raw), _table("classification"))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"objective": {"metric": "val_acc"}}, "the model does not produce 'val_acc' (did you mean 'val_accuracy'?)"),
        ({"objective": {"metric": "val_mae", "direction": "maximize"}}, "maximize val_mae would select the worst models; use direction: minimize"),
        ({"metrics": ["acc"]}, "metrics.0: unknown metric 'acc'"),
        ({"metrics": ["mae", "mae"]}, "lists a metric twice"),
        ({"validation": {"folds": 1}}, "validation.folds: expected an integer in [2, 100], got 1"),
        ({"search_space": {"loss": {"hubber": {}}}}, "search_space.loss.hubber: unknown choice 'hubber' (did you mean 'huber'?)"),
        ({"search_space": {"mlp": {"unit": 3}}}, "search_space.mlp"),
        ({"search_space": {"augmentation": {"zoom": 1.5}}}, "search_space.augmentation.zoom"),
    ],
)
def test_bad_task_keys_are_refused_when_the_file_is_read(raw: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        _config(**raw)
    assert message in str(err.value), str(err.value)


def test_top_k_accuracy_takes_its_k() -> None:
    from hpsearch.tasks._plan import plan_for, settle

    raw = {"metrics": ["accuracy", {"top_k_accuracy": {"k": 3}}], "objective": {"metric": "val_top_k_accuracy"}}
    config = settle(_config(**raw), _table("classification", classes=5))
    plan = plan_for(config, _table("classification", classes=5))
    assert plan.metrics == ("accuracy", "top_k_accuracy") and plan.compiled == {"accuracy": {}, "top_k_accuracy": {"k": 3}}
    assert config.to_dict()["metrics"] == ["accuracy", {"top_k_accuracy": {"k": 3}}]
    with pytest.raises(UsageError, match=r"metrics\.1\.top_k_accuracy\.j: unknown option; top_k_accuracy has k"):
        _config(metrics=["accuracy", {"top_k_accuracy": {"j": 3}}])


def test_the_objective_direction_follows_the_metric() -> None:
    assert _config(objective={"metric": "val_r2"}).objective.direction == "maximize"
    assert _config(objective={"metric": "rmse"}).objective.direction == "minimize"
    assert _config(objective={"metric": "val_auc"}).objective.direction == "maximize"


def test_new_keys_are_stored_only_when_set() -> None:
    plain = _config()
    assert not {"metrics", "validation"} & set(plain.to_dict())
    assert not {"loss", "mlp", "augmentation"} & set(plain.to_dict()["search_space"])
    full = _config(metrics=["mae"], validation={"folds": 4}, search_space={"loss": "huber", "mlp": {"units": [16, 32]}})
    d = full.to_dict()
    assert d["metrics"] == ["mae"] and d["validation"] == {"folds": 4}
    assert d["search_space"]["loss"] == {"huber": {"delta": 1.0}} and d["search_space"]["mlp"]["units"] == [16, 32]
    assert parse_study_dict(d, name="t", stored=True) == full.model_copy(update={"source": "<dict>"})
    assert full.identity()["validation"] == {"folds": 4}


def test_searched_losses_mlp_and_augmentation_are_sampled_by_name() -> None:
    import optuna

    from hpsearch.space._sample import describe, sample

    space = _config(
        search_space={
            "loss": {"mse": {}, "huber": {"delta": {"low": 0.5, "high": 2.0}}},
            "mlp": {"layers": [1, 2], "units": 32},
            "augmentation": {"horizontal_flip": [True, False], "zoom": {"low": 0.0, "high": 0.2}},
        }
    ).search_space
    assert isinstance(space.mlp, Group) and dict(space.mlp.knobs)["units"] == Fixed(32)
    assert space.searched() == ["loss", "huber.delta", "mlp.layers", "augmentation.horizontal_flip", "augmentation.zoom"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):
        params = sample(study.ask(), space)
        assert params["mlp.units"] == 32 and params["augmentation.translation"] == 0.0
        assert ("huber.delta" in params) == (params["loss"] == "huber")
    assert ("mlp.units", "fixed 32", "") in describe(space)


# ----------------------------------------------------------------------------- a trial's model


@pytest.mark.slow
def test_the_trial_model_follows_the_head_and_trains_on_encoded_targets() -> None:
    import keras

    from hpsearch.data._pipelines import Pipelines
    from hpsearch.models._compile import targets_of
    from hpsearch.models._trial_model import build_trial_model
    from hpsearch.tasks import Task, head_for

    params = {"optimizer": "adam", "adam.beta_1": 0.9, "adam.beta_2": 0.999, "learning_rate": 1e-2, "schedule": "none",
              "regularizer": "none", "initializer": "glorot_uniform", "batch_norm": "none", "dropout": 0.0, "batch_size": 8}
    data = _images(classes=3)
    for loss, units, activation in (("sparse_categorical_crossentropy", 3, "softmax"), ("squared_hinge", 3, "linear"), ("categorical_crossentropy", 3, "softmax")):
        head = head_for(Task("classification", num_classes=3), loss)
        model, _ = build_trial_model(params, model="cifar_cnn", head=head, loss_knobs={}, metrics=("accuracy", "f1"),
                                     input_shape=(12, 12, 3), input_scale=1 / 255, steps_per_epoch=3, max_epochs=1, seed=1)
        assert model.output_shape == (None, units) and model.layers[-1].activation.__name__ == activation
        assert targets_of(model) == (head.labels, head.units)
        logs = model.fit(Pipelines(data).train(8, seed=0, targets=targets_of(model)), epochs=1, verbose=0).history
        assert {"loss", "accuracy", "f1"} <= set(logs)
        keras.backend.clear_session()
    table = _table()
    head = head_for(Task("regression"), "huber")
    mlp_params = {**params, "mlp.layers": 1, "mlp.units": 8, "mlp.activation": "tanh"}
    model, _ = build_trial_model(mlp_params, model="mlp", head=head, loss_knobs={"delta": 0.5}, metrics=("mae", "r2"),
                                 input_shape=(3,), input_scale=1.0, steps_per_epoch=8, max_epochs=1, seed=1, output_bias=(3.0,))
    assert [layer.name for layer in model.layers if "dense" in layer.name] == ["dense1", "dense1_tanh"] and model.loss.delta == 0.5
    assert np.asarray(model.layers[-1].bias).tolist() == [3.0]  # regression starts from the targets' mean
    logs = model.fit(Pipelines(table).train(8, seed=0, targets=targets_of(model)), epochs=1, verbose=0).history
    assert {"loss", "mae", "r2"} <= set(logs) and np.isfinite(logs["mae"][0])


def test_augmentation_params_wrap_the_model_and_act_only_in_training() -> None:
    from hpsearch.models._augment import BLOCK_NAME, without_augmentation
    from hpsearch.models._trial_model import augmentation_settings, build_trial_model
    from hpsearch.tasks import Task, head_for

    params = {"optimizer": "adam", "adam.beta_1": 0.9, "adam.beta_2": 0.999, "learning_rate": 1e-3, "schedule": "none",
              "regularizer": "none", "initializer": "glorot_uniform", "batch_norm": "none", "dropout": 0.0, "batch_size": 8,
              "augmentation.horizontal_flip": True, "augmentation.vertical_flip": False, "augmentation.zoom": 0.1,
              "augmentation.translation": 0.0, "augmentation.rotation": 0.0, "augmentation.contrast": 0.0}
    assert augmentation_settings(params) == {"horizontal_flip": True, "zoom": {"factor": 0.1}}
    head = head_for(Task("classification", num_classes=3))
    model, _ = build_trial_model(params, model="cifar_cnn", head=head, loss_knobs={}, metrics=("accuracy",),
                                 input_shape=(12, 12, 3), input_scale=1 / 255, steps_per_epoch=1, max_epochs=1, seed=1)
    assert BLOCK_NAME in [layer.name for layer in model.layers]
    x = _images().train.x[:4].astype(np.float32)
    inner = without_augmentation(model)
    assert BLOCK_NAME not in [layer.name for layer in inner.layers]
    np.testing.assert_allclose(model.predict(x, verbose=0), inner.predict(x, verbose=0), atol=1e-6)


# ----------------------------------------------------------------------------- a study end to end


def _regression_csv(path: Path, n: int = 80) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3))
    y = x @ [1.5, -2.0, 0.5] + 3 + 0.1 * rng.normal(size=n)
    path.write_text("a,b,c,price\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t:.4f}\n" for (a, b, c), t in zip(x, y)))
    return path


@pytest.mark.slow
def test_a_regression_study_logs_and_shows_its_own_objective(store: Path, tmp_path: Path) -> None:
    """An objective other than accuracy: every compiled metric logged per epoch (train and val),
    the trial's value is val_mae at its best epoch, the test set is scored by the same metrics,
    and show, report and export name them."""
    import mlflow
    from click.testing import CliRunner

    from hpsearch.cli import main
    from hpsearch.study._session import StudyRequest, run_study

    _regression_csv(tmp_path / "prices.csv")
    study = {
        "dataset": "prices.csv", "seed": 2, "objective": {"metric": "val_mae"}, "metrics": ["mae", "rmse"],
        "training": {"max_epochs": 2, "early_stopping_patience": None},
        "search_space": {"optimizer": "rmsprop", "learning_rate": 0.01, "dropout": 0.0, "batch_size": 16,
                         "loss": {"mse": {}, "huber": {}}, "mlp": {"units": [8, 16]}},
        "sampler": "random", "pruner": "none", "budget": {"trials": 2},
    }
    (tmp_path / "prices.yaml").write_text(yaml.safe_dump(study))
    summary = run_study(StudyRequest(study="prices.yaml"))
    assert summary.config.model == "mlp" and summary.counts.complete == 2
    assert {"test_mae", "test_rmse", "test_loss"} <= set(summary.test_metrics)
    client = mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db")
    trial = summary.best
    run_id = trial.user_attrs["mlflow_run_id"]
    for key in ("loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse", "learning_rate"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2], key
    val_mae = [m.value for m in client.get_metric_history(run_id, "val_mae")]
    assert trial.value == pytest.approx(min(val_mae))
    assert client.get_run(run_id).data.metrics["best_val_mae"] == pytest.approx(trial.value)

    shown = CliRunner().invoke(main, ["show", "prices"])
    assert shown.exit_code == 0 and "val_mae" in shown.output and "accuracy" not in shown.output, shown.output
    reported = CliRunner().invoke(main, ["report", "prices", "-o", "r.html"])
    assert reported.exit_code == 0, reported.output
    page = (tmp_path / "r.html").read_text()
    assert f"test mae (best)<b>{summary.test_metrics['test_mae']:.4f}" in page
    assert "val_accuracy" not in page and "test accuracy" not in page  # (plotly's own script says "accuracy")
    assert "trial 0 val_mae" in page or "trial 1 val_mae" in page  # the learning curves draw the objective
    exported = CliRunner().invoke(main, ["export", "prices", "--output", "prices.keras"])
    assert exported.exit_code == 0, exported.output
    assert f"test mae = {summary.test_metrics['test_mae']:.4f}, rmse = " in exported.output and "accuracy" not in exported.output

    # The exported file takes raw CSV rows (its preprocessing travels with it) and scores the test
    # rows as the trained model scored their preprocessed features.
    import keras

    import hpsearch

    dataset = hpsearch.load_data(summary.config)
    rows = dataset.test_inputs(len(dataset.test))
    assert set(rows) == {"a", "b", "c"} and rows["a"].dtype == np.float32  # raw cells, not features
    predicted = keras.models.load_model(tmp_path / "prices.keras").predict(rows, verbose=0).ravel()
    mae = float(np.mean(np.abs(predicted - np.asarray(dataset.test.y, dtype=np.float64).ravel())))
    assert mae == pytest.approx(summary.test_metrics["test_mae"], rel=1e-3)


@pytest.mark.slow
def test_an_augmented_image_study_exports_a_model_without_augmentation(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    """Augmentation searched: the trials train with it, the export has none and predicts what
    the trained model predicts in inference mode (the export's own check)."""
    import keras
    from click.testing import CliRunner

    from conftest import QUICK_STUDY, write_study
    from hpsearch.cli import main
    from hpsearch.study._session import StudyRequest, run_study

    space = {**QUICK_STUDY["search_space"], "augmentation": {"horizontal_flip": True, "translation": {"low": 0.05, "high": 0.1}, "contrast": [0.0, 0.2]}}
    write_study(tmp_path / "aug.yaml", search_space=space, training={"max_epochs": 1, "early_stopping_patience": None}, budget={"trials": 1})
    summary = run_study(StudyRequest(study="aug.yaml", data_dir=str(cifar_dir), subset=120))
    assert summary.counts.complete == 1 and 0.05 <= summary.best.params["augmentation.translation"] <= 0.1
    result = CliRunner().invoke(main, ["export", "aug", "--data-dir", str(cifar_dir), "-o", "aug.keras"])
    assert result.exit_code == 0, result.output
    assert "Verified: reloaded with the keras runtime" in result.output
    exported = keras.saving.load_model(tmp_path / "aug.keras", safe_mode=True)
    assert "augmentation" not in [layer.name for layer in exported.layers]
    assert not any("random" in type(layer).__name__.lower() for layer in exported.layers)


@pytest.mark.slow
def test_a_kfold_study_killed_mid_fold_resumes_at_that_fold(tmp_path: Path) -> None:
    """SIGKILL while fold 1 of an epoch is done and fold 2 is not: the retry starts at that fold
    of that epoch (nothing trained twice), and the trial completes with one mean row per epoch."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    import optuna

    from conftest import hpsearch_cli

    _regression_csv(tmp_path / "prices.csv", n=600)
    study = {
        "dataset": "prices.csv", "seed": 5, "objective": {"metric": "val_mae"}, "validation": {"folds": 3},
        "training": {"max_epochs": 4, "early_stopping_patience": None},
        "search_space": {"optimizer": "adam", "learning_rate": 0.01, "dropout": 0.0, "batch_size": 8},
        "sampler": "random", "pruner": "none", "budget": {"trials": 1}, "heartbeat": {"interval": 1, "grace_period": 3},
    }
    (tmp_path / "kf.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for key in ("HPSEARCH_STORAGE", "MLFLOW_TRACKING_URI", "HPSEARCH_CHECKPOINT_DIR"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", "study", "kf.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = tmp_path / "home" / "checkpoints" / "kf" / "trial-00000" / "kfold.json"
    killed_at = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = None
        if state and state["epochs_done"] >= 1 and state["folds_done"] == 1:
            proc.send_signal(signal.SIGKILL)
            killed_at = (state["epochs_done"], state["folds_done"])
            break
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None, "the study ended before it could be killed mid-fold"
    time.sleep(4)  # past the heartbeat's grace period: the trial is dead
    result = hpsearch_cli("study", "kf.yaml", cwd=tmp_path, env={k: v for k, v in env.items() if k.startswith("HPSEARCH") or k.startswith("TF_")})
    assert result.returncode == 0, result.stderr[-2000:]
    trials = optuna.load_study(study_name="kf", storage=f"sqlite:///{tmp_path}/home/optuna.db").trials
    retry = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(retry) == 1
    attrs = retry[0].user_attrs
    # The state file may have moved on by one fold between reading it and the kill landing.
    assert attrs["resumed_from_epoch"] == killed_at[0] and attrs["resumed_from_fold"] in (1, 2)
    assert attrs["epochs_trained"] == 4 and len(attrs["fold_values"]) == 3 and attrs["fold_std"] >= 0
    assert retry[0].value == pytest.approx(sum(attrs["fold_values"]) / 3, rel=1e-5)
    assert sorted(retry[0].intermediate_values) == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_cifar10_study_created_before_augmentation_continues_as_it_was(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    """The shipped cifar10 study now searches augmentation; a cifar10 study created from the
    earlier file continues with its stored configuration (its trials stay comparable)."""
    from hpsearch.config import builtin_studies
    from hpsearch.study._session import StudyRequest, run_study

    old = yaml.safe_load(builtin_studies()["cifar10"].read_text())
    del old["search_space"]["augmentation"]
    old["search_space"].update(optimizer="adam", schedule="none", regularizer="none", batch_size=64)
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    common = {"data_dir": str(cifar_dir), "epochs": 1, "subset": 100, "seed": 3}
    first = run_study(StudyRequest(study="old.yaml", study_name="cifar10", trials=1, **common))
    assert first.counts.complete == 1
    with pytest.warns(UserWarning, match="continues with the configuration it was created with; the shipped cifar10.yaml has changed"):
        again = run_study(StudyRequest(study="cifar10", trials=2, **common))
    assert again.config.search_space.augmentation is None and again.counts.complete == 2
    assert not any(k.startswith("augmentation.") for t in again.study.trials for k in t.params)


# ----------------------------------------------------------------------------- K-fold pieces


def test_folds_pool_training_and_validation_and_stratify_classes() -> None:
    from hpsearch.trial._kfold import all_training_data, fold_datasets

    data = _table("classification", n=60, classes=3)
    data = Dataset(**{**data.__dict__, "validation": Split(data.train.x[:12], data.train.y[:12]), "num_classes": 3})
    folds = fold_datasets(data, 4, seed=0)
    assert [len(f.validation) for f in folds] == [18, 18, 18, 18]  # 60 + 12 rows, a quarter each
    assert all(len(f.train) + len(f.validation) == 72 for f in folds)
    per_fold = np.array([np.bincount(f.validation.y, minlength=3) for f in folds])  # folds x classes
    assert (per_fold.max(axis=0) - per_fold.min(axis=0) <= 1).all()  # each class spread evenly over the folds
    assert [len(f.validation) for f in fold_datasets(data, 4, seed=0)] == [len(f.validation) for f in folds]
    assert np.array_equal(fold_datasets(data, 4, seed=0)[1].validation.y, folds[1].validation.y)  # seeded
    assert len(all_training_data(data).train) == 72


def test_the_kfold_state_round_trips_and_refuses_a_broken_one(tmp_path: Path) -> None:
    from hpsearch.trial._kfold import STATE_FILE, KFoldState

    state = KFoldState(3, epochs_done=2, folds_done=1, history=[{"epoch": 1.0, "val_mae": 0.5}], best=0.5, best_epoch=1, wait=1)
    (tmp_path / "fold0-e3.keras").write_bytes(b"x")
    state.models[0] = "fold0-e3.keras"
    (tmp_path / "fold0-e2.keras").write_bytes(b"old")  # superseded: removed when the state is saved
    state.save(tmp_path)
    assert not (tmp_path / "fold0-e2.keras").exists()
    assert KFoldState.load(tmp_path, 3) == state
    assert KFoldState.load(tmp_path, 4) is None  # other folds: start over
    (tmp_path / "fold0-e3.keras").unlink()
    assert KFoldState.load(tmp_path, 3) is None  # a model it names is gone
    (tmp_path / STATE_FILE).write_text("{not json")
    assert KFoldState.load(tmp_path, 3) is None


class _Trial:
    """What :func:`run_folds` asks of an Optuna trial."""

    def __init__(self) -> None:
        self.reported: list[tuple[int, float]] = []
        self.user_attrs: dict[str, object] = {}

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return False

    def set_user_attr(self, key: str, value: object) -> None:
        self.user_attrs[key] = value


@pytest.mark.parametrize("tie_break, best_epoch, stopped_after", [("val_loss", 3, 4), (None, 2, 4)])
def test_kfold_picks_the_best_epoch_as_a_single_model_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tie_break: str | None, best_epoch: int, stopped_after: int
) -> None:
    """Equal mean accuracies go to the epoch with the lower mean val_loss; a tie does not reset
    the patience count (two epochs without improvement stop it after epoch 4)."""
    import keras

    from hpsearch.keys import State
    from hpsearch.trial._checkpoints import TrialCheckpoints
    from hpsearch.trial._kfold import KFoldState, run_folds
    from hpsearch.trial._outcome import TrialOutcome

    per_epoch = [(0.5, 0.9), (0.75, 0.6), (0.75, 0.4), (0.75, 0.5), (0.9, 0.1)]  # (val_accuracy, val_loss), both folds

    def fit_epoch(model, pipes, epoch, **kw):
        accuracy, loss = per_epoch[epoch]
        return {"epoch": float(epoch + 1), "val_accuracy": accuracy, "val_loss": loss}, False

    monkeypatch.setattr("hpsearch.trial._kfold._fit_epoch", fit_epoch)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    outcome = TrialOutcome(number=0, state=State.RUNNING, params={})
    trial = _Trial()
    run_folds(
        trial=trial, outcome=outcome, ckpt=TrialCheckpoints(tmp_path), folds=[None, None], build=lambda fold: model,
        state=KFoldState(2), monitor="val_accuracy", direction="maximize", tie_break=tie_break, max_epochs=5,
        patience=2, batch_size=4, seed=0, targets=None, log=lambda epoch, logs: None,
    )
    assert outcome.state == State.COMPLETE and outcome.value == 0.75
    assert outcome.best_epoch == best_epoch and outcome.epochs_trained == stopped_after
    assert trial.reported == [(e + 1, per_epoch[e][0]) for e in range(stopped_after)]


@pytest.mark.parametrize("folds", [pytest.param(None, marks=pytest.mark.slow), 2], ids=["single", "kfold"])
def test_a_study_seed_at_the_top_of_its_range_trains_every_trial(
    store: Path, tmp_path: Path, folds: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial seeds are the study's plus the trial number (a fold's: that times 100 plus the fold),
    beyond numpy's 0..2**32-1 for a drawn study seed (up to 2**31) in K-fold, or for any
    seed near the top: they are wrapped, not a failed trial."""
    from hpsearch.study._reporter import NullReporter
    from hpsearch.study._session import StudyRequest, run_study

    _regression_csv(tmp_path / "prices.csv", n=40)
    study = {
        "dataset": "prices.csv", "seed": 2**32 - 1, "objective": {"metric": "val_mae"},
        "training": {"max_epochs": 1, "early_stopping_patience": None},
        "search_space": {"optimizer": "adam", "learning_rate": 0.01, "dropout": 0.0, "batch_size": 16},
        "sampler": "random", "pruner": "none", "budget": {"trials": 2},
    }
    if folds:
        study["validation"] = {"folds": folds}
    (tmp_path / "top.yaml").write_text(yaml.safe_dump(study))
    messages: list[str] = []

    class Recorder(NullReporter):
        def message(self, text: str) -> None:
            messages.append(text)

    summary = run_study(StudyRequest(study="top.yaml"), reporter_factory=lambda *_: Recorder())
    assert summary.counts.complete == 2, [t.user_attrs.get("fail_reason") for t in summary.study.trials]
    # every parameter is fixed: the user is told the trials differ only in their seed
    assert sum("fixes every parameter" in m and "differ only in their seed" in m for m in messages) == 1, messages
    from hpsearch.cli._messages import print_summary

    capsys.readouterr()
    print_summary(summary)  # which model the test set scored: a K-fold trial keeps none of its own
    tested = f"trial {summary.best.number} retrained on all training data for its best epoch count" if folds else f"best checkpoint of trial {summary.best.number}"
    assert f"Test set ({tested}): " in capsys.readouterr().out
