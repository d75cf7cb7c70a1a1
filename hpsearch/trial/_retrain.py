"""Train one param set on all training data for a fixed number of epochs (``hpsearch retrain``, and
the model a K-fold study keeps for its best trial).

The training and validation splits are pooled (for a K-fold study: every fold), so there is no
validation metric: no early stopping, no pruning, no best checkpoint -- the model after the last
epoch is the result. The model is built exactly as a trial builds it
(:func:`~hpsearch.models._trial_model.build_trial_model`, the study's own builder included), its
schedule spanning the study's epoch budget, so each epoch has the rate it had in the trial; a
``reduce_on_plateau`` rate is replayed from the rates the trial logged (``learning_rates``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras

from hpsearch._errors import RuntimeFailure
from hpsearch.config import StudyConfig
from hpsearch.data._pipelines import Pipelines
from hpsearch.data._types import Dataset
from hpsearch.models._build import ModelFactory
from hpsearch.models._trial_model import build_trial_model
from hpsearch.tasks._plan import plan_for
from hpsearch.trial import callbacks as cb
from hpsearch.trial._seeds import seed_everything
from hpsearch.trial._kfold import all_training_data

__all__ = ["Retrained", "fit_on_all"]


@dataclass
class Retrained:
    """A model trained on all training data, and how it was trained."""

    model: keras.Model
    epochs: int
    examples: int  #: training examples per epoch (training + validation splits)
    steps_per_epoch: int  #: optimizer steps per epoch at its batch size
    history: list[dict[str, float]] = field(default_factory=list)  #: per-epoch logs, 1-based ``epoch``


def fit_on_all(
    config: StudyConfig,
    dataset: Dataset,
    params: Mapping[str, Any],
    *,
    epochs: int,
    seed: int,
    learning_rates: Mapping[int, float] | None = None,
    log: Callable[[int, Mapping[str, float]], None] | None = None,
    on_epoch: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> Retrained:
    """The model of ``params`` trained for ``epochs`` epochs on ``dataset``'s training and
    validation splits together, seeded like the trial of seed ``seed`` (weights, augmentation,
    shuffling).

    Args:
        learning_rates: 1-based epoch -> rate, replayed when the schedule reduces on a plateau
            (it has nothing to watch here); ignored for other schedules.
        log: ``log(epoch, metrics)`` after every epoch (1-based), e.g. a run's ``log_epoch``.
        on_epoch: ``on_epoch(epoch, logs)`` after every epoch (0-based, as Keras counts), for progress.

    Raises:
        RuntimeFailure: the loss became NaN or infinite.
    """
    if epochs < 1:
        raise ValueError(f"`epochs >= 1` must hold, but got ({epochs=}).")
    plan = plan_for(config, dataset)
    pipes = Pipelines(all_training_data(dataset))
    head = plan.head(params)
    _, knobs = plan.loss_of(params)
    batch_size = int(params["batch_size"])
    steps = pipes.steps_per_epoch(batch_size)
    seed_everything(seed)
    model, lr_plan = build_trial_model(
        params, factory=ModelFactory(config), model=config.model, head=head, loss_knobs=knobs, metrics=plan.compiled,
        input_shape=dataset.input_shape, input_scale=dataset.input_scale, steps_per_epoch=steps,
        max_epochs=max(config.training.max_epochs, epochs), seed=int(seed), output_bias=plan.target_mean,
    )
    guard, history = cb.NaNGuard(), cb.HistoryRecorder()
    callbacks: list[keras.callbacks.Callback] = [cb.EpochTimer(), cb.StepCounter(), cb.LearningRateLogger(), guard, history]
    if lr_plan.plateau is not None and learning_rates:
        callbacks.insert(0, cb.LearningRateReplay(learning_rates))
    if log is not None:
        callbacks.append(cb.MetricsSink(log))
    if on_epoch is not None:
        callbacks.append(cb.EpochHook(on_epoch))
    model.fit(
        pipes.train(batch_size, seed=int(seed) * 1000, targets=(head.labels, head.units)),
        epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False,
    )
    if guard.diverged_at is not None:
        epoch, batch = guard.diverged_at
        raise RuntimeFailure(
            f"Retraining diverged: the loss became NaN or infinite at epoch {epoch + 1}, batch {batch + 1} "
            f"(learning_rate={float(params['learning_rate']):.3g}); try --epochs {max(epoch, 1)} or another trial's params."
        )
    return Retrained(model, epochs, len(pipes.dataset.train), steps, history.history)
