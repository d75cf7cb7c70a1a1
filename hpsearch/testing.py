"""Test helpers: run the real worker loop with a trivial objective (no TensorFlow).

:class:`TrivialRunner` stands in for :class:`~hpsearch.trial._runner.TrialRunner`: it samples the study's
real search space, sleeps for ``seconds`` (a stand-in for training), and scores the params with a
cheap deterministic function. The study loop around it -- storage, budget lock, heartbeats,
retries -- is the real one, which is what storage benchmarks and concurrency tests exercise.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hpsearch.config import StudyConfig
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.space._sample import sample
from hpsearch.keys import State, TrialAttr

__all__ = ["TrivialRunner"]


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
