"""Every sampler on a tiny study: one worker, and two worker processes sharing one storage.

The trials are :class:`~hpsearch.testing.TrivialRunner` s (the real study loop, storage and budget
lock; no TensorFlow). Also: each sampler's own checks -- a grid over a continuous range is a
configuration error, a grid study stops when its grid is done, QMC shares one seed across
workers, CMA-ES warns on a mostly categorical space, a missing optional package is one line.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

from conftest import write_study
from hpsearch._errors import UsageError
from hpsearch._locations import resolve_locations
from hpsearch.catalog import SAMPLERS
from hpsearch.config import load_study_config
from hpsearch.keys import TrialAttr
from hpsearch.study._loop import count_trials, run_worker
from hpsearch.study._open import load_study, open_study
from hpsearch.study._storage import open_storage
from hpsearch.study._strategies import make_sampler, sampler_seed, sampler_warnings
from hpsearch.testing import TrivialRunner

#: Samplers that need an optional package, and that package.
NEEDS = {"gp": "torch", "cmaes": "cmaes"}
#: 2 optimizers x 3 learning rates x 2 batch sizes = 12 points.
GRID_SPACE = {
    "optimizer": ["adam", "sgd"],
    "learning_rate": {"low": 0.001, "high": 0.003, "step": 0.001},
    "batch_size": [32, 64],
}
SAMPLER_CLASSES = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "nsgaii": "NSGAIISampler",
}
OPTIONS: dict[str, dict[str, Any]] = {"nsgaii": {"population_size": 4}, "cmaes": {"n_startup_trials": 2}}


def _skip_without(name: str) -> None:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])


def _config(tmp_path: Path, name: str, trials: int, *, study_name: str | None = None, **sections: Any) -> Any:
    sections.setdefault("search_space", GRID_SPACE if name == "grid" else None)
    if sections["search_space"] is None:
        del sections["search_space"]
    path = write_study(tmp_path / "s.yaml", sampler={"name": name, **OPTIONS.get(name, {})}, budget={"trials": trials}, **sections)
    return load_study_config(str(path), study_name=study_name)


def _locations(tmp_path: Path) -> Any:
    return resolve_locations(f"sqlite:///{tmp_path}/optuna.db", "sqlite:////unused/mlflow.db")


def _worker(url: str, name: str, rank: int, out: str, ready: Any = None) -> None:
    locations = resolve_locations(url, "sqlite:////unused/mlflow.db")
    study, config = load_study(name, locations, rank=rank, for_worker=True)
    runner = TrivialRunner(config, seconds=0.25)  # long enough that both workers overlap
    if ready is not None:  # start together: a worker slow to spawn must still get a share of the trials
        ready.wait(120)
    run_worker(study, config, runner, locations, target=config.budget.trials, poll_seconds=0.1)
    classes = [c.__name__ for c in type(study.sampler).__mro__]
    Path(out).write_text(json.dumps({"closed": runner.closed, "classes": classes, "seed": sampler_seed(config, rank=rank)}))


def _params(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials if t.state.is_finished()]


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_runs_a_tiny_study_in_one_worker(name: str, tmp_path: Path) -> None:
    _skip_without(name)
    config = _config(tmp_path, name, 6)
    study, config = open_study(config, _locations(tmp_path), data_fingerprint={})
    result = run_worker(study, config, TrivialRunner(config), _locations(tmp_path), target=6, poll_seconds=0.1)
    assert result.reason == "budget" and count_trials(study).complete == 6
    assert isinstance(study.sampler, getattr(optuna.samplers, SAMPLER_CLASSES[name]))
    assert all("learning_rate" in t.params for t in study.trials)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_runs_a_study_with_two_worker_processes(name: str, tmp_path: Path) -> None:
    _skip_without(name)
    study_name = f"{name}-{uuid.uuid4().hex[:6]}"
    config = _config(tmp_path, name, 8, study_name=study_name)
    locations = _locations(tmp_path)
    open_study(config, locations, data_fingerprint={})
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    ready = ctx.Barrier(2)
    procs = [ctx.Process(target=_worker, args=(locations.storage_url, study_name, i, str(outs[i]), ready)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    reports = [json.loads(out.read_text()) for out in outs]
    study = optuna.load_study(study_name=study_name, storage=open_storage(locations.storage_url))
    assert count_trials(study).complete == 8 and len(study.trials) == 8
    assert sorted(n for r in reports for n in r["closed"]) == list(range(8))  # each trial run once
    assert all(SAMPLER_CLASSES[name] in r["classes"] for r in reports)
    assert len({t.user_attrs[TrialAttr.WORKER]["pid"] for t in study.trials}) == 2  # the work was shared
    if name in ("qmc", "grid"):  # one sequence / one shuffled grid shared by both workers
        assert reports[0]["seed"] == reports[1]["seed"] == config.seed
        assert len(set(_params(study))) == 8  # no point suggested twice
    else:
        assert reports[0]["seed"] != reports[1]["seed"]


def test_a_grid_over_a_continuous_range_is_a_configuration_error(tmp_path: Path) -> None:
    space = {**GRID_SPACE, "learning_rate": {"low": 0.001, "high": 0.01, "log": True}}
    with pytest.raises(UsageError) as e:
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler="grid", search_space=space)))
    assert str(e.value) == (
        f"{tmp_path / 's.yaml'}: sampler: the grid sampler needs a discrete search space, but learning_rate is a "
        "continuous range; give it a `step` or a list of choices, or pick another sampler."
    )
    # A continuous knob of a branch is named by its parameter name.
    space = {**GRID_SPACE, "optimizer": {"adam": {}, "sgd": {"momentum": {"low": 0.8, "high": 0.99}}}}
    with pytest.raises(UsageError, match="but sgd.momentum is a continuous range"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler="grid", search_space=space)))


def test_a_grid_study_runs_every_point_once_then_stops(tmp_path: Path) -> None:
    config = _config(tmp_path, "grid", 50)
    locations = _locations(tmp_path)
    study, config = open_study(config, locations, data_fingerprint={})
    result = run_worker(study, config, TrivialRunner(config), locations, target=50, poll_seconds=0.1)
    assert result.reason == "budget" and count_trials(study).complete == 12  # the grid, not the budget
    points = {(t.params["optimizer"], t.params["learning_rate"], t.params["batch_size"]) for t in study.trials}
    assert points == {(o, lr, b) for o in ("adam", "sgd") for lr in (0.001, 0.002, 0.003) for b in (32, 64)}
    assert sampler_warnings(config) == ["grid: the grid has 12 points; the study stops after them, short of 50 trials"]


def test_grid_warns_when_the_budget_covers_part_of_it_or_branches_repeat_points(tmp_path: Path) -> None:
    space = {**GRID_SPACE, "optimizer": {"adam": {}, "sgd": {"momentum": [0.8, 0.9]}}}
    config = _config(tmp_path, "grid", 4, search_space=space)
    assert sampler_warnings(config) == [
        "grid: the budget of 4 trials covers 4 of the 24 grid points (random order)",
        "grid: conditional knobs (sgd.momentum) multiply the grid even where their branch is not picked; "
        "those points repeat a configuration",
    ]


def test_qmc_gets_the_study_seed_in_every_worker_and_resumed_session(tmp_path: Path) -> None:
    config = _config(tmp_path, "qmc", 4)
    seeds = {sampler_seed(config, rank=r, n_existing=n) for r in range(3) for n in (0, 7)}
    assert seeds == {config.seed}
    sampler = make_sampler(config, rank=2, n_existing=5)
    assert sampler._seed == config.seed and sampler._scramble is True
    # every other sampler gets a seed of its own per worker (and per resumed session)
    tpe = _config(tmp_path, "tpe", 4)
    assert len({sampler_seed(tpe, rank=r, n_existing=n) for r in range(3) for n in (0, 7)}) == 6


def test_cmaes_warns_once_when_most_of_the_space_is_categorical_or_conditional(tmp_path: Path) -> None:
    space = {
        "optimizer": {"adam": {}, "sgd": {"momentum": {"low": 0.8, "high": 0.99}}},
        "learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "batch_size": [32, 64],
        "initializer": ["he_normal", "glorot_uniform"],
    }
    config = _config(tmp_path, "cmaes", 4, search_space=space)
    assert sampler_warnings(config) == [
        "cmaes: 4 of the 5 searched parameters are categorical or conditional (optimizer, sgd.momentum, "
        "initializer, batch_size); CMA-ES leaves those to its fallback sampler, so tpe is likely the better "
        "choice for this space"
    ]
    numeric = _config(tmp_path, "cmaes", 4, search_space={"learning_rate": {"low": 0.001, "high": 0.01, "log": True}, "dropout": {"low": 0.0, "high": 0.5}})
    assert sampler_warnings(numeric) == []


@pytest.mark.parametrize(("name", "module", "extra"), [("gp", "torch", "gp"), ("cmaes", "cmaes", "cmaes")])
def test_a_sampler_whose_package_is_missing_is_one_line(name: str, module: str, extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == module else real(m, *a))
    config = _config(tmp_path, name, 4)
    with pytest.raises(UsageError) as e:
        make_sampler(config)
    assert str(e.value) == (
        f"The {name} sampler needs the `{module}` package, which is not installed; "
        f'run pip install "hpsearch[{extra}]", or pick another sampler.'
    )
    assert not (tmp_path / "optuna.db").exists()


def test_sampler_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"sampler.qmc_type: unknown value 'lattice'; expected one of sobol, halton"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler={"name": "qmc", "qmc_type": "lattice"})))
    with pytest.raises(UsageError, match=r"sampler.population_size: expected an integer in \[2, inf\], got 1"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler={"name": "nsgaii", "population_size": 1})))
    with pytest.raises(UsageError, match=r"sampler.seed: unknown key \(known keys: name\)"):
        load_study_config(str(write_study(tmp_path / "s.yaml", sampler={"name": "grid", "seed": 1}, search_space=GRID_SPACE)))
    nsga = make_sampler(_config(tmp_path, "nsgaii", 4))
    assert nsga._population_size == 4
