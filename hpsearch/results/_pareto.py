"""A multi-objective study's Pareto front, drawn (PNG, matplotlib's headless Agg backend) and as
a report section.

Two objectives: one scatter of every completed trial, the front highlighted and joined in order.
More: one scatter per pair of objectives, the front highlighted, not joined (it is the front of all
objectives, so a front trial may look dominated in a pair).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hpsearch.study._ranking import pareto_front

__all__ = ["draw_front", "front_section"]


def _arrow(direction: StudyDirection) -> str:
    return "higher is better" if direction == StudyDirection.MAXIMIZE else "lower is better"


def draw_front(study: optuna.Study, names: Sequence[str], out: str | Path | IO[bytes]) -> None:
    """Draw the front of ``study`` (objective ``names``, in order) as a PNG into ``out``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    front = pareto_front(trials, study.directions)
    on_front = {t.number for t in front}
    pairs = list(itertools.combinations(range(len(names)), 2))
    cols = min(len(pairs), 3)
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    for ax, (i, j) in zip(axes.flat, pairs):
        rest = [t for t in trials if t.number not in on_front]
        ax.scatter([t.values[i] for t in rest], [t.values[j] for t in rest], c="#9e9e9e", s=22, label="other trials")
        line = sorted(front, key=lambda t: (t.values[i], t.values[j]))
        if len(names) == 2:  # with more objectives the front is no curve in one pair's plane
            ax.plot([t.values[i] for t in line], [t.values[j] for t in line], "-", c="#d62728", lw=1, alpha=0.5)
        ax.scatter([t.values[i] for t in line], [t.values[j] for t in line], c="#d62728", s=40, label="Pareto front", zorder=3)
        for t in line:
            ax.annotate(str(t.number), (t.values[i], t.values[j]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(f"{names[i]} ({_arrow(study.directions[i])})")
        ax.set_ylabel(f"{names[j]} ({_arrow(study.directions[j])})")
        if names[i] == "params":
            ax.set_xscale("log")
        if names[j] == "params":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    fig.suptitle(f"{study.study_name}: Pareto front ({len(front)} of {len(trials)} completed trials; numbers are trials)")
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)


def front_section(study: optuna.Study, names: Sequence[str], png: str | Path | None = None) -> str:
    """The report's "Pareto front" section: the drawing (embedded; also written to ``png``) and a
    table of the front's trials, ranked by the first objective."""
    buffer = io.BytesIO()
    draw_front(study, names, buffer)
    if png is not None:
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        Path(png).write_bytes(buffer.getvalue())
    front = pareto_front(study.get_trials(deepcopy=False), study.directions)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("trial", *names, "params"))
    body = "".join(
        "<tr><td>"
        + str(t.number)
        + "</td>"
        + "".join(f"<td class='num'>{v:.4g}</td>" for v in t.values)
        + f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in t.params.items()))}</td></tr>"
        for t in front
    )
    image = base64.b64encode(buffer.getvalue()).decode()
    return (
        "<h2>Pareto front</h2>"
        f"<p class='muted'>Trials no other trial beats on every objective ({', '.join(f'{d.name.lower()} {n}' for n, d in zip(names, study.directions))}). "
        f"The best trial is the best by the first objective, {html.escape(names[0])}; "
        f"<code>hpsearch export {html.escape(study.study_name)} --trial N</code> exports any of them.</p>"
        f"<img alt='Pareto front' src='data:image/png;base64,{image}' style='max-width:100%'>"
        f"<table><tr>{head}</tr>{body}</table>"
    )
