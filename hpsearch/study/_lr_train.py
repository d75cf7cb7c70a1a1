"""The training half of the LR range test (imports TensorFlow): the study's model at the test's
point of the space, fitted with :class:`~hpsearch.trial.callbacks.LearningRateRangeTest`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras

from hpsearch._errors import RuntimeFailure
from hpsearch.data._datasets import Dataset, Pipelines
from hpsearch.models._build import ModelFactory
from hpsearch.models._trial_model import build_trial_model
from hpsearch.tasks._plan import plan_for
from hpsearch.trial.callbacks import LearningRateRangeTest

if TYPE_CHECKING:
    from hpsearch.study._lr_find import LRFindResult

__all__ = ["train_range_test"]


def train_range_test(result: LRFindResult, dataset: Dataset) -> None:
    """Train ``result.params``' model for ``result.steps`` batches of the test, filling ``result``'s curve."""
    from hpsearch.study._workers import configure_gpus

    config, params = result.config, result.params
    pipelines = Pipelines(dataset)
    batch_size = int(params["batch_size"])
    per_epoch = pipelines.steps_per_epoch(batch_size)
    steps = result.steps
    configure_gpus()
    plan = plan_for(config, dataset)
    head = plan.head(params)
    _, knobs = plan.loss_of(params)
    keras.utils.set_random_seed(result.seed)
    model, _ = build_trial_model(
        params,
        factory=ModelFactory(config),
        model=config.model,
        head=head,
        loss_knobs=knobs,
        metrics=plan.compiled,
        input_shape=dataset.input_shape,
        input_scale=dataset.input_scale,
        steps_per_epoch=per_epoch,
        max_epochs=math.ceil(steps / per_epoch),
        seed=result.seed,
        output_bias=plan.target_mean,
    )
    test = LearningRateRangeTest(start_lr=result.start_lr, end_lr=result.end_lr, steps=steps)
    try:
        model.fit(
            pipelines.train(batch_size, seed=result.seed, targets=(head.labels, head.units)),
            epochs=math.ceil(steps / per_epoch),
            callbacks=[test],
            verbose=0,
            shuffle=False,
        )
    except TypeError as e:
        if "LR range test" in str(e):
            raise RuntimeFailure(f"Cannot run the LR range test on this model: {e}.") from None
        raise
    finally:
        keras.backend.clear_session(free_memory=True)
    result.rates, result.losses, result.smoothed = test.rates, test.losses, test.smoothed
    result.diverged_at, result.beta = test.diverged_at, test.beta
