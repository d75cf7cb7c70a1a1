"""The study report: one self-contained HTML file (plotly.js inlined, opens offline).

Sections: summary, optimization history, parameter importances, parallel coordinates, learning
curves of the top trials (from MLflow, or from Optuna's per-epoch reports when MLflow is not
reachable), pruning statistics (epochs trained vs. what a study without pruning would have
trained) and failed trials with their reasons. No TensorFlow.
"""

from __future__ import annotations

import datetime
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
import yaml
from optuna.trial import FrozenTrial, TrialState

from hpsearch import __version__
from hpsearch.config import StudyConfig
from hpsearch.results._tables import epochs_trained, failure, format_duration, retried_as, trial_table
from hpsearch.study._ranking import first_value, objective_names, ranked
from hpsearch.keys import State, StudyAttr

__all__ = ["build_report", "pruning_statistics", "MIN_TRIALS_FOR_IMPORTANCES", "PARALLEL_AXES"]

#: Completed trials needed before parameter importances are shown: PED-ANOVA compares the best
#: trials with the rest, and its authors advise at least 5 trials in that best group.
MIN_TRIALS_FOR_IMPORTANCES = 10
#: Axes of the first parallel-coordinates view (the most important parameters); a second view
#: has them all.
PARALLEL_AXES = 8
#: Line colours of the learning curves, one per trial (train and validation share it).
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")

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
    fig.update_layout(margin={"l": 60, "r": 30, "t": 50, "b": 50}, height=fig.layout.height or 420)
    return fig.to_html(full_html=False, include_plotlyjs=include, config={"displaylogo": False})


def _optuna_plot(make: Callable[[], go.Figure], first: list[bool], why_not: str) -> str:
    try:
        return _figure_html(make(), first)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return f"<p class='muted'>{html.escape(why_not)} ({html.escape(str(e).splitlines()[0] if str(e) else type(e).__name__)})</p>"


def _base(metric: str) -> str:
    """``val_mae`` -> ``mae``: the objective's metric as the test set logs it (``test_mae``)."""
    return metric.removeprefix("val_")


def _curves(top: list[FrozenTrial], metric: str, history: Callable[[FrozenTrial, str], list[tuple[int, float]]] | None) -> go.Figure:
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
    fig.update_layout(title=f"Learning curves of the top {len(top)} trials", xaxis_title="epoch")
    return _style_curves(fig)


def _style_curves(fig: go.Figure) -> go.Figure:
    """One colour per trial, validation solid and train dashed; the y axis names the metric drawn
    (``accuracy`` for train + validation accuracy); whole epochs on the x axis.

    Traces are named ``trial <n> <metric>`` by :func:`_curves`.
    """
    colour: dict[str, str] = {}
    metrics: set[str] = set()
    for trace in fig.data:
        _, number, name = trace.name.split(" ", 2)
        colour.setdefault(number, _COLOURS[len(colour) % len(_COLOURS)])
        metrics.add(name)
        trace.update(
            line={"color": colour[number], "dash": "solid" if name.startswith("val_") or len(metrics) == 1 else "dash"},
            marker={"color": colour[number]},
            legendgroup=f"trial {number}",
        )
    bases = {m.removeprefix("val_") for m in metrics}
    fig.update_yaxes(title_text=bases.pop() if len(bases) == 1 and len(metrics) > 1 else ", ".join(sorted(metrics)))
    epochs = [x for trace in fig.data for x in trace.x]
    return _whole_numbers(fig, "x", max(epochs, default=1))


def _whole_numbers(fig: go.Figure, axis: str, largest: float, ticks: int = 12) -> go.Figure:
    """Ticks of ``axis`` on whole numbers only (epochs, trial numbers), at most ``ticks`` of them."""
    step = max(1, math.ceil(largest / ticks))
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(tickmode="linear", tick0=0 if step > 1 else 1, dtick=step, tickformat="d")
    return fig


def _epochs_figure(study: optuna.Study, max_epochs: int) -> go.Figure:
    colors = {State.COMPLETE: "#2a9d8f", State.PRUNED: "#e9c46a", State.FAIL: "#e76f51"}
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
    _whole_numbers(fig, "x", max((t.number for t in study.trials), default=1))
    return _whole_numbers(fig, "y", max_epochs, ticks=10)


def _importances(study: optuna.Study, n_complete: int, target: dict[str, Any]) -> tuple[dict[str, float] | None, str]:
    """PED-ANOVA importances and a sentence saying what they rest on, or ``None`` and why not."""
    if n_complete < MIN_TRIALS_FOR_IMPORTANCES:
        return None, (
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCES} completed trials; this study has "
            f"{n_complete}. With fewer, PED-ANOVA's estimates are mostly noise."
        )
    quantile = min(0.5, max(0.1, 5 / n_complete))  # at least 5 trials in the best group
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    try:
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target.get("target"))
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return None, f"Parameter importances could not be computed ({str(e).splitlines()[0] if str(e) else type(e).__name__})."
    best = math.ceil(quantile * n_complete)
    return importances, (
        f"PED-ANOVA on the {n_complete} completed trials: how much each parameter mattered for reaching the best "
        f"{quantile:.0%} of them ({best} trials). Estimates from a few dozen trials are rough."
    )


