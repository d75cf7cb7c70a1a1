"""Optuna storage: URL handling, safe SQLite, clear failures, the cross-process budget lock.

The same tests run against every backend: SQLite, the journal file and, when
``HPSEARCH_TEST_POSTGRES_URL`` is set (CI sets it), PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
import uuid
from pathlib import Path

import optuna
import pytest

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.study._storage import budget_lock, open_storage, parse_storage_url

POSTGRES = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
REQUIRE = os.environ.get("HPSEARCH_REQUIRE_SERVICES") == "1"


def backends() -> list:
    out = ["sqlite", "journal"]
    marks = [pytest.mark.postgres]
    if not POSTGRES and not REQUIRE:
        marks.append(pytest.mark.skip(reason="HPSEARCH_TEST_POSTGRES_URL not set"))
    out.append(pytest.param("postgresql", marks=marks))
    return out


@pytest.fixture(params=backends())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/optuna.db"
    if request.param == "journal":
        return f"journal:///{tmp_path}/optuna.log"
    assert POSTGRES, "HPSEARCH_REQUIRE_SERVICES=1 but HPSEARCH_TEST_POSTGRES_URL is not set"
    return POSTGRES


def test_create_use_and_reopen(url: str) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    storage = open_storage(url, heartbeat_interval=5, grace_period=15)
    study = optuna.create_study(study_name=name, storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, 1.0)
    again = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    assert [t.state for t in again.trials] == [optuna.trial.TrialState.COMPLETE]
    optuna.delete_study(study_name=name, storage=storage)


def _hold(url: str, name: str, path: str, delay: float) -> None:
    storage = open_storage(url)
    with budget_lock(storage, url, name):
        with open(path, "a") as fh:
            fh.write(f"in {time.time()}\n")
        time.sleep(delay)
        with open(path, "a") as fh:
            fh.write(f"out {time.time()}\n")


def test_budget_lock_is_exclusive_across_processes(url: str, tmp_path: Path) -> None:
    open_storage(url)  # create tables once
    log = tmp_path / "log.txt"
    name = f"lock-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(url, name, str(log), 0.4)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["in", "out"] * 3  # never two holders at once


def _create_both_stores(storage_url: str, tracking_uri: str, start: object, errors: object) -> None:
    """Open a new Optuna storage and MLflow store, as `hpsearch study` does, the moment all are ready."""
    from hpsearch.tracking._tracking import StudyTracking

    for create in (lambda: open_storage(storage_url), lambda: StudyTracking(tracking_uri, "together", None)):
        start.wait(120)  # all processes have imported everything: they open each store together
        try:
            create()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors.put(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


@pytest.mark.slow
def test_processes_started_together_create_the_stores_once(tmp_path: Path) -> None:
    """Several `hpsearch study` processes started at once on an empty store must all get it."""
    ctx = multiprocessing.get_context("spawn")
    start, errors = ctx.Barrier(3), ctx.Queue()
    args = (f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db", start, errors)
    procs = [ctx.Process(target=_create_both_stores, args=args) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == [] and [p.exitcode for p in procs] == [0, 0, 0]
    assert (tmp_path / "optuna.db").is_file() and (tmp_path / "mlflow.db").is_file()


def test_sqlite_is_switched_to_wal(tmp_path: Path) -> None:
    open_storage(f"sqlite:///{tmp_path}/o.db")
    with sqlite3.connect(tmp_path / "o.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_read_only_open_does_not_create_anything(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="No study storage at"):
        open_storage(f"sqlite:///{tmp_path}/absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("redis://localhost/0", UsageError, "unsupported storage 'redis'"),
        ("sqlite://relative.db", UsageError, "use three slashes"),
        ("sqlite:///", UsageError, "has no file path"),
        ("sqlite:////no/such/folder/o.db", UsageError, "folder /no/such/folder does not exist"),
        ("postgresql:///db", UsageError, "no host"),
        ("postgresql://hp:s3cret@127.0.0.1:9/hp", RuntimeFailure, "does not answer"),
    ],
)
def test_bad_storage_urls(url: str, error: type, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(error, match=message) as err:
        open_storage(url)
    assert "s3cret" not in str(err.value)
    assert time.monotonic() - start < 15


def test_parse_normalizes_postgres_alias() -> None:
    assert parse_storage_url("postgres://u:p@h/db").url == "postgresql://u:p@h/db"
    assert parse_storage_url("journal:////tmp/x.log").path == Path("/tmp/x.log")
    assert parse_storage_url("sqlite:///rel/o.db").path == Path("rel/o.db")  # relative, as in SQLAlchemy


def test_one_sql_probe_says_why_without_the_password() -> None:
    from hpsearch._sql import probe

    problem = probe("postgresql://hp:s3cret@127.0.0.1:9/hp", flag="--storage")
    assert problem is not None and "s3cret" not in problem and "127.0.0.1" in problem
    with pytest.raises(UsageError, match=r"^--storage mysql://hp:\*\*\*@db/hp needs the database driver"):
        probe("mysql://hp:s3cret@db/hp", flag="--storage")
    if POSTGRES:
        assert probe(POSTGRES, flag="--storage") is None
