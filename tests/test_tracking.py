"""MLflow tracking: experiment, parent and child runs, epoch metrics, continued runs, URI checks."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.tracking import StudyTracking, check_tracking_uri, normalize_tracking_uri
from hpsearch.keys import RunStatus, State, Tag, TrialAttr


@pytest.fixture
def tracking(tmp_path: Path) -> StudyTracking:
    t = StudyTracking(f"sqlite:///{tmp_path}/mlflow.db", "demo", (tmp_path / "artifacts").as_uri())
    t.open_parent(None, params={"max_epochs": 3}, tags={Tag.SAMPLER: "tpe"})
    return t


def test_parent_and_trial_runs(tracking: StudyTracking, tmp_path: Path) -> None:
    run = tracking.start_trial(0, {"optimizer": "sgd", "learning_rate": 0.01}, tags={"x": 1})
    for epoch in range(3):
        run.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "val_accuracy": 0.1 * epoch})
    (tmp_path / "f.txt").write_text("hi")
    run.log_artifact(tmp_path / "f.txt", "plots")
    run.finish(State.PRUNED, value=0.2)

    client = MlflowClient(normalize_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db"))
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags["mlflow.parentRunId"] == tracking.parent_run_id
    assert got.data.tags[Tag.TRIAL] == "0" and got.data.tags[Tag.STATE] == "PRUNED" and got.data.tags[Tag.VALUE] == "0.2"
    assert got.data.params == {"optimizer": "sgd", "learning_rate": "0.01"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "val_accuracy")] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert [a.path for a in client.list_artifacts(run.run_id, "plots")] == ["plots/f.txt"]
    assert str(tmp_path / "artifacts" / "demo") in got.info.artifact_uri
    assert [r.run_id for r in tracking.child_runs()] == [run.run_id]


def test_a_retry_continues_the_run_without_duplicate_steps(tracking: StudyTracking) -> None:
    first = tracking.start_trial(4, {"optimizer": "adam"})
    first.log_epoch(0, {"loss": 1.0})
    first.log_epoch(1, {"loss": 0.9})
    # killed after epoch 2 was checkpointed but before it was logged; the retry continues
    retry = tracking.start_trial(7, {"optimizer": "adam"}, continue_run_id=first.run_id)
    assert retry.run_id == first.run_id
    history = [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.8}]
    assert retry.backfill(history) == 1
    retry.log_epoch(3, {"loss": 0.7})
    steps = sorted(m.step for m in tracking.client.get_metric_history(retry.run_id, "loss"))
    assert steps == [0, 1, 2, 3]
    run = tracking.client.get_run(retry.run_id)
    assert run.data.tags[Tag.TRIAL] == "7" and run.data.tags["hpsearch.attempts"] == "2"
    assert run.info.status == "RUNNING"


def test_tags_describe_the_final_state_of_a_continued_run(tracking: StudyTracking) -> None:
    first = tracking.start_trial(2, {"optimizer": "adam"})
    first.finish(RunStatus.KILLED, tags={"hpsearch.fail_reason": "interrupted"})
    retry = tracking.start_trial(5, {"optimizer": "adam"}, continue_run_id=first.run_id)
    assert "hpsearch.fail_reason" not in tracking.client.get_run(retry.run_id).data.tags  # running again
    retry.finish(State.COMPLETE, value=0.5)
    tags = tracking.client.get_run(retry.run_id).data.tags
    assert tags[Tag.STATE] == "COMPLETE" and tags[Tag.VALUE] == "0.5" and "hpsearch.fail_reason" not in tags
    again = tracking.start_trial(6, {"optimizer": "adam"}, continue_run_id=retry.run_id)
    again.finish(State.FAIL, tags={"hpsearch.fail_reason": "diverged"})
    tags = tracking.client.get_run(again.run_id).data.tags
    assert tags["hpsearch.fail_reason"] == "diverged" and Tag.VALUE not in tags  # no value of an earlier attempt


def test_a_run_is_continued_only_if_it_logged_nothing_past_the_resume_point(tracking: StudyTracking) -> None:
    first = tracking.start_trial(0, {"optimizer": "adam"})
    for epoch in (1, 2, 3):
        first.log_epoch(epoch, {"loss": 1.0 / epoch})
    assert tracking.can_continue(first.run_id, 3) and not tracking.can_continue(first.run_id, 2)
    assert tracking.can_continue("0" * 32, 0)  # unknown run: start_trial replaces it
    second = tracking.start_trial(1, {"optimizer": "adam"})
    tracking.supersede(first.run_id, second.run_id)
    old = tracking.client.get_run(first.run_id)
    assert old.data.tags["hpsearch.superseded_by"] == second.run_id
    assert old.info.status == "FAILED" and old.data.tags[Tag.STATE] == "FAIL"  # its attempt is over


def test_reopening_the_study_reuses_its_parent_run(tracking: StudyTracking, tmp_path: Path) -> None:
    tracking.close_parent("KILLED")
    again = StudyTracking(f"sqlite:///{tmp_path}/mlflow.db", "demo", (tmp_path / "artifacts").as_uri())
    assert again.open_parent(tracking.parent_run_id, params={"max_epochs": 3}, tags={}) == tracking.parent_run_id
    assert again.client.get_run(tracking.parent_run_id).info.status == "RUNNING"


def test_attach_to_a_parent_run_that_is_not_there(tracking: StudyTracking) -> None:
    with pytest.raises(RuntimeFailure, match="pass the same --tracking-uri"):
        tracking.attach_parent("0" * 32)


def test_sqlite_uris_get_a_lock_timeout() -> None:
    assert normalize_tracking_uri("sqlite:////abs/m.db") == "sqlite:////abs/m.db?timeout=60"
    assert normalize_tracking_uri("sqlite:////abs/m.db?timeout=5") == "sqlite:////abs/m.db?timeout=5"
    assert normalize_tracking_uri("http://host:5000") == "http://host:5000"


def test_bad_tracking_uris(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no longer supports file-based tracking stores"):
        check_tracking_uri(str(tmp_path / "mlruns"))
    with pytest.raises(UsageError, match="does not exist"):
        check_tracking_uri(f"sqlite:///{tmp_path}/missing/dir/m.db")
    with pytest.raises(UsageError, match="unsupported scheme"):
        check_tracking_uri("ftp://example.com/x")
    with pytest.raises(RuntimeFailure, match="does not answer") as err:
        check_tracking_uri("http://user:s3cret@127.0.0.1:9/")
    assert "s3cret" not in str(err.value)


@pytest.fixture
def server_with_password() -> Iterator[str]:
    """A stand-in tracking server on 127.0.0.1 whose /health answers 200 only with HTTP Basic
    credentials ``hp:s3cret`` (what a tracking server behind a password proxy does)."""
    expected = "Basic " + base64.b64encode(b"hp:s3cret").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            ok = self.path == "/health" and self.headers.get("Authorization") == expected
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(b"OK" if ok else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_tracking_uri_with_credentials_is_probed_as_mlflow_connects(server_with_password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    check_tracking_uri(f"http://hp:s3cret@{server_with_password}")  # answers: no error

    with pytest.raises(RuntimeFailure, match="refused the credentials") as err:
        check_tracking_uri(f"http://hp:wrong-pw@{server_with_password}")
    assert "wrong-pw" not in str(err.value) and "hp:***@" in str(err.value)


def test_every_trial_keeps_its_epoch_logs_and_tensorboard_gathers_them(finished_study: dict, tmp_path: Path) -> None:
    """Each trial that trained has ``history/history.csv`` (one row per epoch, 1-based) and its
    TensorBoard scalars as artifacts; `hpsearch tensorboard` gathers them per trial."""
    import csv

    import optuna
    from click.testing import CliRunner

    from hpsearch.cli import main

    client = MlflowClient(normalize_tracking_uri(finished_study["tracking"]))
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    trained = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for trial in trained:
        run_id = trial.user_attrs[TrialAttr.MLFLOW_RUN_ID]
        path = client.download_artifacts(run_id, "history/history.csv", str(tmp_path))
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [int(r["epoch"]) for r in rows] == list(range(1, trial.user_attrs[TrialAttr.EPOCHS_TRAINED] + 1))
        assert {a.path for a in client.list_artifacts(run_id, "tensorboard")} == {"tensorboard/train", "tensorboard/validation"}

    logdir = tmp_path / "tb"
    args = ["tensorboard", "shop", "--no-serve", "--logdir", str(logdir), "--storage", finished_study["storage"], "--tracking-uri", finished_study["tracking"]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"TensorBoard logs of {len(trained)} trial(s) of study shop in {logdir}" in result.output
    assert f"Open them with: tensorboard --logdir {logdir} --host 127.0.0.1 --port 6006" in result.output
    for trial in trained:
        for split in ("train", "validation"):
            assert list((logdir / f"trial-{trial.number:04d}" / split).glob("events.out.tfevents.*")), (trial.number, split)


def test_readers_take_no_creation_lock(tmp_path: Path) -> None:
    """report / check / export open the store with create=False: no lock file is written next to
    it (it may sit in a folder they can only read)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    StudyTracking(uri, "s", None)
    lock = tmp_path / "mlflow.db.hpsearch-create.lock"
    assert lock.is_file()
    lock.unlink()
    StudyTracking(uri, "s", None, create=False)
    assert not lock.exists()


def test_an_unwritable_lock_is_one_line(tmp_path: Path) -> None:
    from hpsearch._locks import creation_lock

    (tmp_path / "mlflow.db.hpsearch-create.lock").mkdir()  # a folder where the lock file goes
    with pytest.raises(RuntimeFailure, match="Cannot create the lock file .*make its folder writable"):
        with creation_lock(f"sqlite:///{tmp_path}/mlflow.db"):
            pass


def test_the_package_names_load_on_first_use_and_uris_need_no_mlflow() -> None:
    """``hpsearch.tracking`` re-exports its modules' names; the URI helpers import no ``mlflow``
    (the CLI's light commands use them)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hpsearch.tracking import normalize_tracking_uri, ui_path\n"
        "assert 'mlflow' not in sys.modules\n"
        "import hpsearch.tracking as t\n"
        "assert all(getattr(t, name) is not None for name in t.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
