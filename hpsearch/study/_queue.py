"""Param sets queued to run before anything the sampler suggests: a study file's ``enqueue:``
list, ``hpsearch enqueue`` and ``study --enqueue``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hpsearch.keys import TrialAttr

__all__ = ["enqueue_param_sets"]


def enqueue_param_sets(study: Any, sets: Sequence[Mapping[str, Any]], source: str) -> tuple[int, int]:
    """Queue each set (Optuna params, checked: :func:`~hpsearch.config._param_sets.check_param_set`)
    to run before anything the sampler suggests (Optuna's ``enqueue_trial``); a set already queued
    or run is skipped, so queuing again is harmless. Returns ``(queued, skipped)``."""
    before = len(study.get_trials(deepcopy=False))
    for params in sets:
        study.enqueue_trial(dict(params), user_attrs={TrialAttr.ENQUEUED_FROM: source}, skip_if_exists=True)
    queued = len(study.get_trials(deepcopy=False)) - before
    return queued, len(sets) - queued
