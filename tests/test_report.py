"""The HTML report: every section, offline, logged to the study's parent run."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from click.testing import CliRunner
from mlflow import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.config import parse_study_dict
from hpsearch.results._report import _curves, build_report, pruning_statistics
from hpsearch.tracking._tracking import normalize_tracking_uri
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
    assert f"Data: CIFAR-10 from files in {Path(finished_study['data_dir']).resolve()} (sha256:" in text  # where the data came from
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


def study_of(n_trials: int, n_params: int = 3) -> tuple[optuna.Study, object]:
    """``n_trials`` completed trials over ``optimizer`` and ``n_params - 1`` float params."""
    names = [f"p{i:02d}" for i in range(n_params - 1)]
    dists = {"optimizer": CategoricalDistribution(["adam", "sgd"]), **{n: FloatDistribution(0, 1) for n in names}}
    study = optuna.create_study(direction="maximize")
    rng = __import__("random").Random(0)
    for k in range(n_trials):
        params = {"optimizer": rng.choice(["adam", "sgd"]), **{n: rng.random() for n in names}}
        study.add_trial(create_trial(value=params[names[0]], params=params, distributions=dists, user_attrs={"epochs_trained": 2}))
    config = parse_study_dict({"search_space": {"optimizer": {"adam": {}, "sgd": {}}}}, name="s")
    return study, config


def section(text: str, title: str) -> str:
    return text.split(f"<h2>{title}</h2>")[1].split("<h2>")[0]


def test_importances_are_shown_only_with_enough_completed_trials() -> None:
    study, config = study_of(3)
    part = section(build_report(study, config), "Parameter importances")
    assert "need at least 10 completed trials; this study has 3" in part and "Plotly.newPlot" not in part

    study, config = study_of(12)
    part = section(build_report(study, config), "Parameter importances")
    assert "PED-ANOVA on the 12 completed trials" in part and "Plotly.newPlot" in part


def test_parallel_coordinates_show_the_most_important_params_then_all() -> None:
    study, config = study_of(12, n_params=14)
    part = section(build_report(study, config), "Parallel coordinates")
    assert "The 8 most important of 14 parameters" in part and "<h3>All 14 parameters</h3>" in part
    assert part.count("Plotly.newPlot") == 2
    # the first view has the most important param (the objective is p00 itself) among its axes
    assert "p00" in part.split("<h3>")[0]


def test_learning_curves_one_colour_per_trial_named_axes_whole_epochs() -> None:
    study, _ = study_of(3)
    top = study.trials[:3]
    curves = {"val_accuracy": [(0, 0.3), (1, 0.5), (2, 0.6)], "accuracy": [(0, 0.2), (1, 0.4), (2, 0.7)]}
    fig = _curves(top, "val_accuracy", lambda t, metric: curves[metric])
    by_trial: dict[str, list] = {}
    for trace in fig.data:
        by_trial.setdefault(trace.name.split()[1], []).append(trace)
    assert len(by_trial) == 3
    colours = set()
    for traces in by_trial.values():
        val, train = traces
        assert val.line.color is not None and val.line.color == train.line.color  # one colour per trial
        assert val.line.dash == "solid" and train.line.dash == "dash"  # told apart by dash
        colours.add(val.line.color)
    assert len(colours) == 3
    assert fig.layout.yaxis.title.text == "accuracy"  # what is plotted: train and validation accuracy
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickformat == "d"  # whole epochs


def test_learning_curve_png_train_and_validation_share_a_colour(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    from hpsearch.trial._plots import learning_curve_png

    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)
    history = [{"epoch": e, "accuracy": 0.1 * e, "val_accuracy": 0.1 * e + 0.05, "loss": 2 - e, "val_loss": 2.1 - e} for e in range(3)]
    learning_curve_png(history, tmp_path / "c.png")
    for ax in drawn[0].axes:
        train, val = ax.get_lines()[:2]
        assert train.get_color() == val.get_color()
        assert (train.get_linestyle(), val.get_linestyle()) == ("--", "-")
