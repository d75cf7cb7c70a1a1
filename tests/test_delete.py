"""``hpsearch delete NAME``: a study and everything it left go, nothing of any other study does.

Two studies share one HPSEARCH_HOME (storage, tracking store, artifact and checkpoint folders).
Their trials are run by the real worker loop with the trivial runner (no TF); their MLflow side
is what a real study leaves: a parent run, one run per trial with a model artifact, a logged and
registered model, resume checkpoints and gathered TensorBoard logs. The slow test runs real
studies end to end.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from conftest import hpsearch_cli, unwritable, write_study
from hpsearch._locations import resolve_locations
from hpsearch.cli import main
from hpsearch.config import load_study_config
from hpsearch.keys import MODEL_ARTIFACT, State, StudyAttr, Tag, TrialAttr
from hpsearch.study._loop import run_worker
from hpsearch.study._open import open_study
from hpsearch.study._workers import worker_identity
from hpsearch.testing import TrivialRunner
from hpsearch.tracking._tracking import StudyTracking

POSTGRES = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
REQUIRE = os.environ.get("HPSEARCH_REQUIRE_SERVICES") == "1"


def storages() -> list[Any]:
    marks = [pytest.mark.postgres]
    if not POSTGRES and not REQUIRE:
        marks.append(pytest.mark.skip(reason="HPSEARCH_TEST_POSTGRES_URL not set"))
    return ["sqlite", pytest.param("postgresql", marks=marks)]


@pytest.fixture(scope="module")
def empty_tracking_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store, made once: creating one runs MLflow's migrations (~10 s)."""
    path = tmp_path_factory.mktemp("tracking") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def _tracking_store(store: Path, empty_tracking_store: Path) -> None:
    """Each test's store starts with a copy of the empty MLflow store."""
    store.mkdir()
    shutil.copyfile(empty_tracking_store, store / "mlflow.db")


@pytest.fixture(params=storages())
def storage(request: pytest.FixtureRequest, store: Path) -> str | None:
    """``None`` (the default SQLite store in HPSEARCH_HOME) or the PostgreSQL test server."""
    if request.param == "sqlite":
        return None
    assert POSTGRES, "HPSEARCH_REQUIRE_SERVICES=1 but HPSEARCH_TEST_POSTGRES_URL is not set"
    return POSTGRES


@pytest.fixture
def names(storage: str | None) -> Any:
    """Study names: a prefix of the other on purpose (``x`` and ``x2``); unique on a shared server."""
    tag = "" if storage is None else f"-{uuid.uuid4().hex[:6]}"
    made = (f"shop{tag}", f"shop{tag}2")
    yield made
    if storage is not None:
        for name in made:
            try:
                optuna.delete_study(study_name=name, storage=storage)
            except KeyError:
                pass


def make_study(store: Path, name: str, storage: str | None = None, trials: int = 3, tracking_uri: str | None = None) -> dict[str, Any]:
    """Study ``name`` with ``trials`` trials and what a real one leaves; returns its ids."""
    path = write_study(store.parent / f"{name}.yaml", budget={"trials": trials})
    config = load_study_config(str(path), study_name=name)
    locations = resolve_locations(storage, tracking_uri)
    study, config = open_study(config, locations, data_fingerprint={})
    run_worker(study, config, TrivialRunner(config), locations, target=trials, poll_seconds=0.1)
    tracking = StudyTracking(locations.tracking_uri, name, locations.artifact_root)
    parent = tracking.open_parent(None, params={"seed": 3}, tags={})
    study.set_user_attr(StudyAttr.PARENT_RUN, parent)
    runs = []
    for trial in study.trials:
        run = tracking.start_trial(trial.number, trial.params)
        run.client.log_text(run.run_id, f"weights of trial {trial.number}", MODEL_ARTIFACT)
        run.finish(State.COMPLETE, value=trial.value)
        runs.append(run.run_id)
    client = tracking.client
    logged = client.create_logged_model(tracking.experiment_id, name=name, source_run_id=parent)
    model_dir = store.parent / f"{name}-model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(logged.model_id, str(model_dir))
    client.create_registered_model(name)
    versions = [client.create_model_version(name, source=logged.artifact_location, run_id=parent, model_id=logged.model_id).version for _ in range(2)]
    for number in range(trials):
        trial_dir = locations.checkpoint_root / name / f"trial-{number:04d}"
        trial_dir.mkdir(parents=True)
        (trial_dir / "state.json").write_text("{}")
        (trial_dir / "kfold.json").write_text("{}")
    (locations.home / "tensorboard" / name / "trial-0000").mkdir(parents=True)
    (locations.home / "tensorboard" / name / "trial-0000" / "events.out").write_text("e")
    return {"experiment": tracking.experiment_id, "parent": parent, "runs": runs, "model": logged.model_id, "versions": versions}


