"""The trial runner: trains, logs every epoch, keeps the best checkpoint, fails cleanly, resumes."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import optuna
import pytest
from conftest import unwritable, write_study

from hpsearch.config import load_study_config
from hpsearch.data._datasets import Pipelines
from hpsearch.study._data_record import load_data
from hpsearch.tracking import StudyTracking
from hpsearch.trial._checkpoints import TrialCheckpoints
from hpsearch.trial._resume import gather_resume
from hpsearch.trial._runner import TrialRunner
from hpsearch.keys import State, Tag, TrialAttr

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def pipelines(cifar_dir: Path) -> Pipelines:
    config = load_study_config(str(write_study(cifar_dir / "q.yaml")))
    return Pipelines(load_data(config, cifar_dir))


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
    assert outcome.state == State.COMPLETE, outcome.reason
    assert outcome.epochs_trained == 2 and epochs_seen == [(0, 0), (0, 1)]
    assert outcome.value == max(row["val_accuracy"] for row in outcome.history)
    assert outcome.checkpoints.best_path.is_file()  # kept until Optuna has the result

    run_id = trial.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    client = tracking.client
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2], key  # 1-based, as Keras prints
    assert {a.path for a in client.list_artifacts(run_id, "model")} == {"model/best.keras"}
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == {"plots/learning_curve.png"}
    assert client.get_run(run_id).data.params["optimizer"] == outcome.params["optimizer"]

    frozen = study.tell(trial, outcome.value)
    assert [row["epoch"] for row in outcome.history] == [1, 2]
    assert sorted(frozen.intermediate_values) == [1, 2]  # Optuna's steps are the same epoch numbers
    assert frozen.user_attrs[TrialAttr.BEST_EPOCH] in (1, 2)
    assert frozen.intermediate_values[frozen.user_attrs[TrialAttr.BEST_EPOCH]] == outcome.value
    best_row = outcome.history[frozen.user_attrs[TrialAttr.BEST_EPOCH] - 1]  # val_loss there breaks ties between trials
    assert frozen.user_attrs[TrialAttr.TIE_BREAK] == pytest.approx(best_row["val_loss"])
    runner.close(outcome, value=frozen.value)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["hpsearch.state"] == "COMPLETE"
    assert not outcome.checkpoints.directory.exists()
    assert trial.user_attrs[TrialAttr.EPOCHS_TRAINED] == 2


def test_a_diverging_trial_fails_with_its_reason(tmp_path: Path, pipelines: Pipelines) -> None:
    runner, tracking = make_runner(
        tmp_path, pipelines, search_space={"optimizer": "sgd", "learning_rate": 1.0e30, "batch_norm": "none"}
    )
    trial = optuna.create_study().ask()
    outcome = runner.run(trial)
    assert outcome.state == State.FAIL
    assert outcome.reason.startswith("diverged: loss became NaN or infinite at epoch 1")
    assert trial.user_attrs[TrialAttr.FAIL_REASON] == outcome.reason
    runner.close(outcome, value=None)
    run = tracking.client.get_run(trial.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert run.info.status == "FAILED" and run.data.tags["hpsearch.fail_reason"].startswith("diverged")


def test_an_exception_fails_only_this_trial(tmp_path: Path, pipelines: Pipelines, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, _ = make_runner(tmp_path, pipelines)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("OOM when allocating tensor with shape [512,2304]")

    monkeypatch.setattr("hpsearch.trial._runner.build_trial_model", out_of_memory)
    trial = optuna.create_study().ask()
    outcome = runner.run(trial)
    assert outcome.state == State.FAIL and outcome.reason == "RuntimeError: OOM when allocating tensor with shape [512,2304]"
    assert "out_of_memory" in trial.user_attrs[TrialAttr.TRACEBACK]


class Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.slow
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
    run_id = first.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    assert tracking.client.get_run(run_id).info.status == "KILLED"
    params = dict(first.params)
    failed = study.tell(first, state=optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, failed)

    runner2, _ = make_runner(tmp_path, pipelines, **sections)
    retry = study.ask()
    outcome = runner2.run(retry, first_number=first.number)
    assert outcome.state == State.COMPLETE, outcome.reason
    assert retry.params == params
    assert outcome.resumed_from_epoch == 2 and retry.user_attrs[TrialAttr.RESUMED_FROM_EPOCH] == 2
    assert [row["epoch"] for row in outcome.history] == [1, 2, 3, 4]
    assert retry.user_attrs[TrialAttr.MLFLOW_RUN_ID] == run_id  # the same MLflow run, continued
    steps = [m.step for m in tracking.client.get_metric_history(run_id, "val_accuracy")]
    assert steps == [1, 2, 3, 4]  # no duplicates, no gaps
    done = study.tell(retry, outcome.value)
    assert {e: v for e, v in done.intermediate_values.items()} == {r["epoch"]: r["val_accuracy"] for r in outcome.history}


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
        run_id = first.user_attrs[TrialAttr.MLFLOW_RUN_ID]
        remote = {a.path for a in tracking.client.list_artifacts(run_id, "resume")}
        assert {"resume/resume.json", "resume/state-b.keras"} <= remote  # epoch index 1 -> slot b
        failed = study.tell(first, state=optuna.trial.TrialState.FAIL)
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, failed)

        machine_b = TrialRunner(config, pipelines, StudyTracking(uri, config.name), tmp_path / "machine-b")
        machine_b.tracking.attach_parent(tracking.parent_run_id)
        retry = study.ask()
        outcome = machine_b.run(retry, first_number=first.number)
        assert outcome.state == State.COMPLETE, outcome.reason
        assert outcome.resumed_from_epoch == 2 and [r["epoch"] for r in outcome.history] == [1, 2, 3, 4]
        assert [m.step for m in tracking.client.get_metric_history(run_id, "val_accuracy")] == [1, 2, 3, 4]
        assert {a.path for a in tracking.client.list_artifacts(run_id, "model")} == {"model/best.keras"}
        machine_b.close(outcome, value=study.tell(retry, outcome.value).value)
        assert not tracking.client.list_artifacts(run_id, "resume")  # cleaned from the server
    finally:
        server.terminate()
        server.wait(60)


def test_plots_draw_the_stored_1_based_epoch_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes
    from optuna.distributions import FloatDistribution

    from hpsearch.trial._plots import learning_curve_png
    from hpsearch.results._report import _curves

    drawn: list[list[int]] = []
    marked: list[float] = []
    plot, axvline = Axes.plot, Axes.axvline
    monkeypatch.setattr(Axes, "plot", lambda self, x, *a, **k: drawn.append(list(x)) or plot(self, x, *a, **k))
    monkeypatch.setattr(Axes, "axvline", lambda self, x=0, *a, **k: marked.append(x) or axvline(self, x, *a, **k))
    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 1.1 / e, "accuracy": 0.3 * e, "val_accuracy": 0.2 * e} for e in (1, 2, 3)]
    learning_curve_png(history, tmp_path / "curve.png", best_epoch=3)
    assert drawn == [[1, 2, 3]] * 4 and marked == [3, 3]  # as stored, no shift

    trial = optuna.trial.create_trial(
        value=0.6, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, intermediate_values={1: 0.2, 2: 0.4, 3: 0.6}
    )
    from_optuna = _curves([trial], "val_accuracy", None)
    assert list(from_optuna.data[0].x) == [1, 2, 3]
    from_mlflow = _curves([trial], "val_accuracy", lambda t, m: [(1, 0.1), (2, 0.2)])
    assert [list(d.x) for d in from_mlflow.data] == [[1, 2], [1, 2]]


# ----------------------------------------------------------------------------- faults


def interrupted(tmp_path: Path, pipelines: Pipelines, *, epochs_done: int, max_epochs: int = 4):
    """A trial interrupted after ``epochs_done`` epochs and queued for a retry.

    Returns ``(study, first trial, its run id, tracking, retry runner, notices)``.
    """

    def stop(number: int, epoch: int, logs) -> None:
        if epoch + 1 == epochs_done:
            raise Interrupt("SIGINT")

    sections = {"training": {"max_epochs": max_epochs, "early_stopping_patience": 10}}
    runner, tracking = make_runner(tmp_path, pipelines, on_epoch=stop, **sections)
    study = optuna.create_study(direction="maximize")
    first = study.ask()
    with pytest.raises(Interrupt):
        runner.run(first)
    failed = study.tell(first, state=optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, failed)
    notices: list[str] = []
    retry_runner, _ = make_runner(tmp_path, pipelines, **sections)
    retry_runner.on_message = notices.append
    return study, first, first.user_attrs[TrialAttr.MLFLOW_RUN_ID], tracking, retry_runner, notices


def steps(tracking: StudyTracking, run_id: str, key: str = "val_accuracy") -> list[int]:
    return [m.step for m in tracking.client.get_metric_history(run_id, key)]


@pytest.mark.slow
def test_a_completed_retry_does_not_keep_the_interrupted_tag(tmp_path: Path, pipelines: Pipelines) -> None:
    study, first, run_id, tracking, runner, _ = interrupted(tmp_path, pipelines, epochs_done=1, max_epochs=2)
    assert tracking.client.get_run(run_id).data.tags["hpsearch.fail_reason"] == "interrupted"
    retry = study.ask()
    outcome = runner.run(retry, first_number=first.number)
    assert outcome.state == State.COMPLETE and retry.user_attrs[TrialAttr.MLFLOW_RUN_ID] == run_id
    assert "hpsearch.fail_reason" not in tracking.client.get_run(run_id).data.tags  # running again
    runner.close(outcome, value=study.tell(retry, outcome.value).value)
    tags = tracking.client.get_run(run_id).data.tags
    assert tags["hpsearch.state"] == "COMPLETE" and "hpsearch.fail_reason" not in tags  # its final state


@pytest.mark.slow
def test_a_truncated_resume_model_falls_back_to_the_epoch_before(tmp_path: Path, pipelines: Pipelines) -> None:
    study, first, run_id, tracking, runner, notices = interrupted(tmp_path, pipelines, epochs_done=3)
    folder = runner.checkpoints_for(first.number).directory
    newest = folder / "epoch-0003.keras"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    retry = study.ask()
    outcome = runner.run(retry, first_number=first.number)
    assert outcome.state == State.COMPLETE, outcome.reason
    assert retry.params == first.params and outcome.resumed_from_epoch == 2
    assert [r["epoch"] for r in outcome.history] == [1, 2, 3, 4]
    assert any("resuming after epoch 2" in n and "epoch-0003.keras does not load" in n for n in notices), notices
    # the old run had logged epoch 3 of the abandoned state: the retry writes a new, clean run
    new_run = retry.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    assert new_run != run_id and steps(tracking, new_run) == [1, 2, 3, 4] and steps(tracking, run_id) == [1, 2, 3]
    assert tracking.client.get_run(run_id).data.tags["hpsearch.superseded_by"] == new_run
    done = study.tell(retry, outcome.value)
    assert done.intermediate_values == {r["epoch"]: r["val_accuracy"] for r in outcome.history}


@pytest.mark.slow
def test_an_unreadable_resume_state_restarts_with_one_clean_history(tmp_path: Path, pipelines: Pipelines) -> None:
    study, first, run_id, tracking, runner, notices = interrupted(tmp_path, pipelines, epochs_done=2)
    folder = runner.checkpoints_for(first.number).directory
    for name in ("resume.json", "resume.previous.json"):
        (folder / name).write_text('{"version": 2, "epo')  # garbled
    retry = study.ask()
    outcome = runner.run(retry, first_number=first.number)
    assert outcome.state == State.COMPLETE, outcome.reason
    assert retry.params == first.params and outcome.resumed_from_epoch == 0
    new_run = retry.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    assert steps(tracking, new_run) == [1, 2, 3, 4] and steps(tracking, new_run, "loss") == [1, 2, 3, 4]  # each epoch once
    assert new_run != run_id and tracking.client.get_run(run_id).data.tags["hpsearch.superseded_by"] == new_run
    assert any("restarting from epoch 0 with the same params" in n for n in notices), notices
    done = study.tell(retry, outcome.value)
    # no value of the dead attempt is left in Optuna: the history is the restarted attempt's
    assert done.intermediate_values == {r["epoch"]: r["val_accuracy"] for r in outcome.history}


def corrupt_best_at_last_epoch(runner: TrialRunner, last: int):
    def hook(number: int, epoch: int, logs) -> None:
        if epoch + 1 == last:
            runner.checkpoints_for(number).best_path.write_bytes(os.urandom(5000))

    return hook


@pytest.mark.slow
def test_a_corrupt_best_checkpoint_is_written_again_from_memory(tmp_path: Path, pipelines: Pipelines) -> None:
    notices: list[str] = []
    runner, tracking = make_runner(tmp_path, pipelines)
    runner.on_message = notices.append
    runner.on_epoch = corrupt_best_at_last_epoch(runner, 2)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    outcome = runner.run(trial)
    assert outcome.state == State.COMPLETE, outcome.reason
    stored = tracking.download(trial.user_attrs[TrialAttr.MLFLOW_RUN_ID], "model/best.keras", tmp_path / "dl")
    model = keras.saving.load_model(stored)  # what MLflow holds is a model, not the random bytes
    accuracy = model.evaluate(pipelines.evaluation("validation", 64), verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(outcome.value, abs=1e-6)  # and it is the best epoch's
    assert any("did not load" in n and "saved it again" in n for n in notices), notices


@pytest.mark.slow
def test_a_corrupt_best_checkpoint_without_a_good_copy_fails_the_trial(
    tmp_path: Path, pipelines: Pipelines, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, tracking = make_runner(tmp_path, pipelines)
    runner.on_message = lambda text: None
    runner.on_epoch = corrupt_best_at_last_epoch(runner, 2)
    # this process no longer has the best epoch's weights (as when that epoch was before a resume)
    monkeypatch.setattr("hpsearch.trial._artifacts._best_weights", lambda *args: None)
    trial = optuna.create_study(direction="maximize").ask()
    outcome = runner.run(trial)
    assert outcome.state == State.FAIL and outcome.value is None
    assert outcome.reason.startswith(f"best checkpoint {runner.checkpoints_for(0).best_path} does not load")
    run_id = trial.user_attrs[TrialAttr.MLFLOW_RUN_ID]
    assert not tracking.client.list_artifacts(run_id, "model")  # the random bytes were not shipped
    assert "does not load" in tracking.client.get_run(run_id).data.tags[Tag.MODEL_ERROR]


@pytest.mark.slow
def test_an_upload_that_fails_keeps_the_checkpoint(tmp_path: Path, pipelines: Pipelines) -> None:
    notices: list[str] = []
    runner, tracking = make_runner(tmp_path, pipelines, on_epoch=None)
    runner.on_message = notices.append
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with unwritable(tmp_path / "artifacts" / "study"):
        outcome = runner.run(trial)
        runner.close(outcome, value=study.tell(trial, outcome.value).value)
    assert outcome.state == State.COMPLETE  # the training result stands
    folder = runner.checkpoints_for(0).directory
    assert (folder / "best.keras").is_file() and (folder / "pending-upload.json").is_file()  # not deleted
    [notice] = notices
    assert notice.startswith("trial 0: ") and "model/best.keras" in notice and str(tmp_path / "artifacts" / "study") in notice
    assert "kept in" in notice and "the next run of the study uploads it" in notice
    run = tracking.client.get_run(trial.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert "hpsearch.model_pending" in run.data.tags and run.data.tags["hpsearch.state"] == "COMPLETE"


# ----------------------------------------------------------------------------- gather_resume


class FakeTracking:
    """What gather_resume asks of the tracking store: a remote copy, whether a run continues."""

    def __init__(self, *, remote: bool = False, logged_up_to: int = 0, remote_folder: Path | None = None) -> None:
        self.remote = remote
        self.logged_up_to = logged_up_to
        self.remote_folder = remote_folder
        self.asked: list[tuple[str, int]] = []

    def can_continue(self, run_id: str, epochs_done: int) -> bool:
        self.asked.append((run_id, epochs_done))
        return self.logged_up_to <= epochs_done

    def download(self, run_id: str, artifact_path: str, dst) -> Path:
        if self.remote_folder is None:
            raise OSError("no such artifact")
        return self.remote_folder


def saved_states(folder: Path, epochs: int, *, wait: int = 0) -> TrialCheckpoints:
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    ckpt = TrialCheckpoints(folder)
    for epoch in range(1, epochs + 1):
        ckpt.save_best(model.save)
        callbacks = {"best_checkpoint": {"best": 0.1 * epoch, "best_epoch": epoch - 1}, "early_stopping": {"wait": wait}}
        history = [{"epoch": e, "val_accuracy": 0.1 * e} for e in range(1, epoch + 1)]
        ckpt.save(model.save, epochs_done=epoch, history=history, callbacks=callbacks)
    return ckpt


def test_a_first_attempt_starts_from_epoch_0(tmp_path: Path) -> None:
    tracking = FakeTracking()
    resume = gather_resume(0, TrialCheckpoints(tmp_path), tracking, previous_run=None, patience=3)
    assert resume.state is None and resume.model is None and resume.epochs_done == 0 and resume.history == []
    assert resume.run_to_continue is None and not resume.stopped_early and resume.notice is None
    assert tracking.asked == []  # no run to ask about


def test_a_retry_gathers_state_model_callbacks_and_run_in_one_step(tmp_path: Path) -> None:
    ckpt = saved_states(tmp_path / "trial-00000", 3, wait=2)
    tracking = FakeTracking(logged_up_to=3)
    resume = gather_resume(4, ckpt, tracking, previous_run="run-a", patience=2)
    assert resume.epochs_done == 3 and [r["epoch"] for r in resume.history] == [1, 2, 3]
    assert isinstance(resume.model, keras.Model) and resume.best_so_far == pytest.approx(0.3)
    assert resume.callback_states["early_stopping"] == {"wait": 2}
    assert resume.stopped_early  # patience 2 used up: no epoch left to train
    assert tracking.asked == [("run-a", 3)] and resume.run_to_continue == "run-a"
    # a run that logged past the resume point is not continued (each epoch once)
    tracking.logged_up_to = 4
    assert gather_resume(4, ckpt, tracking, previous_run="run-a", patience=None).run_to_continue is None


def test_a_damaged_state_falls_back_with_a_notice(tmp_path: Path) -> None:
    ckpt = saved_states(tmp_path / "trial-00000", 2)
    (ckpt.directory / "epoch-0002.keras").write_bytes(b"truncated")
    resume = gather_resume(5, ckpt, FakeTracking(), previous_run="run-a", patience=None)
    assert resume.epochs_done == 1 and resume.model is not None
    assert resume.notice.startswith("trial 5: resuming after epoch 1, its last usable state: resume checkpoint ")


def test_an_empty_folder_takes_the_copy_kept_in_the_run(tmp_path: Path) -> None:
    machine_a = saved_states(tmp_path / "a", 2)
    staged = machine_a.stage_remote(tmp_path / "remote", "state-b.keras", "best-a.keras", include_best=True)
    assert staged
    tracking = FakeTracking(remote=True, remote_folder=tmp_path / "remote")
    machine_b = TrialCheckpoints(tmp_path / "b")
    resume = gather_resume(0, machine_b, tracking, previous_run="run-a", patience=None)
    assert resume.epochs_done == 2 and resume.remote_best == "best-a.keras" and resume.model is not None
    assert machine_b.best_path.is_file()
    # nothing on the server either: epoch 0, no notice
    empty = gather_resume(0, TrialCheckpoints(tmp_path / "c"), FakeTracking(remote=True), previous_run="run-a", patience=None)
    assert empty.state is None and empty.notice is None
