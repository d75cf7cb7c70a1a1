"""The command line, driven as a user drives it: real subprocesses and click's runner."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from conftest import hpsearch_cli, write_study
from optuna.trial import TrialState, create_trial
from mlflow import MlflowClient

from hpsearch.cli import main
from hpsearch.keys import Tag, TrialAttr


def test_help_is_fast_and_imports_no_tensorflow() -> None:
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from click.testing import CliRunner; from hpsearch.cli import main\n"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output\n"
        "for cmd in ('study', 'worker', 'list', 'show'):\n"
        "    assert CliRunner().invoke(main, [cmd, '--help']).exit_code == 0\n"
        "print(time.perf_counter() - t, 'tensorflow' in sys.modules, 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]
    assert float(out[0]) < 1.0


def test_help_names_the_environment_variables() -> None:
    text = CliRunner().invoke(main, ["--help"]).output
    for name in ("HPSEARCH_HOME", "HPSEARCH_STORAGE", "MLFLOW_TRACKING_URI", "HPSEARCH_VERBOSE"):
        assert name in text, name
    assert "default ./mlruns" in text
    assert "HPSEARCH_HOME" in CliRunner().invoke(main, ["show", "--help"]).output  # where the default store is


def test_list_and_show_need_an_existing_store(store: Path) -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 1 and "No study storage at" in result.output
    assert not store.exists()
    result = CliRunner().invoke(main, ["show", "nope"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"Error: No study storage at {store / 'optuna.db'} yet; run `hpsearch study NAME` first (or pass --storage).\n"
    assert not store.exists()


def test_show_of_an_unknown_study_names_it_and_the_studies_there_are(store: Path) -> None:
    store.mkdir()
    url = f"sqlite:///{store}/optuna.db"
    optuna.storages.RDBStorage(url)  # a storage without studies
    result = CliRunner().invoke(main, ["show", "nope"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: No study named 'nope'. {url} has no studies yet.\n"
    for name in ("shop", "other"):
        optuna.create_study(study_name=name, storage=url)
    result = CliRunner().invoke(main, ["show", "nope"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: No study named 'nope'. Studies in {url}: other, shop.\n"
    result = CliRunner().invoke(main, ["show", "shp"])
    assert result.stderr == f"Error: No study named 'shp' (did you mean 'shop'?). Studies in {url}: other, shop.\n"


def test_usage_errors_exit_2_with_a_hint(store: Path) -> None:
    for args, text in (
        (["study", "cifar10", "--trials", "0"], "Invalid value for '--trials'"),
        (["study", "cifar10", "--trials", "-3"], "Invalid value for '--trials'"),
        (["study", "cifar10", "--workers", "0"], "Invalid value for '--workers'"),
        (["show", "x", "--format", "xml"], "Invalid value for '--format'"),
        (["study"], "Missing argument 'STUDY'"),
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output and "--help" in result.output


def test_space_prints_the_resolved_space_and_what_each_knob_means() -> None:
    from hpsearch.catalog import OPTIMIZERS, SCALAR_ROLES

    result = CliRunner().invoke(main, ["space", "cifar10"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    momentum = lines["sgd.momentum"]
    assert momentum.index("float in [0.8, 0.99]") < momentum.index("[if optimizer == 'sgd']") < momentum.index("# SGD momentum")
    assert momentum.endswith(f"# {OPTIMIZERS['sgd']['momentum'].doc}")
    assert lines["learning_rate"].split("  # ")[1:] == [SCALAR_ROLES["learning_rate"].doc]
    assert "#" not in lines["optimizer"]  # a role, not a knob: no doc
    knobs = [line for name, line in lines.items() if name not in ("optimizer", "schedule", "regularizer")]
    assert all("  # " in line for line in knobs)  # every knob has its doc
    assert len({lines[n].index("  # ") for n in ("sgd.momentum", "learning_rate", "l1_l2.l2", "dropout")}) == 1  # in one column


@pytest.mark.slow
def test_end_to_end_cifar10_study_in_a_subprocess(tmp_path: Path, cifar_dir: Path) -> None:
    """The issue's acceptance test: official-format data in a temp dir, a real `hpsearch study`."""
    start = time.monotonic()
    result = hpsearch_cli(
        "study", "cifar10", "--data-dir", str(cifar_dir), "--trials", "3", "--epochs", "2", "--subset", "200",
        cwd=tmp_path,
        env={"HPSEARCH_HOME": "", "HPSEARCH_STORAGE": "", "MLFLOW_TRACKING_URI": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Study cifar10: 3/3 finished" in result.stdout and "Test set (best checkpoint of trial" in result.stdout
    assert "Traceback" not in result.stderr

    store = tmp_path / "mlruns"
    study = optuna.load_study(study_name="cifar10", storage=f"sqlite:///{store}/optuna.db")
    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(finished) == 3

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name("cifar10")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert 0.0 <= parent.data.metrics["test_accuracy"] <= 1.0 and "test_loss" in parent.data.metrics
    assert parent.info.status == "FINISHED"
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        epochs = child.data.tags[Tag.EPOCHS_TRAINED]
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert [m.step for m in history] == list(range(1, int(epochs) + 1))  # 1-based epochs
        assert {"optimizer", "learning_rate", "schedule", "batch_norm", "initializer"} <= set(child.data.params)
        artifacts = {a.path for d in ("plots", "model") for a in client.list_artifacts(child.info.run_id, d)}
        assert artifacts == {"plots/learning_curve.png", "model/best.keras"}
        png = Path(client.download_artifacts(child.info.run_id, "plots/learning_curve.png", str(tmp_path)))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        trial = study.trials[int(child.data.tags["hpsearch.trial_number"])]
        assert trial.user_attrs[TrialAttr.MLFLOW_RUN_ID] == child.info.run_id
    assert not any((store / "checkpoints" / "cifar10").iterdir())  # cleaned once in MLflow

    # show / list read the same store, without TensorFlow
    shown = hpsearch_cli("show", "cifar10", "--format", "json", cwd=tmp_path, env={"HPSEARCH_HOME": ""})
    rows = json.loads(shown.stdout)
    assert len(rows) == 3 and rows[0]["state"] == "COMPLETE"
    listed = hpsearch_cli("list", cwd=tmp_path, env={"HPSEARCH_HOME": ""})
    assert "cifar10" in listed.stdout
    assert time.monotonic() - start < 300


def test_the_resume_hint_never_shows_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpsearch.cli._messages import resume_hint

    monkeypatch.setattr(sys, "argv", ["hpsearch", "study", "cifar10", "--storage", "postgresql://hp:s3cret@db/hp", "--trials", "9"])
    hint = resume_hint()
    assert "s3cret" not in hint
    assert hint.startswith("hpsearch study cifar10 --storage 'postgresql://hp:***@db/hp' --trials 9")
    assert "HPSEARCH_STORAGE" in hint


@pytest.mark.slow
def test_workers_that_die_make_the_study_command_fail_with_a_resume_hint(tmp_path: Path, cifar_dir: Path) -> None:
    """Every worker process exits at startup (a ``sitecustomize`` kills ``hpsearch worker``): the
    parent must not report success; it names the problem and the command that continues."""
    sabotage = tmp_path / "sabotage"
    sabotage.mkdir()
    (sabotage / "sitecustomize.py").write_text("import os, sys\nif 'worker' in sys.argv:\n    os._exit(3)\n")
    write_study(tmp_path / "team.yaml", budget={"trials": 2})
    env = {"PYTHONPATH": str(sabotage), "HPSEARCH_HOME": str(tmp_path / "mlruns")}
    proc = hpsearch_cli("study", "team.yaml", "--data-dir", str(cifar_dir), "--workers", "2", cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "worker(s) 0 (exit 3), 1 (exit 3) stopped with an error" in proc.stdout + proc.stderr
    assert "the worker processes stopped before the budget was met" in proc.stderr
    assert "hpsearch study team.yaml --data-dir" in proc.stderr and "Traceback" not in proc.stderr
    study = optuna.load_study(study_name="team", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db")
    assert study.trials == []  # nothing ran, nothing was half-recorded


@pytest.mark.slow
def test_rerunning_a_finished_study_says_so_and_counts_each_state(store: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_study(store.parent / "done.yaml", budget={"trials": 1}, training={"max_epochs": 1, "early_stopping_patience": 3})
    args = ["study", "done.yaml", "--data-dir", str(cifar_dir), "--subset", "100"]
    monkeypatch.setattr(sys, "argv", ["hpsearch", *args])
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        first = CliRunner().invoke(main, args)
        assert first.exit_code == 0, first.output
        assert "done: target 1 finished trials, up to 1 epochs each; no trials yet." in first.stderr
        assert "nothing to run" not in first.output
        study = optuna.load_study(study_name="done", storage=f"sqlite:///{store}/optuna.db")
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "simulated"}))
        best = study.best_trial

        again = CliRunner().invoke(main, args)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert again.exit_code == 0, again.output
    # each state counted on its own: the failed trial is not "so far" towards the target
    assert "finished so far: 1 (1 complete, 0 pruned); also 1 failed." in again.stderr
    assert (
        f"Study done already has 1 finished trials (target 1): nothing to run. Best: trial {best.number}, "
        f"val_accuracy = {best.value:.4f}." in again.stdout
    )
    assert "To run 10 more trials, raise the total with --trials:\n  hpsearch study done.yaml --data-dir" in again.stdout
    assert again.stdout.rstrip().endswith("--subset 100 --trials 11")
    assert len(optuna.load_study(study_name="done", storage=f"sqlite:///{store}/optuna.db").trials) == 2  # nothing ran


def test_the_stop_message_names_each_interrupted_trial_and_its_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message's composition (the slow test in test_workers.py sends real signals)."""
    import datetime

    from optuna.distributions import FloatDistribution

    from hpsearch.config import parse_study_dict
    from hpsearch.study._loop import _retry
    from hpsearch.study._workers import Terminated
    from hpsearch.cli._messages import stopped_message

    monkeypatch.setattr(sys, "argv", ["hpsearch", "study", "mine.yaml", "--epochs", "5"])
    config = parse_study_dict({"training": {"max_epochs": 5}, "budget": {"trials": 4}}, name="mine")
    since = datetime.datetime.now()
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.5, params={"x": 0.1}, distributions={"x": FloatDistribution(0, 1)}))
    running = [study.ask({"x": FloatDistribution(0, 1)}) for _ in range(2)]  # two workers' trials
    for e in range(2):
        running[0].report(0.1, e)
    for trial in running:
        trial.set_user_attr(TrialAttr.FAIL_REASON, "interrupted (SIGTERM)")
        _retry(study, study.tell(trial, state=TrialState.FAIL), max_retry=None)
    text = stopped_message(Terminated("signal SIGTERM"), study, config, None, since)
    assert text.splitlines() == [
        "Stopped by SIGTERM: study mine, trial 1 in epoch 3/5; 2 epochs done and saved.",
        "  Trial 1 is marked FAIL (interrupted) and queued as trial 3 to continue from its last saved epoch with the same params; its MLflow run is KILLED.",
        "Stopped by SIGTERM: study mine, trial 2 in epoch 1/5; no epoch done yet.",
        "  Trial 2 is marked FAIL (interrupted) and queued as trial 4 to start again with the same params; its MLflow run is KILLED.",
        "Study mine: finished so far: 1 (1 complete, 0 pruned); also 2 failed, 2 queued to resume (target 4).",
        "Resume with:",
        "  hpsearch study mine.yaml --epochs 5",
    ]
    assert stopped_message(KeyboardInterrupt(), None, None, None, since).startswith("Stopped by Ctrl-C before the first trial started.")
