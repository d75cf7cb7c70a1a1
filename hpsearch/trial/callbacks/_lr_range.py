"""The learning-rate range test's callback: an exponentially growing rate per batch, the loss of
each batch recorded, smoothed, and training stopped when it diverges.

The method is Leslie N. Smith's LR range test ("Cyclical Learning Rates for Training Neural
Networks", 2017, section 3.3) as fastai's ``LRFinder`` and PyTorch Lightning's ``lr_find`` run it:
the rate grows exponentially from ``start_lr`` to ``end_lr`` over ``steps`` batches, the loss is
smoothed with a bias-corrected exponential moving average, and the test stops when the smoothed
loss exceeds ``diverge_factor`` (4) times the best smoothed loss so far.

One difference: fastai and Lightning fix the average's ``beta`` at 0.98 for their 100 batches, a
memory of ~50 batches, so the smoothed curve lags the loss by half the test. Here the memory is a
tenth of the test (:func:`default_beta`: 0.9 for 100 batches, 0.98 from 500): on a test of a few
dozen batches -- what two epochs of a small dataset give -- the lagging curve hid the fall of the
loss behind the noise of its first batches.
"""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["LearningRateRangeTest", "default_beta", "range_test_rate"]


def range_test_rate(step: int, *, start_lr: float, end_lr: float, steps: int) -> float:
    """The rate of batch ``step`` (0-based): ``start_lr * (end_lr / start_lr) ** (step / (steps - 1))``,
    so the first batch trains at ``start_lr`` and batch ``steps - 1`` at ``end_lr`` exactly."""
    if not 0 < start_lr < end_lr or steps < 2:
        raise ValueError(f"`0 < start_lr < end_lr and steps >= 2` must hold, but got ({start_lr=}, {end_lr=}, {steps=}).")
    return start_lr * (end_lr / start_lr) ** (step / (steps - 1))


def default_beta(steps: int) -> float:
    """The smoothing of a test of ``steps`` batches: a memory of ``steps / 10`` batches
    (``1 - 10 / steps``), within [0.5, 0.98] (fastai's and Lightning's fixed value)."""
    return min(0.98, max(0.5, 1.0 - 10.0 / steps))


class LearningRateRangeTest(keras.callbacks.Callback):
    """Set the optimizer's rate before each batch; record ``(rate, loss, smoothed loss)`` after it.

    The batch's own loss is recorded: the loss tracker is reset before each batch (Keras's batch
    logs otherwise carry the running mean of the epoch so far). Training stops after ``steps``
    batches, or as soon as the smoothed loss exceeds ``diverge_factor`` times its best, or the
    loss is not finite (:attr:`diverged_at` says at which batch).
    """

    def __init__(self, *, start_lr: float, end_lr: float, steps: int, beta: float | None = None, diverge_factor: float = 4.0) -> None:
        super().__init__()
        range_test_rate(0, start_lr=start_lr, end_lr=end_lr, steps=steps)  # validates the arguments
        beta = default_beta(steps) if beta is None else beta
        if not 0.0 <= beta < 1.0 or diverge_factor <= 1.0:
            raise ValueError(f"`0 <= beta < 1 and diverge_factor > 1` must hold, but got ({beta=}, {diverge_factor=}).")
        self.start_lr, self.end_lr, self.steps = float(start_lr), float(end_lr), int(steps)
        self.beta, self.diverge_factor = float(beta), float(diverge_factor)
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.diverged_at: int | None = None
        self._average = 0.0
        self._best = math.inf

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        rate = range_test_rate(len(self.rates), start_lr=self.start_lr, end_lr=self.end_lr, steps=self.steps)
        try:
            self.model.optimizer.learning_rate = rate
        except TypeError as e:  # a model compiled with a LearningRateSchedule (a builder you write)
            raise TypeError(f"the LR range test sets the optimizer's rate per batch, which a learning-rate schedule forbids ({e})") from None
        self.model.reset_metrics()  # the batch logs then hold this batch's loss, not the epoch's mean
        self.rates.append(rate)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.record(float((logs or {}).get("loss", math.nan)))

    def record(self, loss: float) -> None:
        """Record the loss of the batch just trained; stop at the last step or on divergence."""
        step = len(self.losses)
        self.losses.append(loss)
        if not math.isfinite(loss):
            self.smoothed.append(math.nan)
            self._stop(diverged=True)
            return
        self._average = self.beta * self._average + (1.0 - self.beta) * loss
        smooth = self._average / (1.0 - self.beta ** (step + 1))  # bias correction: the average starts at 0
        self.smoothed.append(smooth)
        if step > 0 and smooth > self.diverge_factor * self._best:
            self._stop(diverged=True)
            return
        self._best = min(self._best, smooth)
        if step + 1 >= self.steps:
            self._stop(diverged=False)

    def _stop(self, *, diverged: bool) -> None:
        if diverged:
            self.diverged_at = len(self.losses) - 1
        if self.model is not None:
            self.model.stop_training = True
