"""The HTML report: every section, offline, logged to the study's parent run."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from click.testing import CliRunner
from mlflow import MlflowClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch._config import parse_study_dict
from hpsearch._report import build_report, pruning_statistics
from hpsearch._tracking import normalize_tracking_uri
from hpsearch.cli import main


def test_report_of_a_real_study(finished_study: dict, tmp_path: Path) -> None:
    out = tmp_path / "r" / "shop.html"
    result = CliRunner().invoke(
        main,
        ["report", "shop", "--output", str(out), "--storage", finished_study["storage"], "--tracking-uri", finished_study["tracking"]],
    )
    assert result.exit_code == 0, result.output
    assert f"Report written to {out}" in result.output and "Logged to MLflow" in result.output
    text = out.read_text()
    for section in ("Optimization history", "Parameter importances", "Parallel coordinates", "Learning curves of the top trials", "Pruning", "Failed trials", "All trials"):
        assert f"<h2>{section}" in text, section
    assert "simulated: out of memory while allocating conv1a" in text  # the failed trial and its reason
    assert re.search(r"trial \d+ val_accuracy", text) and re.search(r"trial \d+ accuracy", text)  # MLflow curves, train + val
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", text)  # nothing fetched: opens offline
    assert text.count("Plotly.newPlot") >= 4 and len(text) > 1_000_000  # plotly.js inlined once
    client = MlflowClient(normalize_tracking_uri(finished_study["tracking"]))
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    parent = study.user_attrs["hpsearch.mlflow_parent_run_id"]
    assert [a.path for a in client.list_artifacts(parent, "report")] == ["report/shop.html"]


def test_report_without_mlflow_uses_optuna_curves(finished_study: dict, tmp_path: Path) -> None:
    out = tmp_path / "offline.html"
    result = CliRunner().invoke(
        main, ["report", "shop", "-o", str(out), "--storage", finished_study["storage"], "--tracking-uri", f"sqlite:///{tmp_path}/nowhere/m.db"]
    )
    assert result.exit_code == 0, result.output
    assert "Note: Learning curves come from Optuna's per-epoch reports" in result.output
    assert re.search(r"trial \d+ val_accuracy", out.read_text())


def test_pruning_statistics() -> None:
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for state, epochs in ((TrialState.COMPLETE, 10), (TrialState.COMPLETE, 7), (TrialState.PRUNED, 3), (TrialState.PRUNED, 4), (TrialState.FAIL, 2)):
        study.add_trial(
            create_trial(
                state=state,
                value=0.5 if state == TrialState.COMPLETE else None,
                params={"x": 0.5},
                distributions=dist,
                user_attrs={"epochs_trained": epochs},
                intermediate_values={i: 0.1 for i in range(epochs)} if state == TrialState.PRUNED else None,
            )
        )
    stats = pruning_statistics(study, max_epochs=10)
    assert stats["finished_trials"] == 4 and stats["pruned_trials"] == 2
    assert stats["epochs_trained"] == 10 + 7 + 3 + 4
    assert stats["epochs_without_pruning"] == 10 + 7 + 10 + 10
    assert stats["epochs_saved"] == 13 and stats["pruned_at"] == [3, 4]


def test_failed_and_interrupted_trials_show_the_epochs_they_trained() -> None:
    study = optuna.create_study(direction="maximize")
    dist = {"learning_rate": FloatDistribution(1e-4, 1e-1, log=True)}
    study.add_trial(create_trial(value=0.5, params={"learning_rate": 0.01}, distributions=dist, user_attrs={"epochs_trained": 4}))
    study.add_trial(
        create_trial(
            state=TrialState.FAIL,
            params={"learning_rate": 0.02},
            distributions=dist,
            user_attrs={"fail_reason": "interrupted (Ctrl-C)"},  # no epochs_trained: it was stopped mid-fit
            intermediate_values={0: 0.1, 1: 0.2, 2: 0.3},
        )
    )
    config = parse_study_dict({"search_space": {"learning_rate": {"low": 1e-4, "high": 0.1, "log": True}}}, name="s")
    text = build_report(study, config)
    all_trials = text.split("<h2>All trials</h2>")[1].split("<h2>")[0]
    failed_row = next(row for row in all_trials.split("<tr>") if ">FAIL<" in row)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", failed_row)[:4] == ["1", "FAIL", "", "3"]  # number, state, value, epochs
    assert "nan" not in all_trials and "None" not in all_trials
