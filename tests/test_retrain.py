"""``hpsearch retrain NAME`` and ``export NAME --retrained``: the best trial's params trained on
training + validation data for its best epoch count, tested, recorded and exported."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from conftest import write_npz, write_study
from mlflow import MlflowClient

from hpsearch.cli import main
from hpsearch.keys import MODEL_ARTIFACT, STEPS_METRIC, RetrainParam, Role, RunStatus, Tag, param_repr
from hpsearch.tracking._uris import normalize_tracking_uri
from hpsearch.study._ranking import best_trial

N_TRAIN, N_TEST = 250, 60  # the conftest CIFAR-10 copy: 200 training + 50 validation images, 60 test


def backup(src: Path, dst: Path) -> None:
    """Copy an SQLite store (WAL mode: a file copy could miss recent writes)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, cifar_dir: Path) -> dict:
    """A tiny finished study (2 trials, 2 epochs), and a copy of its stores before any retrain."""
    from hpsearch.study._session import StudyRequest, run_study

    cwd = tmp_path_factory.mktemp("retrain")
    home = cwd / "mlruns"
    write_study(cwd / "shop.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_HOME", str(home))
        mp.delenv("HPSEARCH_STORAGE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(cwd)
        run_study(StudyRequest(study="shop.yaml", data_dir=str(cifar_dir)))
    pristine = cwd / "pristine"
    pristine.mkdir()
    for db in ("optuna.db", "mlflow.db"):
        backup(home / db, pristine / db)
    return {
        "cwd": cwd,
        "storage": f"sqlite:///{home}/optuna.db",
        "tracking": f"sqlite:///{home}/mlflow.db",
        "data_dir": str(cifar_dir),
        "pristine": pristine,
    }


def where(study: dict, storage: str | None = None, tracking: str | None = None) -> list[str]:
    return ["--storage", storage or study["storage"], "--tracking-uri", tracking or study["tracking"], "--data-dir", study["data_dir"]]


def retrain_runs(study: dict) -> list:
    client = MlflowClient(normalize_tracking_uri(study["tracking"]))
    experiment = client.get_experiment_by_name("shop")
    return client.search_runs([experiment.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.RETRAIN}'", order_by=["attributes.start_time DESC"])


@pytest.fixture(scope="module")
def retrained(study: dict) -> dict:
    """``hpsearch retrain shop`` run once: its CLI result and its MLflow run."""
    result = CliRunner().invoke(main, ["retrain", "shop", *where(study)])
    assert result.exit_code == 0, result.output
    runs = retrain_runs(study)
    assert len(runs) == 1
    return {"result": result, "run": runs[0]}


def best_of(study: dict) -> optuna.trial.FrozenTrial:
    return best_trial(optuna.load_study(study_name="shop", storage=study["storage"]))  # hpsearch's ranking


@pytest.mark.slow
def test_retrain_trains_the_best_params_on_training_and_validation_data(study: dict, retrained: dict) -> None:
    best = best_of(study)
    run = retrained["run"]
    client = MlflowClient(normalize_tracking_uri(study["tracking"]))
    epochs = int(best.user_attrs["best_epoch"])
    assert run.info.status == RunStatus.FINISHED
    assert run.data.tags[Tag.RETRAIN_OF] == str(best.number) and run.data.tags[Tag.PARENT] == optuna.load_study(
        study_name="shop", storage=study["storage"]
    ).user_attrs["hpsearch.mlflow_parent_run_id"]
    # the best trial's params, the source trial, its best epoch count
    assert all(run.data.params[k] == param_repr(v) for k, v in best.params.items())
    assert run.data.params[RetrainParam.SOURCE_TRIAL] == str(best.number)
    assert (run.data.params[RetrainParam.EPOCHS], run.data.params[RetrainParam.EPOCHS_FROM]) == (str(epochs), "best_epoch")
    # trained on training + validation (250 images), not the 200 training images the trial saw
    assert run.data.params[RetrainParam.EXAMPLES] == str(N_TRAIN)
    batch = int(best.params["batch_size"])
    steps = client.get_metric_history(run.info.run_id, STEPS_METRIC)
    assert [(m.step, m.value) for m in sorted(steps, key=lambda m: m.step)] == [(e, math.ceil(N_TRAIN / batch)) for e in range(1, epochs + 1)]
    assert math.ceil(N_TRAIN / batch) != math.ceil(200 / batch)  # the count tells the two apart
    # per-epoch training metrics, no validation ones, and the test metrics
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss")) == list(range(1, epochs + 1))
    assert "val_loss" not in run.data.metrics
    assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0 and run.data.metrics["test_loss"] > 0
    assert any(a.path == MODEL_ARTIFACT for a in client.list_artifacts(run.info.run_id, "model"))
    # what the terminal says
    out = retrained["result"]
    shown = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    assert f"Retraining trial {best.number} of study shop" in out.stderr and f"{shown} (its best epoch)" in out.stderr
    assert f"Retrained trial {best.number}: {shown} on {N_TRAIN} examples" in out.stdout
    assert f"MLflow run {run.info.run_id}" in out.stdout and "hpsearch export shop --retrained" in out.stdout


@pytest.mark.slow
def test_a_retrain_run_is_not_a_trial_run(study: dict, retrained: dict) -> None:
    """`check` still finds exactly one run per trial: the retrain run is left out of trial listings."""
    result = CliRunner().invoke(main, ["check", "shop", *where(study)[:4]])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output


@pytest.mark.slow
def test_export_retrained_writes_the_retrain_run_s_model(study: dict, retrained: dict, tmp_path: Path) -> None:
    from hpsearch.study._best_model import load_checkpoint

    run_id = retrained["run"].info.run_id
    out = tmp_path / "retrained.keras"
    result = CliRunner().invoke(main, ["export", "shop", "--retrained", "--output", str(out), *where(study)])
    assert result.exit_code == 0, result.output
    assert f"Retrained trial {best_of(study).number} (run {run_id}): test accuracy" in result.stdout
    client = MlflowClient(normalize_tracking_uri(study["tracking"]))
    stored = load_checkpoint(client.download_artifacts(run_id, MODEL_ARTIFACT, str(tmp_path)))
    x = np.random.default_rng(0).integers(0, 255, size=(8, 32, 32, 3)).astype("float32")
    exported = keras.saving.load_model(out)
    np.testing.assert_allclose(exported.predict(x, verbose=0), stored.predict(x, verbose=0), atol=1e-6)
    version = result.stdout.split("version ")[1].split()[0]
    assert client.get_model_version("shop", version).tags["retrained_run"] == run_id


@pytest.mark.slow
def test_export_retrained_before_any_retrain_is_one_line(study: dict, tmp_path: Path) -> None:
    for db in ("optuna.db", "mlflow.db"):
        backup(study["pristine"] / db, tmp_path / db)
    out = tmp_path / "m.keras"
    storage, tracking = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    result = CliRunner().invoke(main, ["export", "shop", "--retrained", "--output", str(out), *where(study, storage, tracking)])
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr == "Error: Study 'shop' has no retrained model; run `hpsearch retrain shop` first.\n"
    assert not out.exists()


def test_export_retrained_and_trial_together_is_one_line_before_anything_is_read(store: Path) -> None:
    result = CliRunner().invoke(main, ["export", "no-such-study", "--retrained", "--trial", "3"])
    assert result.exit_code == 2
    assert result.output == "Error: --retrained and --trial 3 exclude each other: --retrained exports the newest retrain run; pass one of them.\n"
    assert not (store / "optuna.db").exists() and not (store / "mlflow.db").exists()  # no store opened, let alone created


@pytest.mark.slow
def test_retrain_of_an_unknown_study_is_one_line(study: dict) -> None:
    result = CliRunner().invoke(main, ["retrain", "nope", *where(study)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Error: No study named 'nope'") and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_retrain_on_other_data_is_refused_and_writes_nothing(study: dict, retrained: dict, tmp_path: Path) -> None:
    other = write_npz(tmp_path / "other.npz", size=16)
    before = len(retrain_runs(study))
    result = CliRunner().invoke(main, ["retrain", "shop", "--dataset", str(other), *where(study)[:4]])
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr.startswith("Error: Study 'shop' was created on different data") and result.stderr.count("\n") == 1
    assert len(retrain_runs(study)) == before


@pytest.mark.slow
def test_retraining_again_makes_a_new_run_and_export_uses_the_newest(study: dict, retrained: dict, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["retrain", "shop", "--epochs", "1", *where(study)])
    assert result.exit_code == 0, result.output
    assert "1 earlier retrain run(s) of this study are kept; export --retrained uses the newest (this one)" in result.stderr
    newest = retrain_runs(study)[0]
    assert newest.info.run_id != retrained["run"].info.run_id
    assert (newest.data.params[RetrainParam.EPOCHS], newest.data.params[RetrainParam.EPOCHS_FROM]) == ("1", "--epochs")
    exported = CliRunner().invoke(main, ["export", "shop", "--retrained", "--output", str(tmp_path / "m.keras"), *where(study)])
    assert exported.exit_code == 0, exported.output
    assert f"(run {newest.info.run_id})" in exported.stdout
    assert f"of {len(retrain_runs(study))} retrain runs, the newest that finished is exported (run {newest.info.run_id})" in exported.stderr


# ----------------------------------------------------------------------------- the pieces


def test_the_epoch_count_comes_from_the_best_epoch_then_the_epochs_trained_then_the_budget() -> None:
    from hpsearch.config import parse_study_dict
    from hpsearch.study._retrain import retrain_epochs

    config = parse_study_dict({"training": {"max_epochs": 7}}, name="x")

    def trial(**attrs: int) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(value=0.5, user_attrs=attrs)

    assert retrain_epochs(trial(best_epoch=3, epochs_trained=6), config) == (3, "best_epoch")
    assert retrain_epochs(trial(epochs_trained=6), config) == (6, "epochs_trained")
    assert retrain_epochs(trial(), config) == (7, "max_epochs")
    assert retrain_epochs(trial(best_epoch=3), config, 9) == (9, "--epochs")


def test_learning_rates_are_replayed_and_steps_counted() -> None:
    """A plateau schedule has nothing to watch in a retrain: the trial's logged rates are replayed."""
    from hpsearch.trial import callbacks as cb

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = cb.HistoryRecorder()
    x, y = np.zeros((10, 2), "float32"), np.zeros((10, 1), "float32")
    callbacks = [cb.LearningRateReplay({2: 0.01, 3: 0.001}), cb.StepCounter(), cb.LearningRateLogger(), history]
    model.fit(x, y, batch_size=4, epochs=3, callbacks=callbacks, verbose=0)
    assert [round(row["learning_rate"], 6) for row in history.history] == [0.1, 0.01, 0.001]
    assert [row[STEPS_METRIC] for row in history.history] == [3.0, 3.0, 3.0]


@pytest.mark.slow
def test_a_kfold_study_retrains_on_every_fold(store: Path, tmp_path: Path) -> None:
    """K-fold: the training data is every fold (training and validation splits pooled); the epoch
    count is the best epoch of the folds' mean; a table's model is exported with its preprocessing."""
    from hpsearch.study._session import StudyRequest, run_study

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3))
    y = x @ [1.5, -2.0, 0.5] + 3 + 0.1 * rng.normal(size=120)
    (tmp_path / "prices.csv").write_text("a,b,c,price\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t:.4f}\n" for (a, b, c), t in zip(x, y)))
    write_study(
        tmp_path / "kf.yaml", dataset="prices.csv", objective={"metric": "val_mae"}, validation={"folds": 3},
        training={"max_epochs": 3, "early_stopping_patience": None}, budget={"trials": 1},
        search_space={"optimizer": "adam", "learning_rate": 0.01, "dropout": 0.0, "batch_size": 16},
    )
    summary = run_study(StudyRequest(study="kf.yaml"))
    best = summary.best
    counts = summary.study.user_attrs["hpsearch.data_description"]["counts"]
    result = CliRunner().invoke(main, ["retrain", "kf"])
    assert result.exit_code == 0, result.output
    assert "(the study's model of it, trained the same way when the search ended: test " in result.output
    client = MlflowClient(normalize_tracking_uri(f"sqlite:///{store}/mlflow.db"))
    experiment = client.get_experiment_by_name("kf")
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.RETRAIN}'")
    assert run.data.params[RetrainParam.EXAMPLES] == str(counts["train"] + counts["validation"])
    assert run.data.params[RetrainParam.EPOCHS] == str(best.user_attrs["best_epoch"])
    assert run.data.metrics["test_mae"] > 0
    exported = CliRunner().invoke(main, ["export", "kf", "--retrained", "--output", str(tmp_path / "kf.keras")])
    assert exported.exit_code == 0, exported.output
    assert "test rows match Keras" in exported.stdout


