"""Which trial is best: the one ranking every part of hpsearch uses (the session's test
evaluation, ``show``, the tables, the report, ``export``).

Completed trials rank by value in the study's direction, equal values by the tie-breaker at
their best epoch (``val_loss``, lower first: :attr:`~hpsearch.config.ObjectiveConfig.tie_break`),
then by trial number (as Optuna's ``study.best_trial``); in a full table pruned trials follow by their last value, then failed,
running and waiting ones. A study without a completed trial has no best trial (``None``), never
an exception.

A multi-objective study ranks by its *first* objective (its "best" trial is the best by that
one; ties go to the next objectives, so the best trial is on the front); :func:`pareto_front`
gives the trials no other trial beats on every objective.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.keys import TrialAttr

__all__ = ["rank_key", "maximizing", "ranked", "best_trial", "best_value", "first_value", "pareto_front", "objective_names"]

_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2, TrialState.RUNNING: 3, TrialState.WAITING: 4}


def first_value(trial: FrozenTrial) -> float | None:
    """The trial's value, or its first objective's in a multi-objective study (``trial.value``
    raises there); ``None`` when it has none."""
    return trial.values[0] if trial.values else None


def rank_key(trial: FrozenTrial, maximize: bool | Sequence[bool]) -> tuple[float, ...]:
    """Sort key, best first: state (complete, pruned, failed, running, waiting), then value in the
    study's direction (a missing or NaN value last), then the tie-breaker recorded at the trial's
    best epoch (lower first; none last), then trial number.

    ``maximize`` per objective (a multi-objective study): ranked by the first objective, ties by
    the next ones -- so the best trial is always on the Pareto front.
    """
    ways = [maximize] if isinstance(maximize, bool) else list(maximize)
    values = list(trial.values or [])[: len(ways)] or [float("nan")]
    scores = [float("inf") if v is None or v != v else (-v if up else v) for v, up in zip(values, ways)]
    tie = trial.user_attrs.get(TrialAttr.TIE_BREAK)
    return (_STATE_ORDER.get(trial.state, 9), *scores, float("inf") if tie is None else float(tie), trial.number)


def _maximize(direction: StudyDirection) -> bool:
    return direction == StudyDirection.MAXIMIZE


def maximizing(directions: Sequence[StudyDirection]) -> bool | tuple[bool, ...]:
    """:func:`rank_key`'s ``maximize`` for a study's directions."""
    return _maximize(directions[0]) if len(directions) == 1 else tuple(map(_maximize, directions))


def ranked(
    trials: Iterable[FrozenTrial], direction: StudyDirection | Sequence[StudyDirection], *, top: int | None = None
) -> list[FrozenTrial]:
    """The completed trials with a value, best first (at most ``top``); ``direction``: the study's
    (one, or a multi-objective study's list: ranked by the first, ties by the next)."""
    maximize = maximizing([direction] if isinstance(direction, StudyDirection) else direction)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    return sorted(complete, key=lambda t: rank_key(t, maximize))[:top]


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best completed trial (by its first objective), or ``None`` when no trial has completed."""
    best = ranked(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), study.directions, top=1)
    return best[0] if best else None


def best_value(trials: Iterable[FrozenTrial], direction: StudyDirection) -> float | None:
    """The best completed (first) value among ``trials`` (a study summary's column), or ``None``."""
    best = ranked(trials, direction, top=1)
    return first_value(best[0]) if best else None


def _losses(trial: FrozenTrial, directions: Sequence[StudyDirection]) -> tuple[float, ...]:
    return tuple(-v if _maximize(d) else v for v, d in zip(trial.values, directions))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and a != b


def pareto_front(trials: Iterable[FrozenTrial], directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """The completed trials no other completed trial dominates (as good on every objective, better
    on one), ranked by the first objective -- the trials of Optuna's ``study.best_trials``.

    Trials with a missing or non-finite value are left out; two trials with equal values are both on it.
    """
    scored = [
        (t, _losses(t, directions))
        for t in trials
        if t.state == TrialState.COMPLETE and t.values and len(t.values) == len(directions) and all(map(math.isfinite, t.values))
    ]
    front = [t for t, loss in scored if not any(_dominates(other, loss) for _, other in scored)]
    return sorted(front, key=lambda t: rank_key(t, maximizing(directions)))


def objective_names(study: optuna.Study, fallback: str = "value") -> list[str]:
    """The objectives' names (recorded with a multi-objective study); ``[fallback]`` for one objective."""
    names = study.metric_names
    if names is None or len(names) != len(study.directions):
        return [fallback] if len(study.directions) == 1 else [f"value_{i}" for i in range(len(study.directions))]
    return list(names)
