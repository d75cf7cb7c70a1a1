"""``hpsearch retrain NAME`` as a library call: open the study and its MLflow side as they are, load
the study's data (from where it was, or ``--data-dir`` / ``--dataset``), check it is the study's
data, then retrain the best trial (:func:`hpsearch.study._retrain.retrain_best`).

Everything that can be refused is checked before anything is written: an unknown study, one
without a completed trial, a missing tracking store, data of another shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch._locations import resolve_locations
from hpsearch.results._read import open_tracking_read_only
from hpsearch.config import StudyConfig
from hpsearch.data._types import Dataset
from hpsearch.study._data_record import data_note, load_data, recorded_data
from hpsearch.study._model_check import import_builder
from hpsearch.study._open import load_study
from hpsearch.study._reporter import Reporter
from hpsearch.study._retrain import RetrainResult, best_to_retrain, retrain_best, retrain_epochs

__all__ = ["RetrainPlan", "open_retrain", "run_retrain", "retrain_study"]


@dataclass
class RetrainPlan:
    """A retrain, checked and ready: nothing is written until :func:`run_retrain`."""

    study: optuna.Study
    config: StudyConfig
    tracking: Any
    data: Dataset
    trial: FrozenTrial  #: the trial to retrain (the best, or the one asked for)
    epochs: int
    epochs_from: str
    requested_epochs: int | None
    data_note: str | None

    @property
    def examples(self) -> int:
        """Training examples per epoch: the training and validation splits."""
        return len(self.data.train) + len(self.data.validation)


def open_retrain(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    data_dir: str | None = None,
    dataset: str | None = None,
    test: str | None = None,
    epochs: int | None = None,
    trial: int | None = None,
) -> RetrainPlan:
    """Open everything a retrain of study ``name`` (its best trial, or completed trial number
    ``trial``) needs, checking it and writing nothing."""
    locations = resolve_locations(storage, tracking_uri)
    study, config = load_study(name, locations)
    best = best_to_retrain(study, trial)
    config, data_dir = recorded_data(study, config, data_dir, dataset)
    if test:
        config = config.with_overrides(test=test)
    tracking = open_tracking_read_only(study, config, locations)
    import_builder(config)
    data = load_data(config, data_dir)
    note = data_note(study, data)  # data of another shape is refused, as a worker refuses it
    count, source = retrain_epochs(best, config, epochs)
    return RetrainPlan(study, config, tracking, data, best, count, source, epochs, note)


def run_retrain(plan: RetrainPlan, reporter: Reporter | None = None) -> RetrainResult:
    """Retrain as planned and record it (see :func:`hpsearch.study._retrain.retrain_best`)."""
    result = retrain_best(
        plan.study, plan.config, plan.tracking, plan.data, epochs=plan.requested_epochs, reporter=reporter, trial=plan.trial.number
    )
    result.data_note = plan.data_note
    return result


def retrain_study(name: str, *, reporter: Reporter | None = None, **options: Any) -> RetrainResult:
    """Retrain the best trial of study ``name`` on training + validation data: :func:`open_retrain`
    (``options`` are its keyword arguments), then :func:`run_retrain`."""
    return run_retrain(open_retrain(name, **options), reporter)
