"""The catalog: each option declared once, with its docs and its builder.

Every sampler and pruner the catalog names is built from a study file, with the settings hpsearch
promises, and drives a real study; every builder takes exactly the knobs its entry declares.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from conftest import write_study
from hpsearch.catalog import CONDITIONAL_ROLES, MODELS, PRUNERS, SAMPLERS, SCALAR_ROLES, Catalog, Option, check_input_shape
from hpsearch.config import SamplerConfig, load_study_config
from hpsearch._errors import UsageError
from hpsearch._locations import resolve_locations
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.space._sample import sample
from hpsearch.study._loop import count_trials, run_worker
from hpsearch.study._open import open_study
from hpsearch.study._strategies import make_pruner, make_sampler
from hpsearch.keys import State

SAMPLER_TYPES = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": optuna.samplers.GridSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
}
#: Samplers that need an optional package (``hpsearch[gp]``, ``hpsearch[cmaes]``).
SAMPLER_NEEDS = {"gp": "torch", "cmaes": "cmaes"}
#: A discrete space for the grid sampler (2 optimizers x 3 learning rates x 2 batch sizes).
GRID_SPACE = {
    "optimizer": ["adam", "sgd"],
    "learning_rate": {"low": 0.001, "high": 0.003, "step": 0.001},
    "batch_size": [32, 64],
}
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
                return TrialOutcome(number=trial.number, state=State.PRUNED, params=params, epochs_trained=step + 1)
        return TrialOutcome(number=trial.number, state=State.COMPLETE, params=params, value=final, epochs_trained=4)

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
    if name in SAMPLER_NEEDS:
        pytest.importorskip(SAMPLER_NEEDS[name])
    extra: dict[str, Any] = {"search_space": GRID_SPACE} if name == "grid" else {}
    study, config = _run(tmp_path, sampler={"name": name}, pruner={"name": "none"}, **extra)
    assert isinstance(make_sampler(config), SAMPLER_TYPES[name])
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
    with pytest.raises(UsageError, match="sampler.name: unknown"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler={"name": "tpee"})))


def test_an_unknown_sampler_never_becomes_tpe(tmp_path: Path) -> None:
    """A configuration that skipped the study-file check (e.g. stored by another version) is refused."""
    config = load_study_config(str(write_study(tmp_path / "s.yaml")))
    with pytest.raises(UsageError, match=r"Unknown sampler 'tpee' \(did you mean 'tpe'\?\); expected one of tpe, random, gp"):
        make_sampler(config.model_copy(update={"sampler": SamplerConfig.model_construct(name="tpee", options=())}))


@pytest.mark.parametrize("multivariate", [True, False])
def test_tpe_keeps_its_settings(multivariate: bool, tmp_path: Path) -> None:
    config = load_study_config(
        str(write_study(tmp_path / "s.yaml", sampler={"name": "tpe", "n_startup_trials": 3, "multivariate": multivariate}))
    )
    sampler = make_sampler(config)
    assert (sampler._n_startup_trials, sampler._multivariate, sampler._group) == (3, multivariate, multivariate)
    assert sampler._constant_liar is True


def test_pruners_count_warmup_in_epochs_and_hyperband_spans_max_epochs(tmp_path: Path) -> None:
    def pruner(**section: Any) -> Any:
        return make_pruner(load_study_config(str(write_study(tmp_path / "s.yaml", pruner=section))))

    assert pruner(name="median", n_warmup_steps=2)._n_warmup_steps == 3  # epochs 1-2 never pruned
    assert pruner(name="percentile", n_warmup_steps=0)._n_warmup_steps == 1
    assert pruner(name="threshold", lower=0.1, n_warmup_steps=4)._n_warmup_steps == 5
    config = load_study_config(str(write_study(tmp_path / "s.yaml", pruner={"name": "hyperband", "min_resource": 2})))
    hyperband = make_pruner(config)
    assert (hyperband._min_resource, hyperband._max_resource) == (2, config.training.max_epochs)


CATALOGS: list[Catalog] = [table for table, _ in CONDITIONAL_ROLES.values()] + [SAMPLERS, PRUNERS, MODELS]


def test_importing_the_catalog_imports_no_heavy_library() -> None:
    heavy = "('tensorflow', 'keras', 'optuna', 'mlflow')"
    code = f"import sys, hpsearch.catalog; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda c: c.kind)
def test_every_option_and_knob_has_a_doc(catalog: Catalog) -> None:
    for name in catalog:
        assert catalog.option(name).doc, name
        assert all(knob.doc for knob in catalog[name].values()), name
    assert all(knob.doc for knob in SCALAR_ROLES.values())


def test_an_option_without_docs_is_refused_when_declared() -> None:
    from hpsearch.catalog import Knob

    with pytest.raises(ValueError, match="doc"):
        Option(doc="")
    with pytest.raises(ValueError, match="missing for x"):
        Option(doc="d", knobs={"x": Knob(int, 1)})


@pytest.mark.parametrize("catalog", [SAMPLERS, PRUNERS], ids=lambda c: c.kind)
def test_every_strategy_builder_takes_exactly_its_knobs(catalog: Catalog) -> None:
    for name in catalog:
        taken = set(inspect.signature(catalog.builder(name)).parameters)
        assert taken == set(catalog.context) | set(catalog[name]), name


def test_a_catalog_reads_like_a_table_and_refuses_unknown_knobs() -> None:
    assert list(PRUNERS["percentile"])[0] == "percentile" and "hyperband" in PRUNERS and "nope" not in PRUNERS
    with pytest.raises(KeyError):
        PRUNERS["nope"]
    with pytest.raises(UsageError, match="pruner 'median' has no option 'percentile'"):
        PRUNERS.build("median", {"percentile": 50.0}, max_epochs=3)


def test_the_input_shape_check_belongs_to_the_model_entry() -> None:
    assert check_input_shape("cifar_cnn", (10, 10, 1)) is None
    assert "too small for the cifar_cnn model (at least 10x10); resize them to 10x10 or more" in str(check_input_shape("cifar_cnn", (8, 12, 3)))
    assert "(H, W, C)" in str(check_input_shape("cifar_cnn", (32, 32)))
    with pytest.raises(UsageError, match="Unknown model"):
        check_input_shape("resnet", (32, 32, 3))