@pytest.mark.slow
def test_a_kfold_study_checks_consistent_and_export_trial_says_only_the_best_keeps_a_model(store: Path, tmp_path: Path) -> None:
    """K-fold trials keep no model (only the best gets one, when the study ends): `check` expects
    none, and `export --trial` of another trial says so in one line instead of a failed download."""
    from hpsearch.study._session import StudyRequest, run_study

    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 3))
    y = x @ [1.5, -2.0, 0.5] + 3
    (tmp_path / "prices.csv").write_text("a,b,c,price\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t:.4f}\n" for (a, b, c), t in zip(x, y)))
    write_study(
        tmp_path / "kf2.yaml", dataset="prices.csv", objective={"metric": "val_mae"}, validation={"folds": 2},
        training={"max_epochs": 1, "early_stopping_patience": None}, budget={"trials": 2},
        search_space={"optimizer": "adam", "learning_rate": {"low": 0.001, "high": 0.01, "log": True}, "dropout": 0.0, "batch_size": 16},
    )
    best = run_study(StudyRequest(study=str(tmp_path / "kf2.yaml"))).best
    checked = CliRunner().invoke(main, ["check", "kf2"])
    assert checked.exit_code == 0 and "consistent" in checked.output, checked.output
    other = 1 - best.number
    exported = CliRunner().invoke(main, ["export", "kf2", "--trial", str(other), "--dataset", str(tmp_path / "prices.csv")])
    assert exported.exit_code == 2, exported.output
    assert exported.output == (
        f"Error: --trial {other}: study 'kf2' is cross-validated (validation.folds), so its trials keep no model; only its best "
        f"trial ({best.number}) is trained into one when the study ends: export that one (hpsearch export kf2).\n"
    )


