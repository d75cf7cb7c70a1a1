"""Sampling: conditional params under their branch only, fixed values complete, retries identical."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest

from hpsearch.catalog import OPTIMIZERS, REGULARIZERS, SCHEDULES, param_name
from hpsearch.config import load_study_config
from hpsearch.space._sample import describe, sample

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def space():
    return load_study_config("cifar10").search_space


def test_every_sample_is_complete_and_conditional(space) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"optimizer": set(), "schedule": set(), "regularizer": set()}
    for _ in range(120):
        trial = study.ask()
        params = sample(trial, space)
        for role, table in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("regularizer", REGULARIZERS)):
            chosen = params[role]
            seen[role].add(chosen)
            # every knob of the chosen branch is present, no knob of another branch is
            for branch, knobs in table.items():
                for knob in knobs:
                    assert (param_name(branch, knob) in params) == (branch == chosen)
        assert set(trial.params) <= set(params)
        study.tell(trial, 0.0)
    assert seen["optimizer"] == set(OPTIMIZERS)
    assert seen["schedule"] == set(space.schedule.names) == set(SCHEDULES) - {"step"}  # the flagship uses multistep
    assert seen["regularizer"] == set(REGULARIZERS)


def test_fixed_values_are_returned_but_not_searched(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        search_space:
          optimizer: {sgd: {momentum: 0.5}}
          learning_rate: {low: 0.001, high: 0.01, log: true}
    """))
    space = load_study_config(str(path)).search_space
    trial = optuna.create_study().ask()
    params = sample(trial, space)
    assert params["optimizer"] == "sgd" and params["sgd.momentum"] == 0.5 and params["sgd.nesterov"] is False
    assert params["dropout"] == 0.25 and params["batch_size"] == 64
    assert set(trial.params) == {"learning_rate"}
    assert 0.001 <= params["learning_rate"] <= 0.01


def test_a_retried_trial_samples_exactly_the_same_params(space) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    first = study.ask()
    original = sample(first, space)
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, study.trials[0])
    retry = study.ask()
    assert retry.number == 1
    assert sample(retry, space) == original


def test_describe_lists_conditions(space) -> None:
    rows = {name: (dist, cond) for name, dist, cond in describe(space)}
    assert rows["sgd.momentum"][1] == "optimizer == 'sgd'"
    assert rows["learning_rate"][0].startswith("float in [0.0001, 0.1] log")
    assert rows["optimizer"][1] == ""


def test_align_choices_follows_the_recorded_order_and_reports_other_sets(tmp_path: Path) -> None:
    from hpsearch.space._sample import align_choices

    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        search_space:
          optimizer: {sgd: {nesterov: [true, false]}, adam: {}, rmsprop: {}}
          batch_size: [32, 64]
          initializer: [he_normal, he_uniform]
    """))
    space = load_study_config(str(path)).search_space
    recorded = {
        "optimizer": ("adam", "rmsprop", "sgd"),  # sorted, as studies stored before the fix sampled it
        "sgd.nesterov": (False, True),
        "batch_size": (32, 64),
        "initializer": ("he_normal", "glorot_uniform"),  # another set: cannot be aligned
    }
    aligned, conflicts = align_choices(space, recorded)
    assert aligned.optimizer.names == ("adam", "rmsprop", "sgd")
    assert dict(aligned.optimizer.branch("sgd").knobs)["nesterov"].choices == (False, True)
    assert aligned.batch_size == space.batch_size and aligned.initializer == space.initializer
    assert conflicts == ["initializer (the study's trials used ['he_normal', 'glorot_uniform'], now ['he_normal', 'he_uniform'])"]
    assert align_choices(space, {}) == (space, [])  # nothing recorded yet: the file's order