def snapshot(store: Path, name: str, storage: str | None = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """Everything study ``name`` has, read from the stores and the folders themselves."""
    locations = resolve_locations(storage, tracking_uri)
    client = MlflowClient(tracking_uri=locations.tracking_uri, registry_uri=locations.tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL, filter_string=f"tags.`{Tag.STUDY}` = '{name}'")
    ids = [e.experiment_id for e in experiments]
    runs = sorted(r.info.run_id for r in client.search_runs(ids, run_view_type=ViewType.ALL)) if ids else []
    try:
        versions = sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        versions = []
    studies = optuna.get_all_study_names(locations.storage_url)
    trials = len(optuna.load_study(study_name=name, storage=locations.storage_url).trials) if name in studies else None
    folders = {
        str(p.relative_to(store)): sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file())
        for p in (store / "checkpoints" / name, store / "artifacts" / name, store / "tensorboard" / name)
        if p.exists()
    }
    return {"trials": trials, "experiments": sorted((e.name, e.experiment_id, e.lifecycle_stage) for e in experiments), "runs": runs, "versions": versions, "folders": folders}


def rows(store: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store / "mlflow.db") as db:
        return db.execute(sql).fetchall()


def test_delete_removes_the_study_and_everything_it_left_and_nothing_else(store: Path, storage: str | None, names: tuple[str, str]) -> None:
    gone, kept = names
    made = make_study(store, gone, storage)
    make_study(store, kept, storage, trials=2)
    before = snapshot(store, kept, storage)
    assert snapshot(store, gone, storage)["folders"] and len(snapshot(store, gone, storage)["runs"]) == 4
    args = ["delete", gone, "--yes"] + (["--storage", storage] if storage else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"Optuna study '{gone}' in " in result.output and ": 3 trials" in result.output
    assert f"MLflow experiment '{gone}' (id {made['experiment']})" in result.output
    assert "4 runs, 1 logged model and their artifacts" in result.output
    assert f"registered model '{gone}': 2 versions (1, 2); the registered model itself" in result.output
    assert f"checkpoint folder {store / 'checkpoints' / gone} (6 files" in result.output
    assert result.output.endswith(f"Deleted study {gone}: 3 trials, 4 MLflow runs, 2 registered versions, 3 folders.\n")
    # the deleted study: nothing left, in storage, in MLflow (not even its trash), on disk
    assert snapshot(store, gone, storage) == {"trials": None, "experiments": [], "runs": [], "versions": [], "folders": {}}
    assert rows(store, f"SELECT name FROM experiments WHERE experiment_id = {made['experiment']}") == []
    assert rows(store, f"SELECT count(*) FROM runs WHERE run_uuid IN ({','.join(repr(r) for r in [made['parent'], *made['runs']])})") == [(0,)]
    assert rows(store, f"SELECT count(*) FROM logged_models WHERE model_id = '{made['model']}'") == [(0,)]
    assert rows(store, f"SELECT count(*) FROM registered_models WHERE name = '{gone}'") == [(0,)]
    assert not (store / "artifacts" / gone).exists() and not (store / "checkpoints" / gone).exists()
    # the other study: exactly as it was
    assert snapshot(store, kept, storage) == before
    assert before["trials"] == 2 and len(before["runs"]) == 3 and before["versions"] == ["1", "2"]
    # a study of the same name starts fresh: a new experiment, no old runs, trial numbers from 0
    again = make_study(store, gone, storage, trials=1)
    assert again["experiment"] != made["experiment"] and not set(again["runs"]) & set(made["runs"])
    fresh = snapshot(store, gone, storage)
    assert fresh["trials"] == 1 and fresh["experiments"] == [(gone, again["experiment"], "active")] and len(fresh["runs"]) == 2


def test_declining_the_confirmation_changes_nothing(store: Path) -> None:
    make_study(store, "a")
    before = snapshot(store, "a")
    result = CliRunner().invoke(main, ["delete", "a"], input="n\n")
    assert result.exit_code == 1
    assert "Delete study a? [y/N]: n\nAborted!\n" in result.output
    assert snapshot(store, "a") == before
    no_answer = CliRunner().invoke(main, ["delete", "a"], input="")  # not a terminal, nobody to ask
    assert no_answer.exit_code == 1 and snapshot(store, "a") == before
    yes = CliRunner().invoke(main, ["delete", "a"], input="y\n")
    assert yes.exit_code == 0 and snapshot(store, "a")["trials"] is None


def test_an_unknown_name_is_one_line_with_the_closest_name(store: Path) -> None:
    make_study(store, "shop", trials=1)
    result = CliRunner().invoke(main, ["delete", "shp", "--yes"])
    assert result.exit_code == 2
    assert result.output == f"Error: No study named 'shp' (did you mean 'shop'?). Studies in sqlite:///{store}/optuna.db: shop.\n"


def running_trial(store: Path, name: str, owner: dict[str, Any] | None) -> optuna.trial.FrozenTrial:
    """A RUNNING trial of study ``name`` owned by ``owner``, with a fresh heartbeat."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{store}/optuna.db")
    trial = study.ask()
    if owner is not None:
        trial.set_user_attr(TrialAttr.WORKER, owner)
    study._storage.record_heartbeat(trial._trial_id)
    return study._storage.get_trial(trial._trial_id)


def test_a_study_with_a_live_worker_is_refused_and_a_dead_one_does_not_block(store: Path) -> None:
    make_study(store, "busy", trials=1)
    trial = running_trial(store, "busy", worker_identity())  # this very process: alive
    before = snapshot(store, "busy")
    refused = CliRunner().invoke(main, ["delete", "busy", "--yes"])
    assert refused.exit_code == 1
    assert refused.output == (
        f"Error: Study 'busy' has a live worker: trial 1 (process {os.getpid()} on {worker_identity()['host']}) is running. "
        "Stop it (Ctrl-C, or kill the process), then run hpsearch delete busy again.\n"
    )
    assert snapshot(store, "busy") == before
    # the same trial's owner, dead: a finished process of this machine
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    storage = optuna.load_study(study_name="busy", storage=f"sqlite:///{store}/optuna.db")._storage
    storage.set_trial_user_attr(trial._trial_id, TrialAttr.WORKER, {**worker_identity(), "pid": int(done.stdout)})
    result = CliRunner().invoke(main, ["delete", "busy", "--yes"])
    assert result.exit_code == 0, result.output
    assert snapshot(store, "busy")["trials"] is None


def test_a_worker_of_another_machine_is_live_until_its_heartbeat_is_stale(store: Path) -> None:
    import time

    make_study(store, "far", trials=1)  # heartbeat interval 1 s, grace period 3 s
    running_trial(store, "far", {**worker_identity(), "host": "elsewhere", "pid": 1})
    refused = CliRunner().invoke(main, ["delete", "far", "--yes"])
    assert refused.exit_code == 1 and "trial 1 (process 1 on elsewhere) is running" in refused.output
    time.sleep(4.5)
    result = CliRunner().invoke(main, ["delete", "far", "--yes"])
    assert result.exit_code == 0, result.output
    assert snapshot(store, "far")["trials"] is None


def test_a_registered_model_keeps_the_versions_of_other_runs(store: Path) -> None:
    made = make_study(store, "reg", trials=1)
    uri = f"sqlite:///{store}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    outside = client.create_run(client.create_experiment("mine")).info.run_id
    client.create_model_version("reg", source=f"runs:/{outside}/model", run_id=outside)
    result = CliRunner().invoke(main, ["delete", "reg", "--yes"])
    assert result.exit_code == 0, result.output
    assert "registered model 'reg': 2 versions (1, 2); 1 other version(s) stay" in result.output
    (left,) = client.search_model_versions("name = 'reg'")
    assert (str(left.version), left.run_id) == ("3", outside)
    assert client.get_run(outside).info.lifecycle_stage == "active"
    assert made["parent"] not in {r.info.run_id for r in client.search_runs([client.get_experiment_by_name("mine").experiment_id])}


def test_a_study_without_mlflow_runs_is_deleted_with_a_note(store: Path) -> None:
    (store / "mlflow.db").unlink()  # a study never tracked there (run by the trivial runner alone)
    path = write_study(store.parent / "bare.yaml", budget={"trials": 1})
    config = load_study_config(str(path))
    open_study(config, resolve_locations(None, None), data_fingerprint={})
    result = CliRunner().invoke(main, ["delete", "bare", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Note: MLflow: no tracking store at {store / 'mlflow.db'}, so no runs to delete" in result.output
    assert result.output.endswith("Deleted study bare: 0 trials, 0 MLflow runs, 0 registered versions, 0 folders.\n")
    assert not (store / "mlflow.db").exists()  # nothing created by looking


def test_retrain_and_lr_find_runs_and_the_lr_find_plots_go_with_the_study(store: Path) -> None:
    from hpsearch.keys import Role
    from hpsearch.tracking._retrain import start_retrain_run

    made = make_study(store, "shop", trials=1)
    make_study(store, "shop2", trials=1)
    tracking = StudyTracking(resolve_locations(None, None).tracking_uri, "shop", None)
    tracking.attach_parent(made["parent"])
    retrain = start_retrain_run(tracking, 0, {"lr": 0.1}).run_id
    lr_find = tracking.start_run("lr-find-adam", Role.LR_FIND, params={"optimizer": "adam"}).run_id
    plots = {name: resolve_locations(None, None).lr_find_folder(name) / "adam.png" for name in ("shop", "shop2")}
    for plot in plots.values():
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(b"png")
    before = snapshot(store, "shop2")
    result = CliRunner().invoke(main, ["delete", "shop", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"LR range test plot folder {store / 'lr_find' / 'shop'} (1 file" in result.output
    assert "4 runs" in result.output  # the parent, the trial, the retrain and the LR range test
    assert rows(store, f"SELECT count(*) FROM runs WHERE run_uuid IN ('{retrain}', '{lr_find}')") == [(0,)]
    assert not plots["shop"].parent.exists() and plots["shop2"].read_bytes() == b"png"
    assert snapshot(store, "shop2") == before


def test_what_lr_find_left_before_any_study_is_deleted_and_a_study_of_another_storage_is_not(store: Path) -> None:
    from hpsearch.keys import Role

    make_study(store, "shop", trials=1)  # the storage exists, with another study
    uri = resolve_locations(None, None).tracking_uri
    probe = StudyTracking(uri, "probe", None).start_run("lr-find-adam", Role.LR_FIND, params={"optimizer": "adam"}).run_id
    plot = resolve_locations(None, None).lr_find_folder("probe") / "adam.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"png")
    elsewhere = StudyTracking(uri, "elsewhere", None)  # a study whose Optuna side is in another storage
    elsewhere.open_parent(None, params={}, tags={})
    kept = elsewhere.start_trial(0, {"lr": 0.1}).run_id
    before = snapshot(store, "shop")

    result = CliRunner().invoke(main, ["delete", "probe", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Note: Optuna: no study 'probe' in " in result.output and "Optuna study 'probe'" not in result.output
    assert result.output.endswith("Deleted what lr-find left for probe: 1 MLflow run, 1 folder.\n")
    assert rows(store, f"SELECT count(*) FROM runs WHERE run_uuid = '{probe}'") == [(0,)] and not plot.parent.exists()

    refused = CliRunner().invoke(main, ["delete", "elsewhere", "--yes"])
    assert refused.exit_code == 2 and refused.output.startswith("Error: No study named 'elsewhere'"), refused.output
    assert rows(store, f"SELECT count(*) FROM runs WHERE run_uuid = '{kept}'") == [(1,)]
    assert snapshot(store, "shop") == before


def test_an_interrupted_deletion_is_finished_by_running_it_again(store: Path) -> None:
    make_study(store, "stuck", trials=1)
    make_study(store, "fine", trials=1)
    before = snapshot(store, "fine")
    locked = store / "checkpoints" / "stuck" / "trial-0000"
    with unwritable(locked):
        failed = CliRunner().invoke(main, ["delete", "stuck", "--yes"])
        assert failed.exit_code == 1
        assert f"Error: Cannot remove the checkpoint folder {store / 'checkpoints' / 'stuck'} (" in failed.output
        assert "then run hpsearch delete stuck again to finish (the study is still listed until then)." in failed.output
        half = snapshot(store, "stuck")
        assert half["trials"] == 1 and half["experiments"] == [] and half["versions"] == []
    finished = CliRunner().invoke(main, ["delete", "stuck", "--yes"])
    assert finished.exit_code == 0, finished.output
    assert snapshot(store, "stuck") == {"trials": None, "experiments": [], "runs": [], "versions": [], "folders": {}}
    assert snapshot(store, "fine") == before


def test_runs_in_another_tracking_store_are_named_and_left_alone(store: Path, empty_tracking_store: Path) -> None:
    made = make_study(store, "elsewhere", trials=1)
    other = store.parent / "other-mlflow.db"
    shutil.copyfile(empty_tracking_store, other)
    result = CliRunner().invoke(main, ["delete", "elsewhere", "--tracking-uri", f"sqlite:///{other}"], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"Note: MLflow: the study's parent run {made['parent']} is not in sqlite:///{other}; its runs stay" in result.output
    assert snapshot(store, "elsewhere")["trials"] is None
    left = snapshot(store, "elsewhere")
    assert len(left["runs"]) == 2 and left["versions"] == ["1", "2"]  # still in the store the study logged to
    kept = left["folders"]["artifacts/elsewhere"]  # and their artifacts: the trial's model, the logged model
    assert len(kept) == 2 and f"{made['runs'][0]}/artifacts/{MODEL_ARTIFACT}" in kept and any(k.endswith("/MLmodel") for k in kept)


@pytest.mark.slow  # three real tiny studies and an export that registers a model (~3 min on a shared CPU)
def test_real_studies_delete_and_run_again(store: Path, cifar_dir: Path) -> None:
    cwd = store.parent
    env = {"HPSEARCH_HOME": str(store)}
    write_study(cwd / "quick.yaml", budget={"trials": 1}, training={"max_epochs": 1, "early_stopping_patience": 3})
    run = ["--data-dir", str(cifar_dir), "--subset", "100"]
    for name in ("quick", "other"):
        done = hpsearch_cli("study", "quick.yaml", "--study-name", name, *run, cwd=cwd, env=env)
        assert done.returncode == 0, done.stderr
    exported = hpsearch_cli("export", "quick", "--data-dir", str(cifar_dir), cwd=cwd, env=env)
    assert exported.returncode == 0, exported.stderr
    before = snapshot(store, "other")
    assert snapshot(store, "quick")["versions"] == ["1"]
    deleted = hpsearch_cli("delete", "quick", "--yes", cwd=cwd, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert "Deleted study quick: 1 trial, 2 MLflow runs, 1 registered version" in deleted.stdout
    assert snapshot(store, "quick") == {"trials": None, "experiments": [], "runs": [], "versions": [], "folders": {}}
    assert snapshot(store, "other") == before
    again = hpsearch_cli("study", "quick.yaml", "--study-name", "quick", *run, cwd=cwd, env=env)
    assert again.returncode == 0, again.stderr
    checked = hpsearch_cli("check", "quick", cwd=cwd, env=env)
    assert checked.returncode == 0 and "1 finished trials, 1 trial runs" in checked.stdout, checked.stdout + checked.stderr
    assert [t.number for t in optuna.load_study(study_name="quick", storage=f"sqlite:///{store}/optuna.db").trials] == [0]


@pytest.mark.slow  # starts an MLflow tracking server (~3 min on a shared CPU)
def test_on_a_tracking_server_the_experiment_is_renamed_deleted_and_its_artifacts_removed(store: Path) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = store.parent / "server"
    log = open(store.parent / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "server", "--port", str(port)], cwd=store.parent,
        env={**os.environ, "HPSEARCH_HOME": str(served)}, stdout=log, stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (store.parent / "server.log").read_text()
                time.sleep(0.5)
        made = make_study(store, "far", tracking_uri=uri)
        make_study(store, "near", tracking_uri=uri, trials=1)
        before = snapshot(store, "near", tracking_uri=uri)
        assert (served / "artifacts" / made["experiment"]).is_dir()
        result = CliRunner().invoke(main, ["delete", "far", "--yes", "--tracking-uri", uri])
        assert result.exit_code == 0, result.output
        assert "Note: MLflow: a tracking server keeps deleted runs in its trash until `mlflow gc` runs on it" in result.output
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        trashed = client.get_experiment(made["experiment"])
        assert trashed.lifecycle_stage == "deleted" and trashed.name.startswith("far (deleted ")
        assert not (served / "artifacts" / made["experiment"]).exists()  # artifacts gone through the server
        assert client.search_registered_models("name = 'far'") == []
        assert snapshot(store, "near", tracking_uri=uri) == before
        again = make_study(store, "far", tracking_uri=uri, trials=1)
        assert again["experiment"] != made["experiment"]
    finally:
        server.terminate()
        server.wait(30)
        log.close()
