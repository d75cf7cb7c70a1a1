"""Which trial is best: the one ranking every part of hpsearch uses (the session's test
evaluation, ``show``, the tables, the report, ``export``).

Completed trials rank by value in the study's direction, ties by trial number (as Optuna's
``study.best_trial``); in a full table pruned trials follow by their last value, then failed,
running and waiting ones. A study without a completed trial has no best trial (``None``), never
an exception.
"""

from __future__ import annotations

from collections.abc import Iterable

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["rank_key", "ranked", "best_trial", "best_value"]

_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2, TrialState.RUNNING: 3, TrialState.WAITING: 4}


def rank_key(trial: FrozenTrial, maximize: bool) -> tuple[int, float, int]:
    """Sort key, best first: state (complete, pruned, failed, running, waiting), then value in the
    study's direction (a missing or NaN value last), then trial number."""
    value = trial.value if trial.value is not None else float("nan")
    score = float("inf") if value != value else (-value if maximize else value)
    return (_STATE_ORDER.get(trial.state, 9), score, trial.number)


def _maximize(direction: StudyDirection) -> bool:
    return direction == StudyDirection.MAXIMIZE


def ranked(trials: Iterable[FrozenTrial], direction: StudyDirection, *, top: int | None = None) -> list[FrozenTrial]:
    """The completed trials with a value, best first (at most ``top``)."""
    maximize = _maximize(direction)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return sorted(complete, key=lambda t: rank_key(t, maximize))[:top]


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best completed trial, or ``None`` when no trial has completed."""
    best = ranked(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), study.direction, top=1)
    return best[0] if best else None


def best_value(trials: Iterable[FrozenTrial], direction: StudyDirection) -> float | None:
    """The best completed value among ``trials`` (a study summary's column), or ``None``."""
    best = ranked(trials, direction, top=1)
    return best[0].value if best else None
