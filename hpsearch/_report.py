"""The study report: one self-contained HTML file (plotly.js inlined, opens offline).

Sections: summary, optimization history, parameter importances, parallel coordinates, learning
curves of the top trials (from MLflow, or from Optuna's per-epoch reports when MLflow is not
reachable), pruning statistics (epochs trained vs. what a study without pruning would have
trained) and failed trials with their reasons. No TensorFlow.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
import yaml
from optuna.trial import FrozenTrial, TrialState

from hpsearch import __version__
from hpsearch._config import StudyConfig
from hpsearch._results import epochs_trained, failure, format_duration, retried_as, trials_frame

__all__ = ["build_report", "pruning_statistics"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{margin-top:2.4rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0} td,th{border:1px solid #ddd;padding:.25rem .55rem;text-align:left}
th{background:#f5f5f5} .muted{color:#777} .num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1rem;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem} pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.8rem}
"""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if isinstance(value, float):
                cells.append(f"<td class='num'>{value:.4g}</td>")
            else:
                cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def pruning_statistics(study: optuna.Study, max_epochs: int) -> dict[str, Any]:
    """Epochs actually trained vs. the epochs a study without pruning would have trained.

    A pruned trial would have run on to at most ``max_epochs`` (early stopping might have stopped
    it sooner, so the saving is an upper bound); completed trials count what they trained.
    """
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    trained = sum(epochs_trained(t) for t in finished)
    pruned = [t for t in finished if t.state == TrialState.PRUNED]
    pruned_trained = sum(epochs_trained(t) for t in pruned)
    without_pruning = trained - pruned_trained + len(pruned) * max_epochs
    return {
        "finished_trials": len(finished),
        "pruned_trials": len(pruned),
        "epochs_trained": trained,
        "epochs_without_pruning": without_pruning,
        "epochs_saved": without_pruning - trained,
        "saved_fraction": (without_pruning - trained) / without_pruning if without_pruning else 0.0,
        "pruned_at": sorted(epochs_trained(t) for t in pruned),
    }


def _figure_html(fig: go.Figure, first: list[bool]) -> str:
    include = first[0]
    first[0] = False
    fig.update_layout(margin={"l": 60, "r": 30, "t": 50, "b": 50}, height=420)
    return fig.to_html(full_html=False, include_plotlyjs=include, config={"displaylogo": False})


def _optuna_plot(make: Callable[[], go.Figure], first: list[bool], why_not: str) -> str:
    try:
        return _figure_html(make(), first)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return f"<p class='muted'>{html.escape(why_not)} ({html.escape(str(e).splitlines()[0] if str(e) else type(e).__name__)})</p>"


def _curves(study: optuna.Study, top: list[FrozenTrial], metric: str, history: Callable[[FrozenTrial, str], list[tuple[int, float]]] | None) -> go.Figure:
    fig = go.Figure()
    train_metric = metric.removeprefix("val_")
    for t in top:
        val = history(t, metric) if history else []
        if not val:  # fall back to what the trial reported to Optuna each epoch
            val = sorted(t.intermediate_values.items())
        fig.add_trace(go.Scatter(x=[s for s, _ in val], y=[v for _, v in val], mode="lines+markers", name=f"trial {t.number} {metric}"))
        if history and train_metric != metric:
            train = history(t, train_metric)
            if train:
                fig.add_trace(
                    go.Scatter(
                        x=[s for s, _ in train], y=[v for _, v in train], mode="lines", line={"dash": "dot"},
                        name=f"trial {t.number} {train_metric}",
                    )
                )
    fig.update_layout(title=f"Learning curves of the top {len(top)} trials", xaxis_title="epoch", yaxis_title=metric)
    return fig


def _epochs_figure(study: optuna.Study, max_epochs: int) -> go.Figure:
    colors = {"COMPLETE": "#2a9d8f", "PRUNED": "#e9c46a", "FAIL": "#e76f51"}
    fig = go.Figure()
    for state, color in colors.items():
        trials = [t for t in study.trials if t.state.name == state]
        if trials:
            fig.add_trace(
                go.Bar(
                    x=[t.number for t in trials],
                    y=[epochs_trained(t) for t in trials],
                    name=state.lower(),
                    marker_color=color,
                )
            )
    fig.add_hline(y=max_epochs, line_dash="dot", annotation_text=f"max_epochs = {max_epochs}")
    fig.update_layout(title="Epochs trained per trial", xaxis_title="trial", yaxis_title="epochs", barmode="overlay")
    return fig


