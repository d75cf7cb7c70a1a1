"""Multi-objective studies: ``objectives:`` in a study file, Optuna directions, values on every
trial, the Pareto front in show / report / the summary, export of any trial, tracking."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from conftest import write_study
from hpsearch._errors import UsageError
from hpsearch.cli import main
from hpsearch.config import parse_study_dict
from hpsearch.keys import TrialAttr, objective_metric
from hpsearch.study._ranking import best_trial, pareto_front

SPACE = {"learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True}, "batch_size": [32, 64]}
TWO = [{"val_accuracy": "maximize"}, {"params": "minimize"}]


def _parse(**fields: object):
    return parse_study_dict({"search_space": SPACE, **fields}, name="mo")


# ----------------------------------------------------------------------------- the study file


def test_objectives_set_directions_the_monitor_and_no_pruner() -> None:
    config = _parse(objectives=[*TWO, "latency_ms"], sampler="nsgaii")
    assert [(o.metric, o.direction) for o in config.all_objectives()] == [
        ("val_accuracy", "maximize"), ("params", "minimize"), ("latency_ms", "minimize")
    ]
    assert config.objective.metric == "val_accuracy"  # the first logged metric: checkpoints, early stopping
    assert config.pruner.name == "none"  # the default with several objectives
    stored = config.to_dict()
    assert stored["objectives"] == [*TWO, {"latency_ms": "minimize"}] and "objective" not in stored
    assert parse_study_dict(stored, name="mo") == config  # round trip (workers load the stored form)
    assert "objectives" in config.identity() and "objective" not in config.identity()
    assert config.with_overrides(trials=3).objectives == config.objectives


def test_the_first_logged_metric_is_the_monitor_when_a_measured_objective_comes_first() -> None:
    config = _parse(objectives=["params", {"val_loss": "minimize"}])
    assert config.objective.metric == "val_loss" and config.all_objectives()[0].metric == "params"


def test_a_single_objective_file_keeps_its_stored_form_and_identity() -> None:
    config = _parse()
    assert "objectives" not in config.to_dict() and "objectives" not in config.identity()
    assert not config.multi_objective and [o.metric for o in config.all_objectives()] == ["val_accuracy"]
    assert config.pruner.name == "median"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"objective": {"metric": "val_loss"}, "objectives": TWO}, "objectives: is set together with objective:"),
        ({"objectives": TWO, "pruner": "median"}, "pruner: Optuna cannot prune a trial of a study with several objectives, got pruner median"),
        ({"objectives": TWO, "sampler": "cmaes"}, "sampler: cmaes cannot search several objectives; use one of tpe, random, gp, qmc, grid, nsgaii"),
        ({"objectives": [{"val_acuracy": "maximize"}, "params"]}, "objectives.0: the model does not produce 'val_acuracy' (did you mean 'val_accuracy'?)"),
        ({"objectives": [{"val_accuracy": "minimize"}, "params"]}, "objectives.0.val_accuracy: minimize val_accuracy would select the worst models; use val_accuracy: maximize"),
        ({"objectives": [{"params": "maximize"}, "val_loss"]}, "objectives.0.params: expected minimize, got 'maximize'"),
        ({"objectives": ["params", "latency_ms"]}, "objectives: needs a metric the model logs"),
        ({"objectives": ["val_loss", "val_loss"]}, "objectives: lists an objective twice (val_loss, val_loss)"),
        ({"objectives": ["val_loss"]}, "objectives: expected a list of two or more objectives, got a list of 1"),
        ({"objectives": TWO, "validation": {"folds": 3}}, "validation.folds: K-fold cross-validation is not supported with several objectives"),
    ],
)
def test_bad_objectives_are_one_line_errors(fields: dict, message: str) -> None:
    with pytest.raises(UsageError) as e:
        _parse(**fields)
    assert str(e.value).startswith(f"<dict>: {message}"), str(e.value)
    assert "\n" not in str(e.value)


def test_a_bad_objectives_file_is_refused_by_the_cli_before_storage(tmp_path: Path, store: Path) -> None:
    path = write_study(tmp_path / "mo.yaml", objectives=TWO, pruner={"name": "median"})
    result = CliRunner().invoke(main, ["study", str(path)])
    assert result.exit_code == 2, result.output
    assert "pruner: Optuna cannot prune" in result.output and "Traceback" not in result.output
    assert not (store / "optuna.db").exists() or "mo" not in optuna.get_all_study_names(f"sqlite:///{store}/optuna.db")


def test_an_objective_the_model_does_not_log_is_refused_before_storage(tmp_path: Path, store: Path, cifar_dir: Path) -> None:
    from hpsearch.study._session import StudyRequest, run_study

    write_study(tmp_path / "mo.yaml", objectives=[{"val_auc": "maximize"}, "params"], pruner=None)
    (tmp_path / "mo.yaml").write_text((tmp_path / "mo.yaml").read_text().replace("pruner: null\n", ""))
    with pytest.raises(UsageError, match=r"mo.yaml: objectives.0: val_auc is not logged by this classification study .*; add auc to metrics:"):
        run_study(StudyRequest(study="mo.yaml", data_dir=str(cifar_dir)))
    assert not (store / "optuna.db").exists() or "mo" not in optuna.get_all_study_names(f"sqlite:///{store}/optuna.db")


def test_pareto_front_matches_optunas_best_trials() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for a, b in [(0.5, 3), (0.6, 5), (0.6, 4), (0.4, 1), (0.3, 2), (0.6, 4), (0.2, 9)]:
        study.tell(study.ask(), [a, b])
    study.tell(study.ask(), state=TrialState.FAIL)
    front = pareto_front(study.get_trials(), study.directions)
    assert sorted(t.number for t in front) == sorted(t.number for t in study.best_trials) == [0, 2, 3, 5]
    assert [t.number for t in front] == [2, 5, 0, 3]  # ranked by the first objective, ties by number
    assert best_trial(study).number == 2  # "best" = best by the first objective, ties by the next ones


# ----------------------------------------------------------------------------- a real study


def _run(cwd: Path, cifar_dir: Path, name: str, sampler: dict, objectives: list) -> dict:
    """Run a 4-trial, 1-epoch study of a tiny CNN whose size is searched (so ``params`` varies)."""
    from hpsearch.study._session import StudyRequest, run_study

    space = {
        "optimizer": "adam",
        "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
        "batch_size": 64,
        "architecture": {"conv_blocks": 1, "convs_per_block": 1, "base_filters": [2, 4, 8], "dense_units": [8, 16, 32]},
    }
    path = write_study(
        cwd / f"{name}.yaml", model="cnn", objectives=objectives, sampler=sampler, search_space=space,
        training={"max_epochs": 1, "early_stopping_patience": None}, budget={"trials": 4}, pruner=None,
    )
    path.write_text(path.read_text().replace("pruner: null\n", ""))  # no pruner: the multi-objective default
    home = cwd / "mlruns"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_HOME", str(home))
        mp.delenv("HPSEARCH_STORAGE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("HPSEARCH_CHECKPOINT_DIR", raising=False)
        mp.chdir(cwd)
        summary = run_study(StudyRequest(study=path.name, data_dir=str(cifar_dir)))
    return {
        "cwd": cwd, "name": name, "summary": summary, "names": [next(iter(o)) for o in objectives],
        "storage": f"sqlite:///{home}/optuna.db", "tracking": f"sqlite:///{home}/mlflow.db",
    }


@pytest.fixture(scope="module")
def nsgaii_study(tmp_path_factory: pytest.TempPathFactory, cifar_dir: Path) -> dict:
    """NSGA-II on val_accuracy (max), params (min), latency_ms (min); run once for this module."""
    return _run(tmp_path_factory.mktemp("nsgaii"), cifar_dir, "nsgaii", {"name": "nsgaii", "population_size": 2}, [*TWO, {"latency_ms": "minimize"}])


@pytest.fixture(scope="module")
def tpe_study(tmp_path_factory: pytest.TempPathFactory, cifar_dir: Path) -> dict:
    """TPE on val_accuracy (max), params (min)."""
    return _run(tmp_path_factory.mktemp("tpe"), cifar_dir, "tpe", {"name": "tpe", "n_startup_trials": 2}, TWO)


@pytest.mark.parametrize("which", ["nsgaii_study", pytest.param("tpe_study", marks=pytest.mark.slow)])
def test_a_multi_objective_study_records_every_value_and_marks_its_front(
    which: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    run = request.getfixturevalue(which)
    name, names, tmp_path = run["name"], run["names"], run["cwd"]
    study = optuna.load_study(study_name=name, storage=run["storage"])
    assert len(study.directions) == len(names) and study.metric_names == names
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4 and all(len(t.values) == len(names) for t in complete)
    assert len({t.values[1] for t in complete}) > 1  # params differ with the architecture
    assert all(t.values[1] == int(t.values[1]) > 0 for t in complete)
    if "latency_ms" in names:
        assert all(t.values[2] > 0 for t in complete)

    # tracking: each objective's value on the trial's run
    client = mlflow.MlflowClient(run["tracking"])
    for t in complete:
        logged = client.get_run(t.user_attrs[TrialAttr.MLFLOW_RUN_ID]).data.metrics
        assert [logged[objective_metric(n)] for n in names] == pytest.approx(t.values)

    # show: a column per objective, a Pareto mark on Optuna's best trials
    front = sorted(t.number for t in study.best_trials)
    shown = CliRunner().invoke(main, ["show", name, "--format", "json", "--storage", run["storage"]])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert sorted(r["number"] for r in rows if r["pareto"]) == front
    assert all(r[n] == pytest.approx(v) for r in rows for n, v in zip(names, study.trials[r["number"]].values))
    table = CliRunner().invoke(main, ["show", name, "--wide", "--storage", run["storage"]])
    lines = table.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("trial"))
    assert lines[start].split()[: 3 + len(names)] == ["trial", "state", *names, "pareto"]
    marked = sorted(int(line.split()[0]) for line in lines[start + 2 :] if " * " in f" {line} ")
    assert marked == front

    # the end-of-study summary lists the front, and says what "best" means
    from hpsearch.cli._messages import print_summary

    summary = run["summary"]
    assert summary.best.number == best_trial(study).number and summary.best.number in front
    capsys.readouterr()
    print_summary(summary)
    out = capsys.readouterr().out
    listed = out[out.index("Pareto front (") :].splitlines()[1 : 1 + len(front)]
    assert sorted(int(line.split()[1]) for line in listed) == front
    assert f"Best trial {summary.best.number} (by val_accuracy, the first objective)" in out
    assert f"hpsearch export {name} --trial N" in out

    # report: the front drawn to a PNG
    report = CliRunner().invoke(main, ["report", name, "-o", str(tmp_path / "r.html"), "--storage", run["storage"], "--tracking-uri", run["tracking"]])
    assert report.exit_code == 0, report.output
    png = tmp_path / "r-pareto.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    html = (tmp_path / "r.html").read_text()
    assert "<h2>Pareto front</h2>" in html and "data:image/png;base64," in html


def test_export_takes_any_trial_and_says_the_best_is_by_the_first_objective(
    nsgaii_study: dict, cifar_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = nsgaii_study
    monkeypatch.chdir(tmp_path)
    study = optuna.load_study(study_name="nsgaii", storage=run["storage"])
    other = next(t.number for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.number != best_trial(study).number)
    args = ["--storage", run["storage"], "--tracking-uri", run["tracking"], "--data-dir", str(cifar_dir)]
    chosen = CliRunner().invoke(main, ["export", "nsgaii", "--trial", str(other), *args])
    assert chosen.exit_code == 0, chosen.output
    assert f"Trial {other} (--trial): test" in chosen.output
    assert (tmp_path / "exported" / "nsgaii" / f"trial-{other}.keras").is_file()
    best = CliRunner().invoke(main, ["export", "nsgaii", *args])
    assert best.exit_code == 0, best.output
    assert f"Best trial {best_trial(study).number} (by val_accuracy, the first objective; --trial N exports another)" in best.output
    missing = CliRunner().invoke(main, ["export", "nsgaii", "--trial", "99", *args])
    assert missing.exit_code == 2 and "--trial 99: study 'nsgaii' has no trial 99; trials you can export: 0, 1, 2, 3" in missing.output


@pytest.mark.slow
def test_retrain_takes_the_best_by_the_first_objective_and_check_stays_consistent(
    nsgaii_study: dict, cifar_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = nsgaii_study
    monkeypatch.chdir(tmp_path)
    study = optuna.load_study(study_name="nsgaii", storage=run["storage"])
    best = best_trial(study)
    where = ["--storage", run["storage"], "--tracking-uri", run["tracking"]]
    retrained = CliRunner().invoke(main, ["retrain", "nsgaii", *where, "--data-dir", str(cifar_dir)])
    assert retrained.exit_code == 0, retrained.output
    assert f"Retraining trial {best.number} of study nsgaii (val_accuracy = {best.values[0]:.4f}, the first objective)" in retrained.stderr
    checked = CliRunner().invoke(main, ["check", "nsgaii", *where])
    assert checked.exit_code == 0 and "consistent" in checked.output, checked.output
    exported = CliRunner().invoke(main, ["export", "nsgaii", "--retrained", *where, "--data-dir", str(cifar_dir)])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "exported" / "nsgaii" / f"retrained-trial-{best.number}.keras").is_file()


@pytest.mark.slow
def test_retrain_names_the_first_objective_when_a_measured_one_comes_first(tmp_path: Path, cifar_dir: Path) -> None:
    """`params` first: the best trial is the smallest model; the header shows its params, not a val_accuracy."""
    run = _run(tmp_path, cifar_dir, "small", {"name": "random"}, [{"params": "minimize"}, {"val_accuracy": "maximize"}])
    study = optuna.load_study(study_name="small", storage=run["storage"])
    best = best_trial(study)
    where = ["--storage", run["storage"], "--tracking-uri", run["tracking"], "--data-dir", str(cifar_dir), "--epochs", "1"]
    retrained = CliRunner().invoke(main, ["retrain", "small", *where])
    assert retrained.exit_code == 0, retrained.output
    assert f"Retraining trial {best.number} of study small (params = {int(best.values[0])}, the first objective) on" in retrained.stderr
