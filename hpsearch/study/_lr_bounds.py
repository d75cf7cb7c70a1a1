"""From an LR range test's curve (rates, smoothed losses) to a learning-rate range to search.

The two landmarks are the ones the usual LR finders report:

* **steepest fall** -- the rate where the smoothed loss falls fastest per decade of rate, the
  minimum of its slope w.r.t. ``log10(rate)`` (PyTorch Lightning's ``_LRFinder.suggestion``,
  fastai's ``SuggestionMethod.Steep``), searched before the lowest loss. The slope is taken over
  ``n // 20`` points on each side rather than neighbours (``np.gradient``), which on a short test
  follows the noise of single batches. The first tenth of the points is skipped, for this and for
  the lowest loss: the bias-corrected average there rests on a handful of batches (Lightning
  skips 10 of 100).
* **lowest loss** -- the rate at the minimum of the smoothed loss, just before it turns up and
  diverges (fastai's ``SuggestionMethod.Minimum``; Smith's "the loss stops falling").

fastai suggests one rate: the lowest-loss rate / 10, since the minimum already sits at the edge
of divergence. A *range* to search needs a little more room on both sides, so the bounds here are
``[steepest / 10, lowest-loss rate / 3]``: a decade below where training is fastest, and
half a decade below the rate where training breaks down (Smith's CLR ``max_lr`` sits at that edge;
keras-one-cycle's ``LRFinder`` plots the same curve for picking it by eye). Both are rounded to
three significant digits, so the printed numbers are the ones written to a study file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch._errors import RuntimeFailure

__all__ = ["LOW_FACTOR", "HIGH_FACTOR", "SuggestedBounds", "suggest_bounds"]

#: the low bound is the steepest-fall rate divided by this
LOW_FACTOR = 10.0
#: the high bound is the lowest-loss rate divided by this
HIGH_FACTOR = 3.0
#: the smoothed loss must fall by this fraction of its level before its minimum: less is batch noise
MIN_FALL = 0.02
#: fewest finite points a curve needs for a suggestion
MIN_POINTS = 5


@dataclass(frozen=True)
class SuggestedBounds:
    """A learning-rate range to search, and the landmarks of the curve it comes from."""

    low: float
    high: float
    steepest: float  #: the rate where the smoothed loss falls fastest
    lowest: float  #: the rate of the lowest smoothed loss


def _round(x: float) -> float:
    return float(f"{x:.3g}")


def _slope(loss: np.ndarray, x: np.ndarray, *, span: int) -> np.ndarray:
    """d loss / d x at each point, over ``span`` points on each side (one-sided at the ends): a
    difference over neighbours only (``np.gradient``) follows batch-to-batch noise on short tests."""
    n = len(loss)
    before = np.clip(np.arange(n) - span, 0, n - 1)
    after = np.clip(np.arange(n) + span, 0, n - 1)
    return (loss[after] - loss[before]) / (x[after] - x[before])


def suggest_bounds(rates: Sequence[float], smoothed: Sequence[float]) -> SuggestedBounds:
    """Suggest ``[low, high]`` from a range test's ``rates`` and smoothed losses (see the module).

    Raises:
        RuntimeFailure: fewer than :data:`MIN_POINTS` finite points, or a loss that never fell
            (by :data:`MIN_FALL` of its level: less is the noise of single batches).
    """
    pairs = [(r, s) for r, s in zip(rates, smoothed) if math.isfinite(s) and r > 0]
    if len(pairs) < MIN_POINTS:
        raise RuntimeFailure(
            f"The LR range test recorded only {len(pairs)} finite losses (at least {MIN_POINTS} are needed); "
            "lower --start-lr or raise --steps."
        )
    lr = np.array([r for r, _ in pairs])
    loss = np.array([s for _, s in pairs])
    skip = len(loss) // 10  # the average rests on a handful of batches there
    lowest_at = skip + int(np.argmin(loss[skip:]))
    slope = _slope(loss, np.log10(lr), span=max(1, len(loss) // 20))
    window = slope[skip : lowest_at + 1]  # the fall happens before the minimum
    fall = 1.0 - float(loss[lowest_at]) / float(loss[skip : lowest_at + 1].max())
    if window.size == 0 or float(window.min()) >= 0 or fall < MIN_FALL:
        raise RuntimeFailure(
            f"The loss did not fall between learning rates {lr[0]:.3g} and {lr[-1]:.3g}; "
            "lower --start-lr, raise --end-lr or --steps, or check the data."
        )
    steepest = float(lr[skip + int(np.argmin(window))])
    lowest = float(lr[lowest_at])
    low, high = _round(steepest / LOW_FACTOR), _round(lowest / HIGH_FACTOR)
    if high <= low:  # the minimum came right after the steepest fall: keep a decade to search
        low = _round(high / LOW_FACTOR)
    return SuggestedBounds(low=low, high=high, steepest=_round(steepest), lowest=_round(lowest))
