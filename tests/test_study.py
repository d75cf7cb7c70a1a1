"""Studies: budgets, pruning, failures, continuation and the same-study guard, end to end in-process."""

from __future__ import annotations

import contextlib
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import QUICK_STUDY, unwritable, write_study
from mlflow import MlflowClient

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import resolve_locations
from hpsearch.results._read import check_study
from hpsearch.study._reporter import NullReporter
from hpsearch.study._session import StudyRequest, run_study
from hpsearch.study._strategies import make_sampler
from hpsearch.tracking._tracking import normalize_tracking_uri

COMPLETE, PRUNED, FAIL = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def request(tmp_path: Path, cifar_dir: Path, **overrides) -> StudyRequest:
    sections = overrides.pop("sections", {})
    path = write_study(tmp_path / "quick.yaml", **sections)
    return StudyRequest(study=str(path), data_dir=str(cifar_dir), **overrides)


def load(name: str = "quick") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=resolve_locations().storage_url)


def mlflow_client() -> MlflowClient:
    return MlflowClient(normalize_tracking_uri(resolve_locations().tracking_uri))


@pytest.mark.slow
def test_pruning_really_prunes(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    sections = {
        "pruner": {"name": "threshold", "lower": 2.0},  # accuracy is never >= 2: prune at the first report
        "training": {"max_epochs": 3, "early_stopping_patience": 5},
    }
    summary = run_study(request(tmp_path, cifar_dir, sections=sections))
    trials = load().trials
    assert [t.state for t in trials] == [PRUNED, PRUNED]
    assert summary.counts.pruned == 2 and summary.stop_reason == "budget"
    for t in trials:
        assert t.user_attrs[TrialAttr.EPOCHS_TRAINED] == 1 and list(t.intermediate_values) == [1]
        run = mlflow_client().get_run(t.user_attrs[TrialAttr.MLFLOW_RUN_ID])
        assert run.data.tags["hpsearch.state"] == "PRUNED" and run.info.status == "FINISHED"
        assert len(mlflow_client().get_metric_history(run.info.run_id, "val_accuracy")) == 1
    assert summary.test_metrics is None  # no completed trial to test


@pytest.mark.slow
def test_a_nan_trial_fails_and_the_study_goes_on(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    sections = {"search_space": {"optimizer": "sgd", "learning_rate": [1.0e30, 1.0e-3], "batch_norm": "none"}}

    def enqueue(config, locations, study, tracking) -> None:
        study.enqueue_trial({"learning_rate": 1.0e30})
        study.enqueue_trial({"learning_rate": 1.0e-3})
        study.enqueue_trial({"learning_rate": 1.0e-3})

    summary = run_study(request(tmp_path, cifar_dir, sections=sections), on_ready=enqueue)
    trials = load().trials
    assert [t.state for t in trials] == [FAIL, COMPLETE, COMPLETE]
    assert trials[0].user_attrs[TrialAttr.FAIL_REASON].startswith("diverged: loss became NaN or infinite")
    assert summary.counts.finished == 2 and summary.counts.failed == 1
    assert mlflow_client().get_run(trials[0].user_attrs[TrialAttr.MLFLOW_RUN_ID]).info.status == "FAILED"
    test = summary.test_metrics
    assert test is not None and test["trial"] == summary.best.number and 0.0 <= test["test_accuracy"] <= 1.0
    parent = mlflow_client().get_run(summary.parent_run_id)
    assert parent.data.metrics["test_accuracy"] == pytest.approx(test["test_accuracy"])
    assert parent.info.status == "FINISHED"
    assert [a.path for a in mlflow_client().list_artifacts(summary.parent_run_id)] == ["study.yaml"]


@pytest.mark.slow
def test_consecutive_failures_stop_the_study(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    sections = {
        "search_space": {"optimizer": "sgd", "learning_rate": 1.0e30, "batch_norm": "none"},
        "budget": {"trials": 5, "max_consecutive_failures": 2},
    }
    with pytest.raises(RuntimeFailure, match="2 trials failed in a row, stopping the study. Last: trial 1: diverged"):
        run_study(request(tmp_path, cifar_dir, sections=sections))
    assert [t.state for t in load().trials] == [FAIL, FAIL]
    runs = mlflow_client().search_runs([mlflow_client().get_experiment_by_name("quick").experiment_id])
    assert {r.info.status for r in runs} == {"FAILED"}  # trial runs and the parent run


@pytest.mark.slow
def test_running_again_continues_to_the_new_total(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    # the study file's enqueue: set runs first, once: running the file again does not queue it again
    queued = {"sections": {"enqueue": [{"optimizer": "sgd", "learning_rate": 0.005}]}}
    first = run_study(request(tmp_path, cifar_dir, trials=1, **queued))
    assert first.counts.finished == 1
    second = run_study(request(tmp_path, cifar_dir, trials=2, **queued))
    trials = load().trials
    assert [t.number for t in trials] == [0, 1] and second.counts.finished == 2
    assert {k: trials[0].params[k] for k in ("optimizer", "learning_rate")} == {"optimizer": "sgd", "learning_rate": 0.005}
    assert trials[0].user_attrs["hpsearch.enqueued_from"].endswith("quick.yaml (enqueue:)")
    assert "hpsearch.enqueued_from" not in trials[1].user_attrs
    # re-seeding mixes in the trial count: the resumed run does not replay trial 0's draw
    assert trials[0].params["learning_rate"] != trials[1].params["learning_rate"]
    assert second.parent_run_id == first.parent_run_id
    assert run_study(request(tmp_path, cifar_dir, trials=2)).counts.finished == 2  # budget met: nothing more
    # The parent run has the test metrics once per best trial, at that trial's number: the third
    # invocation changed nothing and logged nothing.
    bests = {first.best.number, second.best.number}
    history = mlflow_client().get_metric_history(first.parent_run_id, "test_loss")
    assert sorted(m.step for m in history) == sorted(bests)
    assert load().user_attrs["hpsearch.test_metrics"]["trial"] == second.best.number


def test_sampler_seed_depends_on_rank_and_progress(tmp_path: Path) -> None:
    from hpsearch.config import load_study_config

    config = load_study_config(str(write_study(tmp_path / "quick.yaml")))
    draws = set()
    for rank, n in ((0, 0), (0, 5), (1, 0)):
        study = optuna.create_study(sampler=make_sampler(config, rank=rank, n_existing=n))
        draws.add(study.ask().suggest_float("x", 0, 1))
    assert len(draws) == 3


@pytest.mark.slow
def test_a_changed_study_is_refused_and_nothing_is_written(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    run_study(request(tmp_path, cifar_dir, trials=1))
    before = load()
    n_runs = len(mlflow_client().search_runs([mlflow_client().get_experiment_by_name("quick").experiment_id]))
    with pytest.raises(UsageError) as err:
        run_study(request(tmp_path, cifar_dir, trials=2, epochs=3))
    message = str(err.value)
    assert "training.max_epochs (was 2, now 3)" in message and "--fresh" in message and "--study-name" in message
    after = load()
    assert len(after.trials) == len(before.trials) and after.user_attrs == before.user_attrs
    assert len(mlflow_client().search_runs([mlflow_client().get_experiment_by_name("quick").experiment_id])) == n_runs

    with pytest.raises(UsageError, match="search_space.dropout"):
        run_study(request(tmp_path, cifar_dir, sections={"search_space": {"dropout": 0.3}}))

    # --fresh replaces it; the old MLflow runs stay browsable under a renamed experiment
    fresh = run_study(request(tmp_path, cifar_dir, trials=1, epochs=3, fresh=True))
    assert fresh.counts.finished == 1 and len(load().trials) == 1
    assert load().user_attrs[StudyAttr.IDENTITY]["training"]["max_epochs"] == 3
    names = [e.name for e in mlflow_client().search_experiments()]
    assert "quick" in names and any(n.startswith("quick (replaced ") for n in names)

    # a new --study-name is another study, side by side
    other = run_study(request(tmp_path, cifar_dir, trials=1, epochs=2, study_name="quick-b"))
    assert other.config.name == "quick-b" and len(load("quick-b").trials) == 1


def growing_rss():
    """Stands in for the worker's memory reading: 100 MB more at every look (a leaking worker)."""
    size = [1000 * 2**20]

    def rss() -> int:
        size[0] += 100 * 2**20
        return size[0]

    return rss


@pytest.mark.slow
def test_a_grown_worker_stops_between_trials_to_be_replaced(
    store: Path, tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hpsearch.study._loop._rss", growing_rss())
    sections = {"memory": {"max_growth": 0.05}, "budget": {"trials": 3}}
    summary = run_study(request(tmp_path, cifar_dir, sections=sections, recycle=True))
    # baseline after trial 1, +10% > 5% before trial 3: stop between trials
    assert summary.stop_reason == "recycle" and summary.counts.finished == 2
    assert summary.test_metrics is None  # not finalized: the replacement process carries on
    assert mlflow_client().get_run(summary.parent_run_id).info.status == "RUNNING"
    # library callers never recycle: the same study simply runs on
    done = run_study(request(tmp_path, cifar_dir, sections=sections))
    assert done.stop_reason == "budget" and done.counts.finished == 3
    assert mlflow_client().get_run(done.parent_run_id).info.status == "FINISHED"


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("folder", "what"), [("checkpoints", "checkpoint folder"), ("artifacts", "MLflow artifact folder")])
def test_an_unwritable_folder_stops_the_study_before_its_first_trial(
    store: Path, tmp_path: Path, cifar_dir: Path, folder: str, what: str
) -> None:
    with unwritable(store / folder / "quick"):
        with pytest.raises(RuntimeFailure) as err:
            run_study(request(tmp_path, cifar_dir))
    message = str(err.value)
    assert message.startswith(f"Cannot write to the {what} {store / folder / 'quick'} (") and "make it writable" in message
    assert not (store / "optuna.db").exists() and not (store / "mlflow.db").exists()  # no trial, nothing written


def test_an_artifact_store_that_refuses_study_yaml_is_one_error(
    store: Path, tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hpsearch.study._session._check_folders", lambda *args: None, raising=False)  # unwritable right after the check
    with unwritable(store / "artifacts" / "quick"):
        with pytest.raises(RuntimeFailure, match=r"^MLflow's artifact store did not accept study.yaml \(\w+Error: .*quick"):
            run_study(request(tmp_path, cifar_dir))
    parent = load().user_attrs["hpsearch.mlflow_parent_run_id"]
    assert mlflow_client().get_run(parent).info.status == "FAILED"


@pytest.mark.slow
def test_failures_in_a_row_are_counted_across_the_worker_replacing_itself(
    store: Path, tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args, **kwargs):
        raise MemoryError("simulated: out of memory")

    monkeypatch.setattr("hpsearch.trial._runner.build_trial_model", out_of_memory)
    monkeypatch.setattr("hpsearch.study._loop._rss", growing_rss())  # the worker recycles every second trial
    sections = {"memory": {"max_growth": 0.05}, "budget": {"trials": 5, "max_consecutive_failures": 3}}
    replaced = 0
    with pytest.raises(RuntimeFailure, match="3 trials failed in a row, stopping the study. Last: trial 2: MemoryError"):
        for replaced in range(5):  # what the CLI does on "recycle": the same command in the same process
            assert run_study(request(tmp_path, cifar_dir, sections=sections, recycle=True)).stop_reason == "recycle"
    assert replaced == 1 and [t.state for t in load().trials] == [FAIL, FAIL, FAIL]


class Messages(NullReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.slow
def test_models_the_artifact_store_refused_are_kept_and_stored_by_the_next_run(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    artifacts = store / "artifacts" / "quick"
    first, locked = Messages(), contextlib.ExitStack()
    with locked:  # writable at the start (checked), then locked while the trial trains
        summary = run_study(
            request(tmp_path, cifar_dir, trials=1),
            reporter_factory=lambda *args: first,
            on_ready=lambda *args: locked.enter_context(unwritable(artifacts)),
        )
    [trial] = load().trials
    assert trial.state == COMPLETE and summary.counts.complete == 1  # the result stands
    kept = store / "checkpoints" / "quick" / "trial-00000"
    assert (kept / "best.keras").is_file() and (kept / "pending-upload.json").is_file()  # not deleted
    refused = [line for line in first.lines if line.startswith("trial 0: ") and "model/best.keras" in line]
    assert len(refused) == 1 and str(artifacts) in refused[0] and "Error" in refused[0], first.lines  # where, and why
    assert summary.pending is not None and summary.pending.startswith("The models of trial(s) 0 are not in MLflow yet")
    assert summary.test_metrics is None
    assert mlflow_client().get_run(summary.parent_run_id).info.status == "FAILED"  # not left RUNNING
    _, _, problems = check_study("quick", None, None)
    assert [(p.trial, p.kind) for p in problems] == [(0, "no model")] and "upload pending" in problems[0].detail

    second = Messages()
    again = run_study(request(tmp_path, cifar_dir, trials=1), reporter_factory=lambda *args: second)  # the folder is writable again
    assert any(line.startswith("trial 0: stored ") and "model/best.keras" in line for line in second.lines), second.lines
    assert again.pending is None and not kept.exists()
    assert again.test_metrics is not None and again.test_metrics["trial"] == 0
    assert mlflow_client().get_run(again.parent_run_id).info.status == "FINISHED"
    assert check_study("quick", None, None)[2] == []
    run = mlflow_client().get_run(trial.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert "hpsearch.model_pending" not in run.data.tags
    assert {a.path for a in mlflow_client().list_artifacts(run.info.run_id, "model")} == {"model/best.keras"}


# ----------------------------------------------------------------------------- many workers, one study

import json as _json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from hpsearch.config import load_study_config, parse_study_dict  # noqa: E402
from hpsearch.space._sample import sample  # noqa: E402
from hpsearch.study._storage import open_storage  # noqa: E402
from hpsearch.study._loop import count_trials, run_worker  # noqa: E402
from hpsearch.study._open import load_study, open_study  # noqa: E402
from hpsearch.testing import TrivialRunner  # noqa: E402
from hpsearch.keys import StudyAttr, Tag, TrialAttr

POSTGRES = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
REQUIRE = os.environ.get("HPSEARCH_REQUIRE_SERVICES") == "1"


def _backends(*kinds: str) -> list:
    out = []
    for kind in kinds:
        if kind == "postgresql":
            marks = [pytest.mark.postgres]
            if not POSTGRES and not REQUIRE:
                marks.append(pytest.mark.skip(reason="HPSEARCH_TEST_POSTGRES_URL not set"))
            out.append(pytest.param(kind, marks=marks))
        else:
            out.append(kind)
    return out


def _url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/optuna.db"
    if kind == "journal":
        return f"journal:///{tmp_path}/optuna.log"
    assert POSTGRES, "HPSEARCH_REQUIRE_SERVICES=1 but HPSEARCH_TEST_POSTGRES_URL is not set"
    return POSTGRES


def _trivial_worker(url: str, name: str, rank: int, seconds: float, out: str) -> None:
    locations = resolve_locations(url, "sqlite:////unused/mlflow.db")
    study, config = load_study(name, locations, rank=rank, for_worker=True)
    runner = TrivialRunner(config, seconds=seconds)
    run_worker(study, config, runner, locations, target=int(study.user_attrs[Tag.TARGET_TRIALS]), poll_seconds=0.2)
    Path(out).write_text(_json.dumps(runner.closed))


@pytest.mark.parametrize("kind", _backends("sqlite", "journal", "postgresql"))
@pytest.mark.slow
def test_workers_in_parallel_run_exactly_the_budget(kind: str, tmp_path: Path) -> None:
    name = f"par-{uuid.uuid4().hex[:8]}"
    config = load_study_config(str(write_study(tmp_path / "p.yaml", budget={"trials": 24})), study_name=name)
    locations = resolve_locations(_url(kind, tmp_path), "sqlite:////unused/mlflow.db")
    open_study(config, locations, data_fingerprint={})
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"w{i}.json" for i in range(4)]
    procs = [ctx.Process(target=_trivial_worker, args=(locations.storage_url, name, i, 0.05, str(outs[i]))) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
        assert p.exitcode == 0
    closed = [n for out in outs for n in _json.loads(out.read_text())]
    study = optuna.load_study(study_name=name, storage=open_storage(locations.storage_url))
    assert count_trials(study).finished == 24 and len(study.trials) == 24  # not one more, not one less
    assert sorted(closed) == list(range(24))  # every trial run exactly once, by exactly one worker
    assert sum(1 for out in outs if _json.loads(out.read_text())) >= 2  # the work was shared


@pytest.mark.parametrize("kind", _backends("sqlite", "postgresql"))
def test_a_silent_worker_on_another_machine_has_its_trial_retried(kind: str, tmp_path: Path) -> None:
    name = f"hb-{uuid.uuid4().hex[:8]}"
    config = load_study_config(
        str(write_study(tmp_path / "h.yaml", budget={"trials": 2}, heartbeat={"interval": 1, "grace_period": 2})), study_name=name
    )
    locations = resolve_locations(_url(kind, tmp_path), "sqlite:////unused/mlflow.db")
    study, _ = open_study(config, locations, data_fingerprint={})
    lost = study.ask()
    sample(lost, config.search_space)
    lost.set_user_attr(TrialAttr.WORKER, {"host": "machine-b", "pidns": 1, "pid": 4242, "started": 0.0})
    study._storage.record_heartbeat(lost._trial_id)  # then machine-b goes silent
    start = time.monotonic()
    result = run_worker(study, config, TrivialRunner(config), locations, target=2, poll_seconds=0.2, deadline=time.time() + 30)
    trials = optuna.load_study(study_name=name, storage=open_storage(locations.storage_url)).trials
    assert result.reason == "budget" and time.monotonic() - start >= 2  # waited out the grace period
    assert trials[0].state == FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retry) == 1 and retry[0].state == COMPLETE
    assert {k: retry[0].params[k] for k in lost.params} == lost.params  # same params as the lost attempt
    assert sum(t.state == COMPLETE for t in trials) == 2


@pytest.mark.parametrize("kind", _backends("sqlite", "postgresql"))
@pytest.mark.slow
def test_a_worker_killed_on_another_machine_is_detected_by_its_missing_heartbeat(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Machine A (a real process) dies mid-trial. Its pid means nothing here, so only the
    heartbeat it stopped writing can tell: the trial must be failed and retried by this worker."""
    import signal

    name = f"xm-{uuid.uuid4().hex[:8]}"
    config = load_study_config(
        str(write_study(tmp_path / "x.yaml", budget={"trials": 2}, heartbeat={"interval": 1, "grace_period": 3})), study_name=name
    )
    locations = resolve_locations(_url(kind, tmp_path), "sqlite:////unused/mlflow.db")
    open_study(config, locations, data_fingerprint={})
    ctx = multiprocessing.get_context("spawn")
    monkeypatch.setenv("HPSEARCH_WORKER_HOST", "machine-a")
    machine_a = ctx.Process(target=_trivial_worker, args=(locations.storage_url, name, 0, 60.0, str(tmp_path / "a.json")))
    machine_a.start()
    monkeypatch.delenv("HPSEARCH_WORKER_HOST")
    storage = open_storage(locations.storage_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = optuna.load_study(study_name=name, storage=storage).get_trials(states=(optuna.trial.TrialState.RUNNING,))
        if running and running[0].params:  # the trial is created before its params are written
            break
        time.sleep(0.2)
    assert running and running[0].params and running[0].user_attrs[TrialAttr.WORKER]["host"] == "machine-a"
    time.sleep(2.5)  # machine A records heartbeats while "training"
    os.kill(machine_a.pid, signal.SIGKILL)
    machine_a.join(10)

    study, _ = load_study(name, locations, for_worker=True)
    result = run_worker(study, config, TrivialRunner(config), locations, target=2, poll_seconds=0.2, deadline=time.time() + 30)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert result.reason == "budget", "the dead worker's trial was never detected"
    dead = trials[running[0].number]  # read back whole: the snapshot above may predate its last params
    assert dead.state == FAIL and dead.params.items() >= running[0].params.items()
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retry) == 1 and retry[0].state == COMPLETE and retry[0].params == dead.params
    assert retry[0].user_attrs[TrialAttr.WORKER]["host"] != "machine-a"


# ----------------------------------------------------------------------------- the same distributions in every process


def _distributions_by_param(study: optuna.Study) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for t in study.get_trials(deepcopy=False):
        for name, dist in t.distributions.items():
            seen.setdefault(name, set()).add(optuna.distributions.distribution_to_json(dist))
    return seen


@pytest.mark.parametrize("kind", _backends("sqlite", "journal", "postgresql"))
def test_a_worker_samples_the_distributions_of_the_process_that_created_the_study(kind: str, tmp_path: Path) -> None:
    name = f"order-{uuid.uuid4().hex[:8]}"
    declared = load_study_config("cifar10", study_name=name)  # optimizer: sgd, adam, ... (not sorted)
    assert list(declared.search_space.optimizer.names) != sorted(declared.search_space.optimizer.names)
    locations = resolve_locations(_url(kind, tmp_path), "sqlite:////unused/mlflow.db")
    study, config = open_study(declared, locations, data_fingerprint={})
    run_worker(study, config, TrivialRunner(config), locations, target=1)  # `hpsearch study cifar10 --trials 1`

    stored = optuna.load_study(study_name=name, storage=open_storage(locations.storage_url)).user_attrs["hpsearch.config"]
    assert list(stored["search_space"]["optimizer"]) == list(declared.search_space.optimizer.names)  # declared order
    worker_study, worker_config = load_study(name, locations, for_worker=True)
    assert worker_config.search_space == declared.search_space  # same branches, same choices, same order
    assert worker_config.seed == config.seed
    run_worker(worker_study, worker_config, TrivialRunner(worker_config), locations, target=4)  # `hpsearch worker`

    trials = optuna.load_study(study_name=name, storage=open_storage(locations.storage_url)).trials
    assert [t.state for t in trials] == [COMPLETE] * 4
    assert all(len(dists) == 1 for dists in _distributions_by_param(worker_study).values())


def _store_as_before_the_fix(study: optuna.Study) -> None:
    """What hpsearch wrote before choices kept their order: sorted keys, seed only in the config."""
    for attr in ("hpsearch.config", "hpsearch.identity"):
        study.set_user_attr(attr, _json.loads(_json.dumps(study.user_attrs[attr], sort_keys=True)))
    study.set_user_attr("hpsearch.config", {**study.user_attrs["hpsearch.config"], "seed": 42})
    study._storage.set_study_user_attr(study._study_id, "hpsearch.seed", None)


@pytest.mark.parametrize("first", ["study", "worker"])
def test_a_study_stored_with_sorted_choices_is_continued_by_workers_and_by_its_file(first: str, tmp_path: Path) -> None:
    """Studies stored before the fix listed branches sorted. Whoever sampled first -- the `study`
    process (file order) or a worker (sorted order) -- fixed the order in the trials; every later
    process, `study` or `worker`, must follow the trials."""
    name = f"old-{uuid.uuid4().hex[:8]}"
    declared = load_study_config("cifar10", study_name=name)
    locations = resolve_locations(_url("sqlite", tmp_path), "sqlite:////unused/mlflow.db")
    study, config = open_study(declared, locations, data_fingerprint={})
    _store_as_before_the_fix(study)
    if first == "study":
        run_worker(study, config, TrivialRunner(config), locations, target=1)
    else:
        sorted_study = optuna.load_study(study_name=name, storage=study._storage)
        sorted_config = parse_study_dict(sorted_study.user_attrs["hpsearch.config"], name=name)  # as a pre-fix worker read it
        run_worker(sorted_study, sorted_config, TrivialRunner(sorted_config), locations, target=1)
    recorded = optuna.load_study(study_name=name, storage=study._storage).trials[0].distributions["optimizer"].choices

    worker_study, worker_config = load_study(name, locations, for_worker=True)
    assert worker_config.search_space.optimizer.names == recorded and worker_config.seed == 42
    run_worker(worker_study, worker_config, TrivialRunner(worker_config), locations, target=2)
    again, again_config = open_study(declared, locations, data_fingerprint={})  # `hpsearch study cifar10` again
    assert again._study_id == study._study_id and again_config.search_space.optimizer.names == recorded and again_config.seed == 42
    run_worker(again, again_config, TrivialRunner(again_config), locations, target=3)

    trials = optuna.load_study(study_name=name, storage=study._storage).trials
    assert [t.state for t in trials] == [COMPLETE] * 3
    assert all(len(dists) == 1 for dists in _distributions_by_param(again).values())
    assert list(again.user_attrs["hpsearch.config"]["search_space"]["optimizer"]) == list(recorded)


# ----------------------------------------------------------------------------- seeds


def test_two_studies_of_one_file_sample_different_first_trials_unless_seeded(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"  # like studies/cifar10.yaml: no `seed:`
    path.write_text(yaml.safe_dump({k: v for k, v in QUICK_STUDY.items() if k != "seed"}, sort_keys=False))
    locations = resolve_locations(f"sqlite:///{tmp_path}/optuna.db", "sqlite:////unused/mlflow.db")

    def first_draw(name: str, seed: int | None = None) -> tuple[int, dict]:
        config = load_study_config(str(path), study_name=name).with_overrides(seed=seed)
        study, config = open_study(config, locations, data_fingerprint={})
        assert study.user_attrs["hpsearch.seed"] == config.seed  # recorded with the study
        return config.seed, sample(study.ask(), config.search_space)

    (seed_a, a), (seed_b, b) = first_draw("a"), first_draw("b")
    assert seed_a != seed_b and a != b
    assert first_draw("c", seed=7) == first_draw("d", seed=7)  # --seed reproduces


@pytest.mark.slow
def test_a_resumed_study_and_its_workers_keep_the_seed_it_was_created_with(
    store: Path, tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpsearch.study._data_record
    from click.testing import CliRunner

    from hpsearch.cli import main

    split_seeds: list[int] = []
    real_load = hpsearch.study._data_record.load_source

    def load_source(spec, *, seed, data_dir=None):
        split_seeds.append(seed)
        return real_load(spec, seed=seed, data_dir=data_dir)

    monkeypatch.setattr(hpsearch.study._data_record, "load_source", load_source)
    sections = {"seed": None, "training": {"max_epochs": 1, "early_stopping_patience": 3}}
    first = run_study(request(tmp_path, cifar_dir, trials=1, sections=sections))
    seed = first.config.seed
    assert load().user_attrs["hpsearch.seed"] == seed
    assert mlflow_client().get_run(first.parent_run_id).data.params["seed"] == str(seed)

    again = run_study(request(tmp_path, cifar_dir, trials=2, sections=sections))
    assert again.config.seed == seed and split_seeds == [seed, seed]  # the same validation split
    _, worker_config = load_study("quick", resolve_locations(), for_worker=True)
    assert worker_config.seed == seed
    before = load().user_attrs
    with pytest.raises(UsageError, match=f"created with seed {seed}, and --seed {seed + 1} asks for {seed + 1}"):
        run_study(request(tmp_path, cifar_dir, trials=3, seed=seed + 1, sections=sections))
    assert load().user_attrs == before and len(load().trials) == 2

    listed = CliRunner().invoke(main, ["list"])
    row = next(line for line in listed.output.splitlines() if line.startswith("quick"))
    assert listed.exit_code == 0 and str(seed) in row.split(), listed.output


# ----------------------------------------------------------------------------- the data record


def test_one_data_check_refuses_other_data_with_the_fix_and_one_kind_rule(tmp_path: Path) -> None:
    from hpsearch._dataset_kind import dataset_kind
    from hpsearch.study._data_record import check_same_data, dataset_flags, record_fingerprint

    study = optuna.create_study(study_name="data")
    fingerprint = {"dataset": "cifar10", "input_shape": [32, 32, 3], "num_classes": 10}
    check_same_data(study, fingerprint, fix="unused")  # nothing recorded yet: any data
    record_fingerprint(study, fingerprint)
    check_same_data(study, {**fingerprint, "input_shape": (32, 32, 3)}, fix="unused")  # as stored (JSON lists)
    with pytest.raises(UsageError, match=r"^Study 'data' was created on different data \(.*'num_classes': 10\}\); this run loads .*'num_classes': 5\}: pass X\.$"):
        check_same_data(study, {**fingerprint, "num_classes": 5}, fix="pass X.")

    assert dataset_kind("cifar10") == "cifar10" and dataset_kind("/data/mine.npz") == "npz" and dataset_kind(str(tmp_path)) == "folder"
    config = load_study_config("cifar10", study_name="kinds")
    assert dataset_flags(config, "/data") == ["--data-dir", "/data"]
    assert dataset_flags(config.with_overrides(dataset="/d/own.npz"), None) == ["--dataset", "/d/own.npz"]
