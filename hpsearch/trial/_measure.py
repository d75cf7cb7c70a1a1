"""What a multi-objective study measures on a trial's trained model (:data:`~hpsearch.catalog.MEASURED`),
and the trial's objective values.

``latency_ms`` is measured the same way for every trial of a study: ``predict_on_batch`` of the
first :data:`~hpsearch.catalog.LATENCY_BATCH` validation examples (the same ones each time), one
warm-up call (it traces the predict function), then :data:`~hpsearch.catalog.LATENCY_REPEATS`
timed calls; the median, divided by the batch size, in milliseconds per example. It measures this
machine under its current load: compare trials of one study run on one machine.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from hpsearch.catalog import LATENCY_REPEATS, MEASURED
from hpsearch.config._objectives import Objective

__all__ = ["parameter_count", "latency_ms", "objective_values"]


def parameter_count(*, model: keras.Model, inputs: Any) -> float:
    """Trainable and non-trainable parameters of ``model``."""
    return float(model.count_params())


def _rows(inputs: Any) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs
    return int(first.shape[0])


def latency_ms(*, model: keras.Model, inputs: Any) -> float:
    """Median milliseconds per example of ``model.predict_on_batch(inputs)`` after a warm-up call."""
    model.predict_on_batch(inputs)  # warm-up: traces the predict function
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        model.predict_on_batch(inputs)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / _rows(inputs)


def objective_values(
    objectives: Sequence[Objective], row: Mapping[str, float], model: keras.Model, inputs: Any
) -> tuple[list[float] | None, str | None]:
    """Each objective's value: a metric's at the trial's best epoch (``row``), a measured one's on
    ``model``. Returns ``(values, None)``, or ``(None, why)`` when a metric has no finite value."""
    values: list[float] = []
    for o in objectives:
        if o.measured:
            values.append(float(MEASURED.build(o.metric, model=model, inputs=inputs)))
            continue
        value = row.get(o.metric)
        if value is None or not math.isfinite(value):
            logged = ", ".join(k for k in row if k != "epoch")
            return None, f"objective {o.metric} has no finite value at the best epoch {int(row['epoch'])} (logged: {logged})"
        values.append(float(value))
    return values, None
