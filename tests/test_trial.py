"""The trial runner: trains, logs every epoch, keeps the best checkpoint, fails cleanly, resumes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import write_study

from hpsearch._config import load_study_config
from hpsearch._datasets import Pipelines, load_dataset
from hpsearch._tracking import StudyTracking
from hpsearch._trial import TrialRunner

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def pipelines(cifar_dir: Path) -> Pipelines:
    config = load_study_config(str(write_study(cifar_dir / "q.yaml")))
    return Pipelines(load_dataset(config.data, seed=config.seed, data_dir=cifar_dir))


def make_runner(tmp_path: Path, pipelines: Pipelines, on_epoch=None, **sections) -> tuple[TrialRunner, StudyTracking]:
    config = load_study_config(str(write_study(tmp_path / "study.yaml", **sections)))
    tracking = StudyTracking(f"sqlite:///{tmp_path}/mlflow.db", config.name, (tmp_path / "artifacts").as_uri())
    tracking.open_parent(None, params={}, tags={})
    return TrialRunner(config, pipelines, tracking, tmp_path / "ckpt", on_epoch=on_epoch), tracking


def test_a_trial_trains_logs_and_keeps_its_best_checkpoint(tmp_path: Path, pipelines: Pipelines) -> None:
    epochs_seen = []
    runner, tracking = make_runner(tmp_path, pipelines, on_epoch=lambda n, e, logs: epochs_seen.append((n, e)))
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    outcome = runner.run(trial)
    assert outcome.state == "COMPLETE", outcome.reason
    assert outcome.epochs_trained == 2 and epochs_seen == [(0, 0), (0, 1)]
    assert outcome.value == max(row["val_accuracy"] for row in outcome.history)
    assert outcome.checkpoints.best_path.is_file()  # kept until Optuna has the result

    run_id = trial.user_attrs["mlflow_run_id"]
    client = tracking.client
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0, 1], key
    assert {a.path for a in client.list_artifacts(run_id, "model")} == {"model/best.keras"}
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == {"plots/learning_curve.png"}
    assert client.get_run(run_id).data.params["optimizer"] == outcome.params["optimizer"]

    frozen = study.tell(trial, outcome.value)
    runner.close(outcome, value=frozen.value)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["hpsearch.state"] == "COMPLETE"
    assert not outcome.checkpoints.directory.exists()
    assert trial.user_attrs["epochs_trained"] == 2


def test_a_diverging_trial_fails_with_its_reason(tmp_path: Path, pipelines: Pipelines) -> None:
    runner, tracking = make_runner(
        tmp_path, pipelines, search_space={"optimizer": "sgd", "learning_rate": 1.0e30, "batch_norm": "none"}
    )
    trial = optuna.create_study().ask()
    outcome = runner.run(trial)
    assert outcome.state == "FAIL"
    assert outcome.reason.startswith("diverged: loss became NaN or infinite at epoch 1")
    assert trial.user_attrs["fail_reason"] == outcome.reason
    runner.close(outcome, value=None)
    run = tracking.client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["hpsearch.fail_reason"].startswith("diverged")


def test_an_exception_fails_only_this_trial(tmp_path: Path, pipelines: Pipelines, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, _ = make_runner(tmp_path, pipelines)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("OOM when allocating tensor with shape [512,2304]")

    monkeypatch.setattr("hpsearch._trial.build_model", out_of_memory)
    trial = optuna.create_study().ask()
    outcome = runner.run(trial)
    assert outcome.state == "FAIL" and outcome.reason == "RuntimeError: OOM when allocating tensor with shape [512,2304]"
    assert "out_of_memory" in trial.user_attrs["traceback"]


class Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_trial_resumes_from_its_last_epoch(tmp_path: Path, pipelines: Pipelines) -> None:
    def stop_after_second_epoch(number: int, epoch: int, logs) -> None:
        if epoch == 1:
            raise Interrupt("SIGINT")

    sections = {"training": {"max_epochs": 4, "early_stopping_patience": 10}}
    runner, tracking = make_runner(tmp_path, pipelines, on_epoch=stop_after_second_epoch, **sections)
    study = optuna.create_study(direction="maximize")
    first = study.ask()
    with pytest.raises(Interrupt):
        runner.run(first)
    run_id = first.user_attrs["mlflow_run_id"]
    assert tracking.client.get_run(run_id).info.status == "KILLED"
    params = dict(first.params)
    failed = study.tell(first, state=optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(study, failed)

    runner2, _ = make_runner(tmp_path, pipelines, **sections)
    retry = study.ask()
    outcome = runner2.run(retry, first_number=first.number)
    assert outcome.state == "COMPLETE", outcome.reason
    assert retry.params == params
    assert outcome.resumed_from_epoch == 2 and retry.user_attrs["resumed_from_epoch"] == 2
    assert [row["epoch"] for row in outcome.history] == [0, 1, 2, 3]
    assert retry.user_attrs["mlflow_run_id"] == run_id  # the same MLflow run, continued
    steps = [m.step for m in tracking.client.get_metric_history(run_id, "val_accuracy")]
    assert steps == [0, 1, 2, 3]  # no duplicates, no gaps


@pytest.mark.slow
def test_a_retry_on_another_machine_resumes_from_the_tracking_server(tmp_path: Path, pipelines: Pipelines) -> None:
    """Machine A's checkpoint folder is gone for machine B: the resume state comes from the run."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path / "server")}
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)

        def stop_after_second_epoch(number: int, epoch: int, logs) -> None:
            if epoch == 1:
                raise Interrupt("machine A lost")

        config = load_study_config(str(write_study(tmp_path / "study.yaml", training={"max_epochs": 4, "early_stopping_patience": 10})))
        tracking = StudyTracking(uri, config.name)
        tracking.open_parent(None, params={}, tags={})
        assert tracking.remote
        machine_a = TrialRunner(config, pipelines, tracking, tmp_path / "machine-a", on_epoch=stop_after_second_epoch)
        study = optuna.create_study(direction="maximize")
        first = study.ask()
        with pytest.raises(Interrupt):
            machine_a.run(first)
        run_id = first.user_attrs["mlflow_run_id"]
        remote = {a.path for a in tracking.client.list_artifacts(run_id, "resume")}
        assert {"resume/resume.json", "resume/state-b.keras"} <= remote  # epoch index 1 -> slot b
        failed = study.tell(first, state=optuna.trial.TrialState.FAIL)
        optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(study, failed)

        machine_b = TrialRunner(config, pipelines, StudyTracking(uri, config.name), tmp_path / "machine-b")
        machine_b.tracking.attach_parent(tracking.parent_run_id)
        retry = study.ask()
        outcome = machine_b.run(retry, first_number=first.number)
        assert outcome.state == "COMPLETE", outcome.reason
        assert outcome.resumed_from_epoch == 2 and [r["epoch"] for r in outcome.history] == [0, 1, 2, 3]
        assert [m.step for m in tracking.client.get_metric_history(run_id, "val_accuracy")] == [0, 1, 2, 3]
        assert {a.path for a in tracking.client.list_artifacts(run_id, "model")} == {"model/best.keras"}
        machine_b.close(outcome, value=study.tell(retry, outcome.value).value)
        assert not tracking.client.list_artifacts(run_id, "resume")  # cleaned from the server
    finally:
        server.terminate()
        server.wait(60)
