"""Results as tables (pandas): one row per trial, one row per study. No TensorFlow, no MLflow.

Rows are ordered best first: completed trials by value, then pruned trials by their last value,
then failed, running and waiting ones. On the terminal, :func:`render_table` fits a table to the
terminal's width by leaving out its least important columns (``wide`` keeps them all).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from hpsearch.study._open import seed_of
from hpsearch.study._ranking import best_value, first_value, maximizing, objective_names, pareto_front, rank_key
from hpsearch.keys import State, TrialAttr

__all__ = [
    "test_summary",
    "TrialTable",
    "trial_table",
    "trials_frame",
    "to_json",
    "to_csv",
    "render_table",
    "render_trials",
    "terminal_width",
    "studies_frame",
    "format_duration",
    "retried_as",
    "failure",
    "epochs_trained",
    "interrupted_since",
]

#: The columns every trial has, before its params.
TRIAL_COLUMNS = ("number", "state", "value", "duration_s", "epochs", "resumed_from_epoch", "mlflow_run_id", "fail_reason")


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return ""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _duration(t: FrozenTrial) -> float | None:
    if t.datetime_start is None:
        return None
    end = t.datetime_complete or (datetime.datetime.now() if t.state == TrialState.RUNNING else None)
    return None if end is None else (end - t.datetime_start).total_seconds()


def retried_as(trials: Iterable[FrozenTrial]) -> dict[int, int]:
    """``{failed trial number: number of the attempt that retried it}``."""
    out: dict[int, int] = {}
    for t in trials:
        history = t.system_attrs.get("retry_history") or []
        if history:
            out[int(history[-1])] = t.number
    return out


def failure(t: FrozenTrial, retries: dict[int, int]) -> str | None:
    """Why a FAIL trial failed (a retry inherits its predecessor's reason, so only FAIL counts),
    and which trial retried it; ``None`` for other states."""
    if t.state != TrialState.FAIL:
        return None
    # Optuna fails a trial whose heartbeat went stale without saying why.
    reason = t.user_attrs.get(TrialAttr.FAIL_REASON) or "worker stopped sending heartbeats"
    return reason + (f" -> retried as trial {retries[t.number]}" if t.number in retries else "")


def epochs_trained(t: FrozenTrial) -> int:
    """Epochs trial ``t`` trained (its per-epoch reports when it stopped before recording it)."""
    return int(t.user_attrs.get(TrialAttr.EPOCHS_TRAINED) or len(t.intermediate_values))


def interrupted_since(study: optuna.Study, since: datetime.datetime) -> list[tuple[FrozenTrial, FrozenTrial | None]]:
    """Trials of ``study`` stopped by Ctrl-C / SIGTERM since ``since`` (Optuna's local time), each
    with the attempt queued to resume it (``None`` if none was queued)."""
    trials = study.get_trials(deepcopy=False)
    retries = retried_as(trials)
    by_number = {t.number: t for t in trials}
    stopped = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and str(t.user_attrs.get(TrialAttr.FAIL_REASON) or "").startswith("interrupted")
        and t.datetime_complete is not None
        and t.datetime_complete >= since
    ]
    return [(t, by_number.get(retries[t.number]) if t.number in retries else None) for t in stopped]


def _count(name: str, value: float) -> float | int:
    """An objective's value as shown: ``params`` is a count (Optuna stores every value as a float)."""
    return int(value) if name == "params" and value == value and abs(value) != float("inf") else value


@dataclass(frozen=True)
class TrialTable:
    """One row per trial, best first, holding the values exactly as stored (``int`` stays ``int``,
    floats keep every digit, a param a trial did not sample is ``None``)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    #: A multi-objective study's objective names: each a column (after ``value``, the first's), then ``pareto``.
    objectives: tuple[str, ...] = ()


def trial_table(study: optuna.Study, *, top: int | None = None) -> TrialTable:
    """One row per trial: number, state, value, duration, epochs, MLflow run, reason, params.

    A multi-objective study ranks by its first objective (``value``) and adds a column per
    objective and ``pareto`` (true for the trials of the Pareto front) after the fixed columns.
    """
    trials = study.get_trials(deepcopy=False)
    maximize = maximizing(study.directions)
    multi = len(study.directions) > 1
    names = objective_names(study) if multi else []
    front = {t.number for t in pareto_front(trials, study.directions)} if multi else set()
    retries = retried_as(trials)
    rows: list[dict[str, Any]] = []
    param_names: list[str] = []
    for t in sorted(trials, key=lambda t: rank_key(t, maximize))[:top]:
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": first_value(t),
            "duration_s": _duration(t),
            "epochs": epochs_trained(t),
            "resumed_from_epoch": t.user_attrs.get(TrialAttr.RESUMED_FROM_EPOCH),
            "mlflow_run_id": t.user_attrs.get(TrialAttr.MLFLOW_RUN_ID),
            "fail_reason": failure(t, retries),
        }
        if multi:
            row.update({n: (_count(n, t.values[i]) if t.values else None) for i, n in enumerate(names)})
            row["pareto"] = t.number in front
        for name, value in t.params.items():
            if name not in param_names:
                param_names.append(name)
            row[name] = value
        rows.append(row)
    extra = [*names, "pareto"] if multi else []
    columns = [*TRIAL_COLUMNS, *extra, *param_names]
    return TrialTable(columns, [{c: row.get(c) for c in columns} for row in rows], tuple(names))


def trials_frame(study: optuna.Study, *, top: int | None = None) -> pd.DataFrame:
    """:func:`trial_table` as a pandas frame (for display; pandas turns an int column with gaps
    into floats, so machine formats use :func:`to_json` / :func:`to_csv` instead)."""
    table = trial_table(study, top=top)
    return pd.DataFrame(table.rows, columns=table.columns)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def to_json(table: TrialTable) -> str:
    """The rows as a JSON array: full float precision, integers as integers, gaps as ``null``."""
    rows = [{c: _finite(row[c]) for c in table.columns} for row in table.rows]
    return json.dumps(rows, indent=1, allow_nan=False)


def to_csv(table: TrialTable) -> str:
    """The rows as CSV: floats in their shortest exact form, integers as integers, gaps empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if row[c] is None else repr(row[c]) if isinstance(row[c], float) else row[c] for c in table.columns])
    return out.getvalue()


