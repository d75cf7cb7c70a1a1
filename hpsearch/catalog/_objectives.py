"""Objectives a multi-objective study can list besides a logged metric: what hpsearch measures on
each trial's trained model. Each is minimized; its builder takes the model and the inputs to time
it on (``MEASURED.build(name, model=model, inputs=batch)``) and returns the value."""

from __future__ import annotations

from hpsearch.catalog._option import Catalog, Option

__all__ = ["MEASURED", "LATENCY_BATCH", "LATENCY_REPEATS"]

#: ``latency_ms`` times ``predict`` on this many validation examples (the first ones: the same
#: sample for every trial), once to warm up, then :data:`LATENCY_REPEATS` times; the median
#: divided by the batch size is the value.
LATENCY_BATCH, LATENCY_REPEATS = 32, 7

MEASURED = Catalog(
    "measured objective",
    {
        "params": Option(
            doc="the model's parameter count, trainable and non-trainable",
            build="hpsearch.trial._measure:parameter_count",
        ),
        "latency_ms": Option(
            doc=(
                f"the trained model's inference time per example on this machine, in ms: the median of "
                f"{LATENCY_REPEATS} timed predictions of a fixed batch of {LATENCY_BATCH} validation examples, after a warm-up call"
            ),
            build="hpsearch.trial._measure:latency_ms",
        ),
    },
    context=("model", "inputs"),
)