def _importance_figure(importances: dict[str, float]) -> go.Figure:
    names = list(importances)[::-1]  # most important on top
    fig = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h", marker_color="#1f77b4"))
    fig.update_layout(title="Parameter importances (PED-ANOVA)", xaxis_title="importance (share of the total)")
    fig.update_layout(height=max(300, 60 + 28 * len(names)))
    return fig


def _parallel_params(study: optuna.Study, config: StudyConfig, importances: dict[str, float] | None) -> list[str]:
    """The searched params that completed trials have, most important first (without importances:
    top-level params in sampling order, then the conditional ones)."""
    present = {p for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) for p in t.params}
    searched = [p for p in config.search_space.searched() if p in present]
    searched += sorted(present - set(searched))
    if importances:
        return sorted(searched, key=lambda p: -importances.get(p, -1.0))
    return [p for p in searched if "." not in p] + [p for p in searched if "." in p]


def _parallel_figure(study: optuna.Study, params: list[str], title: str, target: dict[str, Any]) -> go.Figure:
    """Optuna's parallel coordinates of ``params`` (Optuna orders the axes by name)."""
    return optuna.visualization.plot_parallel_coordinate(study, params=params, **target).update_layout(title=title)


def build_report(
    study: optuna.Study,
    config: StudyConfig,
    *,
    history: Callable[[FrozenTrial, str], list[tuple[int, float]]] | None = None,
    top: int = 5,
    notes: list[str] | None = None,
    front_png: str | Path | None = None,
) -> str:
    """The report as one HTML string. ``history(trial, metric)`` returns ``[(epoch, value)]`` (MLflow).

    A multi-objective study gets a Pareto front section (its drawing also written to
    ``front_png``); its best trial, history and importances are those of its first objective.
    """
    metric = config.objective.metric
    trials = study.trials
    by_state = {s.name: sum(1 for t in trials if t.state == s) for s in TrialState}
    complete = ranked(trials, study.directions)
    names = objective_names(study, metric)
    # Optuna's plots need a target when a study has several objectives: the first one.
    target = {"target": lambda t: t.values[0], "target_name": names[0]} if len(names) > 1 else {}
    best = complete[0] if complete else None
    top_trials = complete[:top]
    test = study.user_attrs.get(StudyAttr.TEST) or {}
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
        ("complete", by_state[State.COMPLETE]),
        ("pruned", by_state[State.PRUNED]),
        ("failed", by_state[State.FAIL]),
        (f"best {names[0] if target else metric}", f"{first_value(best):.4f}" if best else "-"),
        (f"test {_base(metric)} (best)", f"{test[f'test_{_base(metric)}']:.4f}" if f"test_{_base(metric)}" in test else "-"),
    ]
    parts += [f"<div class='card'>{html.escape(k)}<b>{html.escape(str(v))}</b></div>" for k, v in cards]
    parts.append("</div>")
    if best is not None:
        by = f" (by {html.escape(names[0])}, the first objective)" if target else ""
        parts.append(f"<h2>Best trial: {best.number}{by}</h2>")
        parts.append(_table([{"parameter": k, "value": v} for k, v in best.params.items()], ["parameter", "value"]))
    for note in notes or []:
        parts.append(f"<p class='muted'>{html.escape(note)}</p>")
    if target:
        from hpsearch.results._pareto import front_section

        parts.append(front_section(study, names, front_png))

    parts.append("<h2>Optimization history</h2>")
    last = max((t.number for t in trials), default=1)
    history_plot = lambda: _whole_numbers(optuna.visualization.plot_optimization_history(study, **target), "x", last)  # noqa: E731
    parts.append(_optuna_plot(history_plot, first, "Needs a completed trial"))
    importances, about = _importances(study, len(complete), target)
    parts.append("<h2>Parameter importances</h2>")
    parts.append(f"<p class='muted'>{html.escape(about)}</p>")
    if importances:
        parts.append(_figure_html(_importance_figure(importances), first))
    parts.append("<h2>Parallel coordinates</h2>")
    params = _parallel_params(study, config, importances)
    shown = params[:PARALLEL_AXES]
    which = "most important" if importances else "first"
    title = f"The {len(shown)} {which} of {len(params)} parameters" if len(params) > len(shown) else f"All {len(params)} parameters"
    parts.append(_optuna_plot(lambda: _parallel_figure(study, shown, title, target), first, "Needs completed trials"))
    if len(params) > len(shown):

        def every_param() -> go.Figure:
            fig = _parallel_figure(study, params, f"All {len(params)} parameters (scroll sideways)", target)
            return fig.update_layout(width=max(1100, 110 * (len(params) + 1)))

        parts.append(f"<h3>All {len(params)} parameters</h3><div style='overflow-x:auto'>")
        parts.append(_optuna_plot(every_param, first, "Needs completed trials"))
        parts.append("</div>")

    parts.append("<h2>Learning curves of the top trials</h2>")
    if top_trials:
        parts.append(_figure_html(_curves(top_trials, metric, history), first))
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

    table = trial_table(study)
    rows = [{**row, "duration": format_duration(row["duration_s"])} for row in table.rows]
    scores = [*table.objectives, "pareto"] if table.objectives else ["value"]
    columns = ["number", "state", *scores, "epochs", "duration", *[c for c in config.search_space.searched() if c in table.columns]]
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
