"""Test support (public, like ``optuna.testing``): the real worker loop with a trivial objective.

:class:`TrivialRunner` stands in for :class:`~hpsearch.trial._runner.TrialRunner`: it samples the study's
real search space, sleeps for ``seconds`` (a stand-in for training), and scores the params with a
cheap deterministic function. The study loop around it -- storage, budget lock, heartbeats,
retries -- is the real one, which is what storage benchmarks and concurrency tests exercise.
:func:`create_study` and :func:`run_trivial_worker` drive it from a storage URL alone
(``scripts/bench_storage.py`` runs one per process); :func:`finished_trials` counts the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from hpsearch._locations import Locations, resolve_locations
from hpsearch.config import StudyConfig
from hpsearch.keys import State, TrialAttr
from hpsearch.space._sample import sample
from hpsearch.trial._outcome import TrialOutcome

__all__ = ["TrivialRunner", "create_study", "finished_trials", "run_trivial_worker"]

#: the loop needs a tracking URI to resolve its locations; a trivial runner never opens it
_NO_TRACKING = "sqlite:////unused/mlflow.db"


class TrivialRunner:
    """A trial runner whose "training" is ``time.sleep(seconds)`` and a formula."""

    def __init__(self, config: StudyConfig, seconds: float = 0.0) -> None:
        self.config = config
        self.seconds = seconds
        self.closed: list[int] = []

    def run(self, trial: Any, *, first_number: int | None = None) -> TrialOutcome:
        params = sample(trial, self.config.search_space)
        if self.seconds:
            time.sleep(self.seconds)
        lr = float(params.get("learning_rate", 1e-3))
        value = 1.0 / (1.0 + (math.log10(lr) + 2.5) ** 2)  # best near lr = 10**-2.5
        trial.report(value, step=1)  # epoch 1 (epoch numbers are 1-based)
        trial.set_user_attr(TrialAttr.EPOCHS_TRAINED, 1)
        return TrialOutcome(number=trial.number, state=State.COMPLETE, params=params, value=value, epochs_trained=1)

    def close(self, outcome: TrialOutcome, *, value: float | None) -> None:
        self.closed.append(outcome.number)


def _locations(storage: str) -> Locations:
    return resolve_locations(storage, _NO_TRACKING)


def create_study(config: StudyConfig, storage: str) -> None:
    """Create ``config``'s study in ``storage`` (any URL hpsearch takes), as ``hpsearch study`` would."""
    from hpsearch.study._open import open_study

    open_study(config, _locations(storage), data_fingerprint={})


def run_trivial_worker(
    storage: str,
    study_name: str,
    *,
    rank: int = 0,
    seconds: float = 0.0,
    poll_seconds: float = 0.05,
    ready: Callable[[], Any] | None = None,
) -> int:
    """Join the study as ``hpsearch worker`` would, with a :class:`TrivialRunner`, until its budget is
    met; ``ready()`` runs once the study is loaded (a barrier). Returns the trials this worker closed."""
    from hpsearch.keys import Tag
    from hpsearch.study._loop import run_worker
    from hpsearch.study._open import load_study

    locations = _locations(storage)
    study, config = load_study(study_name, locations, rank=rank, for_worker=True)
    runner = TrivialRunner(config, seconds=seconds)
    if ready is not None:
        ready()
    run_worker(study, config, runner, locations, target=int(study.user_attrs[Tag.TARGET_TRIALS]), poll_seconds=poll_seconds)
    return len(runner.closed)


def finished_trials(storage: str, study_name: str) -> int:
    """How many trials of the study are COMPLETE or PRUNED."""
    from hpsearch.study._loop import count_trials
    from hpsearch.study._open import load_study

    study, _ = load_study(study_name, _locations(storage))
    return count_trials(study).finished