def test_a_study_without_a_completed_trial_has_nothing_to_retrain() -> None:
    from hpsearch._errors import RuntimeFailure
    from hpsearch.study._retrain import best_to_retrain

    study = optuna.create_study(study_name="empty")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    with pytest.raises(RuntimeFailure) as error:
        best_to_retrain(study)
    assert str(error.value) == "Study 'empty' has no completed trial yet, so there is nothing to retrain; run `hpsearch study empty` first."


def test_retrain_trial_picks_a_completed_trial_or_says_which_ones_can_be() -> None:
    from hpsearch._errors import UsageError
    from hpsearch.study._retrain import best_to_retrain

    study = optuna.create_study(study_name="some", direction="maximize")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    for value in (0.5, 0.9):
        study.add_trial(optuna.trial.create_trial(value=value))
    assert best_to_retrain(study).number == 2 and best_to_retrain(study, 1).number == 1
    for number, what in ((0, "trial 0 is FAIL"), (7, "has no trial 7")):
        with pytest.raises(UsageError) as error:
            best_to_retrain(study, number)
        assert str(error.value) == f"--trial {number}: study 'some' {what}; completed trials you can retrain: 1, 2 (see hpsearch show some)."


@pytest.mark.slow
def test_retrain_trial_retrains_that_trial(study: dict, retrained: dict) -> None:
    other = next(t for t in optuna.load_study(study_name="shop", storage=study["storage"]).trials if t.number != best_of(study).number)
    result = CliRunner().invoke(main, ["retrain", "shop", "--trial", str(other.number), "--epochs", "1", *where(study)])
    assert result.exit_code == 0, result.output
    assert f"Retraining trial {other.number} of study shop" in result.stderr
    run = retrain_runs(study)[0]  # the newest
    assert run.data.params[RetrainParam.SOURCE_TRIAL] == str(other.number) and run.data.tags[Tag.RETRAIN_OF] == str(other.number)
    assert all(run.data.params[k] == param_repr(v) for k, v in other.params.items())
    refused = CliRunner().invoke(main, ["retrain", "shop", "--trial", "99", *where(study)])
    assert refused.exit_code == 2 and refused.stderr.startswith("Error: --trial 99: study 'shop' has no trial 99;")