def build_report(
    study: optuna.Study,
    config: StudyConfig,
    *,
    history: Callable[[FrozenTrial, str], list[tuple[int, float]]] | None = None,
    top: int = 5,
    notes: list[str] | None = None,
) -> str:
    """The report as one HTML string. ``history(trial, metric)`` returns ``[(epoch, value)]`` (MLflow)."""
    metric = config.objective.metric
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.trials
    by_state = {s.name: sum(1 for t in trials if t.state == s) for s in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = (max if maximize else min)(complete, key=lambda t: t.value) if complete else None
    ranked = sorted(complete, key=lambda t: t.value, reverse=maximize)[:top]
    test = study.user_attrs.get("hpsearch.test_metrics") or {}
    first = [True]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>hpsearch report: {html.escape(study.study_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Study {html.escape(study.study_name)}</h1>",
        f"<p class='muted'>{html.escape(config.description)}</p>" if config.description else "",
        "<div class='cards'>",
    ]
    cards = [
        ("trials", len(trials)),
        ("complete", by_state["COMPLETE"]),
        ("pruned", by_state["PRUNED"]),
        ("failed", by_state["FAIL"]),
        (f"best {metric}", f"{best.value:.4f}" if best else "-"),
        ("test accuracy (best)", f"{test['test_accuracy']:.4f}" if "test_accuracy" in test else "-"),
    ]
    parts += [f"<div class='card'>{html.escape(k)}<b>{html.escape(str(v))}</b></div>" for k, v in cards]
    parts.append("</div>")
    if best is not None:
        parts.append(f"<h2>Best trial: {best.number}</h2>")
        parts.append(_table([{"parameter": k, "value": v} for k, v in best.params.items()], ["parameter", "value"]))
    for note in notes or []:
        parts.append(f"<p class='muted'>{html.escape(note)}</p>")

    parts.append("<h2>Optimization history</h2>")
    parts.append(_optuna_plot(lambda: optuna.visualization.plot_optimization_history(study), first, "Needs a completed trial"))
    parts.append("<h2>Parameter importances</h2>")
    parts.append(_optuna_plot(lambda: optuna.visualization.plot_param_importances(study), first, "Needs at least two completed trials with varying params"))
    parts.append("<h2>Parallel coordinates</h2>")
    parts.append(_optuna_plot(lambda: optuna.visualization.plot_parallel_coordinate(study), first, "Needs completed trials"))

    parts.append("<h2>Learning curves of the top trials</h2>")
    if ranked:
        parts.append(_figure_html(_curves(study, ranked, metric, history), first))
    else:
        parts.append("<p class='muted'>No completed trial yet.</p>")

    stats = pruning_statistics(study, config.training.max_epochs)
    parts.append("<h2>Pruning</h2>")
    parts.append(
        f"<p>{stats['pruned_trials']} of {stats['finished_trials']} finished trials were pruned "
        f"({html.escape(config.pruner.name)} pruner). They trained <b>{stats['epochs_trained']}</b> epochs in total; "
        f"a study without pruning would have trained up to <b>{stats['epochs_without_pruning']}</b> "
        f"(pruned trials run on to max_epochs = {config.training.max_epochs}): "
        f"<b>{stats['epochs_saved']}</b> epochs saved ({100 * stats['saved_fraction']:.0f}%).</p>"
    )
    if trials:
        parts.append(_figure_html(_epochs_figure(study, config.training.max_epochs), first))

    retries = retried_as(trials)
    failed = [
        {
            "trial": t.number,
            "reason": failure(t, retries),
            "params": ", ".join(f"{k}={v}" for k, v in t.params.items()),
        }
        for t in trials
        if t.state == TrialState.FAIL
    ]
    parts.append("<h2>Failed trials</h2>")
    parts.append(_table(failed, ["trial", "reason", "params"]))

    frame = trials_frame(study)
    rows = []
    for row in frame.to_dict("records"):
        rows.append({**row, "duration": format_duration(row.get("duration_s"))})
    columns = ["number", "state", "value", "epochs", "duration", *[c for c in config.search_space.searched() if c in frame.columns]]
    parts.append("<h2>All trials</h2>")
    parts.append(_table(rows, columns))

    parts.append("<h2>Configuration</h2><details><summary>study.yaml</summary>")
    parts.append(f"<pre>{html.escape(yaml.safe_dump(config.to_dict(), sort_keys=False))}</pre></details>")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts.append(f"<p class='muted'>Generated by hpsearch {__version__} on {stamp}.</p></body></html>")
    return "\n".join(p for p in parts if p)


def write_report(text: str, output: str | Path) -> Path:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
