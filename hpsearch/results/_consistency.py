"""Consistency of a study's two records: the Optuna storage and the MLflow tracking store.

Every finished (COMPLETE or PRUNED) Optuna trial must have exactly one MLflow run that names it,
with the same params, state and value and its model (``model/best.keras``), and no run may be
left RUNNING for a trial that is over. A K-fold study's trials keep no model: there only the best
trial the study tested must have one (the study trained it when it ended).
With many workers on many machines this is what proves nothing was lost or done twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState
from hpsearch.keys import RunStatus, StudyAttr, TrialAttr
from hpsearch.study._ranking import first_value

__all__ = ["Problem", "check_consistency"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Problem:
    """One mismatch between Optuna and MLflow."""

    trial: int | None
    run_id: str | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"trial {self.trial}" if self.trial is not None else f"run {self.run_id}"
        return f"{where}: {self.kind}: {self.detail}"


def _same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_consistency(study: optuna.Study, tracking: Any, param_repr: Any = str, *, kfold: bool = False) -> tuple[int, int, list[Problem]]:
    """Compare ``study`` with its MLflow runs. Returns ``(finished trials, trial runs, problems)``.

    ``param_repr`` turns a param value into the string MLflow stored; ``kfold``: the study
    cross-validates (its trials keep no model, see the module).
    """
    tested = (study.user_attrs.get(StudyAttr.TEST) or {}).get("trial")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    runs = list(tracking.child_runs())
    by_id = {r.run_id: r for r in runs}
    by_trial: dict[int, list[Any]] = defaultdict(list)
    for r in runs:
        if r.trial_number is not None:
            by_trial[r.trial_number].append(r)
    problems: list[Problem] = []
    finished = [t for t in trials.values() if t.state in _FINISHED]
    for t in finished:
        run_id = t.user_attrs.get(TrialAttr.MLFLOW_RUN_ID)
        if not run_id:
            problems.append(Problem(t.number, None, "no run", "the trial has no mlflow_run_id"))
            continue
        run = by_id.get(run_id)
        if run is None:
            problems.append(Problem(t.number, run_id, "missing run", "its MLflow run is not under the study's parent run"))
            continue
        if run.trial_number != t.number:
            problems.append(Problem(t.number, run_id, "wrong trial", f"the run is tagged trial {run.trial_number}"))
        if run.state != t.state.name:
            problems.append(Problem(t.number, run_id, "state", f"Optuna {t.state.name}, MLflow {run.state}"))
        if not _same_value(first_value(t), run.value):
            problems.append(Problem(t.number, run_id, "value", f"Optuna {first_value(t)}, MLflow {run.value}"))
        differing = [k for k, v in t.params.items() if run.params.get(k) != param_repr(v)]
        if differing:
            shown = ", ".join(f"{k} (Optuna {t.params[k]!r}, MLflow {run.params.get(k)!r})" for k in differing[:3])
            problems.append(Problem(t.number, run_id, "params", shown))
        if run.status == RunStatus.RUNNING:
            problems.append(Problem(t.number, run_id, "running", "the trial is over but its MLflow run is RUNNING"))
        if (not kfold or t.number == tested) and not tracking.has_model(run_id):
            why = f" (upload pending: {run.model_pending})" if getattr(run, "model_pending", None) else ""
            problems.append(Problem(t.number, run_id, "no model", f"its MLflow run has no model/best.keras{why}"))
        extra = [r.run_id for r in by_trial[t.number] if r.run_id != run_id]
        if extra:
            problems.append(Problem(t.number, run_id, "duplicate runs", f"{len(extra)} more run(s) tagged with this trial: {', '.join(extra)}"))
    for r in runs:
        trial = trials.get(r.trial_number) if r.trial_number is not None else None
        if trial is None:
            problems.append(Problem(None, r.run_id, "orphan run", f"tagged trial {r.trial_number}, which the study does not have"))
        elif r.status == RunStatus.RUNNING and trial.state not in (TrialState.RUNNING, TrialState.WAITING) and trial.state not in _FINISHED:
            problems.append(Problem(trial.number, r.run_id, "running", f"the trial is {trial.state.name} but its run is RUNNING"))
    return len(finished), len(runs), problems