def studies_frame(storage: optuna.storages.BaseStorage) -> pd.DataFrame:
    """One row per study: trials by state, best value, last activity."""
    rows = []
    for summary in storage.get_all_studies():
        trials = storage.get_all_trials(storage.get_study_id_from_name(summary.study_name), deepcopy=False)
        states = pd.Series([t.state.name for t in trials], dtype=object).value_counts()
        best = best_value(trials, summary.directions[0])
        stamps = [s for t in trials for s in (t.datetime_start, t.datetime_complete) if s is not None]
        rows.append(
            {
                "study": summary.study_name,
                "direction": "/".join(d.name.lower() for d in summary.directions),  # several: one per objective
                "seed": seed_of(summary.user_attrs),
                "trials": len(trials),
                "complete": int(states.get(State.COMPLETE, 0)),
                "pruned": int(states.get(State.PRUNED, 0)),
                "fail": int(states.get(State.FAIL, 0)),
                "running": int(states.get(State.RUNNING, 0)),
                "waiting": int(states.get(State.WAITING, 0)),
                "best_value": best,
                "last_activity": max(stamps).strftime("%Y-%m-%d %H:%M:%S") if stamps else "",
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["study", "direction", "seed", "trials", "complete", "pruned", "fail", "running", "waiting", "best_value", "last_activity"],
    )
    return frame.astype({"seed": "Int64"})  # an integer even where a study has none (not 1.235e+09)


# ----------------------------------------------------------------------------- terminal tables

#: Blank columns between two table columns.
_GAP = 2
#: Longest cell shown for these columns unless ``wide`` (longer ones end in "...").
_CLIP = {"reason": 48, "mlflow run": 32}


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` wins; 100 when the output is not a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fit(widths: Mapping[str, int], priority: Sequence[str], keep: int, width: int) -> list[str]:
    """The first ``keep`` columns of ``priority``, then each further one that still fits ``width``."""
    chosen: list[str] = []
    used = -_GAP
    for i, name in enumerate(priority):
        if i < keep or used + _GAP + widths[name] <= width:
            chosen.append(name)
            used += _GAP + widths[name]
    return chosen


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    priority: Sequence[str] | None = None,
    keep: int = 1,
    width: int | None = None,
    wide: bool = False,
) -> tuple[str, list[str]]:
    """``rows`` as an aligned text table no wider than ``width`` (default: the terminal's).

    Columns are shown in ``columns`` order; when they do not all fit, the last ones of
    ``priority`` (default: ``columns``) are left out, never the first ``keep``; long reasons and
    run ids are cut short. ``wide`` shows every column in full, however wide. Numbers are right
    aligned and floats rounded to 4 significant digits (the machine formats carry every digit).

    Returns:
        ``(text, hidden)``: the table and the names of the columns left out.
    """
    cells = {c: [_cell(row.get(c)) for row in rows] for c in columns}
    if not wide:
        cells = {c: [_clip(v, max(_CLIP[c], len(c))) for v in values] if c in _CLIP else values for c, values in cells.items()}
    widths = {c: max([len(c), *map(len, cells[c])]) for c in columns}
    order = list(priority or columns)
    chosen = set(order if wide else _fit(widths, order, keep, width or terminal_width()))
    shown = [c for c in columns if c in chosen]
    right = {c for c in shown if all(_is_number(row.get(c)) or row.get(c) is None for row in rows)}

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[c]) if c in right else v.ljust(widths[c]) for c, v in zip(shown, values)]
        return (" " * _GAP).join(parts).rstrip()

    lines = [line(shown), "-" * len(line(["x" * widths[c] for c in shown]))]
    lines += [line([cells[c][i] for c in shown]) for i in range(len(rows))]
    return "\n".join(lines), [c for c in order if c not in chosen]


def render_trials(
    table: TrialTable, *, metric: str = "value", width: int | None = None, wide: bool = False, run_ids: bool = True
) -> tuple[str, list[str]]:
    """A trial table for the terminal: trial, state, ``metric`` (a multi-objective study: each
    objective and a ``pareto`` mark, ``*`` on the Pareto front), epochs and duration always; then
    the params (top-level roles before conditional ones), the failure reason, the epoch a retry
    resumed from and (``run_ids``) the MLflow run id, as far as the width allows."""
    scores = [*table.objectives, "pareto"] if table.objectives else [metric]
    params = [c for c in table.columns if c not in TRIAL_COLUMNS and c not in scores]
    rows = [
        {
            "trial": row["number"],
            "state": row["state"],
            **({metric: row["value"]} if not table.objectives else {o: row[o] for o in table.objectives}),
            **({"pareto": "*" if row["pareto"] else None} if table.objectives else {}),
            "epochs": row["epochs"],
            "duration": format_duration(row["duration_s"]),
            **{p: row[p] for p in params},
            "reason": row["fail_reason"],
            "resumed": row["resumed_from_epoch"] or None,
            "mlflow run": row["mlflow_run_id"] if run_ids else None,
        }
        for row in table.rows
    ]
    first = ["trial", "state", *scores, "epochs", "duration"]
    extra = [c for c in ("reason", "resumed", "mlflow run") if any(row[c] is not None for row in rows)]
    roles = [p for p in params if "." not in p]  # optimizer, learning_rate, ...; "sgd.momentum" is conditional
    conditional = [p for p in params if "." in p]
    priority = [*first, *roles, *extra[:1], *conditional, *extra[1:]] if extra[:1] == ["reason"] else [*first, *roles, *conditional, *extra]
    return render_table(rows, [*first, *params, *extra], priority=priority, keep=len(first), width=width, wide=wide)


def test_summary(test: Mapping[str, Any], objective: str | None = None) -> str:
    """``mae = 2.4100, rmse = 3.2000, loss = 10.1000``: every ``test_<m>`` of a study's test
    metrics, the objective's metric first and the loss last (whatever the study compiled)."""
    first = objective.removeprefix("val_") if objective else None
    names = [k.removeprefix("test_") for k in test if k.startswith("test_")]
    names.sort(key=lambda m: (m != first, m == "loss"))
    return ", ".join(f"{m} = {float(test[f'test_{m}']):.4f}" for m in names)
