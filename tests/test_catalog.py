"""Every sampler and pruner the catalog names is built from a study file and drives a real study."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from conftest import write_study
from hpsearch.space._catalog import PRUNERS, SAMPLERS
from hpsearch.config._study_config import load_study_config
from hpsearch._locations import resolve_locations
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.space._sample import sample
from hpsearch.study._loop import count_trials, make_pruner, make_sampler, open_study, run_worker

SAMPLER_TYPES = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
PRUNER_TYPES = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
PRUNER_OPTIONS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 2, "n_warmup_steps": 0},
    "percentile": {"percentile": 50.0, "n_startup_trials": 2, "n_warmup_steps": 0},
    "threshold": {"lower": 0.5},
}


class SteppedRunner:
    """Reports a learning curve of 4 steps and honours the pruner (no TensorFlow)."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def run(self, trial: Any, *, first_number: int | None = None) -> TrialOutcome:
        params = sample(trial, self.config.search_space)
        final = 1.0 / (1.0 + (math.log10(float(params["learning_rate"])) + 2.5) ** 2)
        for step in range(4):
            trial.report(final * (step + 1) / 4, step=step)
            if trial.should_prune():
                return TrialOutcome(number=trial.number, state="PRUNED", params=params, epochs_trained=step + 1)
        return TrialOutcome(number=trial.number, state="COMPLETE", params=params, value=final, epochs_trained=4)

    def close(self, outcome: TrialOutcome, *, value: float | None) -> None:
        pass


def test_the_tests_cover_every_catalog_entry() -> None:
    assert set(SAMPLER_TYPES) == set(SAMPLERS) and set(PRUNER_TYPES) == set(PRUNERS)


def _run(tmp_path: Path, **sections: Any) -> tuple[optuna.Study, Any]:
    config = load_study_config(str(write_study(tmp_path / "s.yaml", budget={"trials": 8}, **sections)))
    locations = resolve_locations(f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db")
    study, config = open_study(config, locations, data_fingerprint={})
    study.sampler = make_sampler(config)
    study.pruner = make_pruner(config)
    result = run_worker(study, config, SteppedRunner(config), locations, target=8, poll_seconds=0.1)
    assert result.reason == "budget"
    return study, config


@pytest.mark.parametrize("name", sorted(SAMPLER_TYPES))
def test_every_sampler_is_built_and_runs_a_study(name: str, tmp_path: Path) -> None:
    study, config = _run(tmp_path, sampler={"name": name}, pruner={"name": "none"})
    assert type(make_sampler(config)) is SAMPLER_TYPES[name]
    assert count_trials(study).complete == 8


@pytest.mark.parametrize("name", sorted(PRUNER_TYPES))
def test_every_pruner_is_built_and_runs_a_study(name: str, tmp_path: Path) -> None:
    study, config = _run(tmp_path, sampler={"name": "random"}, pruner={"name": name, **PRUNER_OPTIONS.get(name, {})})
    assert type(make_pruner(config)) is PRUNER_TYPES[name]
    counts = count_trials(study)
    assert counts.finished == 8 and counts.failed == 0
    if name == "threshold":  # every curve starts below 0.5: all pruned at their first step
        assert counts.pruned == 8


def test_an_unknown_sampler_is_a_configuration_error(tmp_path: Path) -> None:
    from hpsearch._errors import UsageError

    with pytest.raises(UsageError, match="sampler.name: unknown"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler={"name": "tpee"})))
