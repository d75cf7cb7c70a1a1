"""Optuna storage: a URL (or the default) becomes a ready storage, checked before anything is written.

Supported URLs:

* ``sqlite:///PATH`` (the default, ``mlruns/optuna.db``): switched to WAL journaling with a 60 s
  lock timeout, which makes several local worker processes safe;
* ``postgresql://USER:PASSWORD@HOST/DB`` (or ``postgresql+psycopg2://``), ``mysql://...``: the
  shared database for workers on many machines;
* ``journal:///PATH`` (Optuna's append-only journal file; no heartbeats, so no automatic retry of
  killed trials).

Database storages get heartbeats: a trial whose worker stops beating for ``grace_period``
seconds is failed and re-queued with the same params (``RetryHeartbeatStaleTrialCallback``). The
retry reports the epochs of the resume state it continues from, so pruning decisions carry over
and a retry that has to restart from epoch 0 does not keep the dead attempt's values.

:func:`budget_lock` serializes "count the trials, then ask for one" across processes so that N
workers never start more than the requested number of trials. A store is created (and migrated)
under :func:`hpsearch._locks.creation_lock`, which the MLflow side shares.
"""

from __future__ import annotations

import json
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._interrupts import signal_safe
from hpsearch._locations import redact
from hpsearch._locks import advisory_key, creation_lock, file_lock
from hpsearch._sql import probe

__all__ = ["canonical", "StorageSpec", "parse_storage_url", "check_storage", "open_storage", "budget_lock", "MAX_RETRY"]

#: How many times one trial is retried after its worker died (kill -9, lost machine).
MAX_RETRY = 3


@dataclass(frozen=True)
class StorageSpec:
    """A parsed storage URL. ``path`` is set for file-based kinds (sqlite, journal)."""

    url: str
    kind: str  # "sqlite" | "postgresql" | "mysql" | "journal"
    path: Path | None = None

    @property
    def supports_heartbeat(self) -> bool:
        return self.kind != "journal"


def parse_storage_url(url: str) -> StorageSpec:
    """Validate the form of a storage URL (no I/O)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    shown = redact(url)
    if scheme in ("sqlite", "journal"):
        raw = parts.path
        if parts.netloc:
            raise UsageError(f"--storage {shown}: use three slashes, e.g. {scheme}:////home/me/study.db (absolute) or {scheme}:///study.db (relative).")
        if not raw or raw == "/":
            raise UsageError(f"--storage {shown}: the URL has no file path; use {scheme}:///ABSOLUTE/PATH.")
        # SQLAlchemy's rule: strip exactly one slash. sqlite:///rel.db is relative to the working
        # directory, sqlite:////abs/x.db is absolute.
        return StorageSpec(url=url, kind=scheme, path=Path(raw[1:]))
    if scheme in ("postgresql", "postgres", "mysql"):
        if not parts.hostname:
            raise UsageError(f"--storage {shown}: no host; use {scheme}://USER:PASSWORD@HOST:PORT/DATABASE.")
        if scheme == "postgres":  # SQLAlchemy only knows the long name
            url = "postgresql" + url[len("postgres") :]
        return StorageSpec(url=url, kind="postgresql" if scheme.startswith("postgres") else "mysql")
    raise UsageError(
        f"--storage {shown}: unsupported storage {parts.scheme or 'URL'!r}; use sqlite:///PATH, "
        "postgresql://USER:PASSWORD@HOST/DB, mysql://... or journal:///PATH."
    )


def _enable_wal(path: Path) -> None:
    """WAL lets readers and one writer work at once; it is stored in the file, once."""
    with contextlib.closing(sqlite3.connect(path, timeout=60)) as con:
        con.execute("PRAGMA journal_mode=WAL")


def _check_server(spec: StorageSpec) -> None:
    problem = probe(spec.url, flag="--storage")
    if problem is not None:
        raise RuntimeFailure(f"Storage {redact(spec.url)} does not answer ({problem}); check the URL, the password and that the server runs.")


def check_storage(url: str) -> StorageSpec:
    """Fail fast, writing nothing: a malformed URL, a missing folder, a server that does not answer."""
    spec = parse_storage_url(url)
    if spec.path is not None and not spec.path.parent.is_dir():
        raise UsageError(f"--storage {redact(url)}: folder {spec.path.parent} does not exist; create it or fix the path.")
    if spec.kind in ("postgresql", "mysql"):
        _check_server(spec)
    return spec


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    create: bool = True,
) -> BaseStorage:
    """Open the Optuna storage at ``url``.

    Args:
        heartbeat_interval, grace_period: enable heartbeats (database storages only).
        create: whether a missing SQLite/journal file may be created. Read-only commands
            (``list``, ``show``) pass ``False`` and get a clear error instead of an empty new file.

    Raises:
        UsageError: malformed URL, missing folder.
        RuntimeFailure: unreachable server, missing store when ``create`` is false.
    """
    spec = parse_storage_url(url)
    if spec.path is not None:
        if not create and not spec.path.is_file():
            raise RuntimeFailure(f"No study storage at {spec.path} yet; run `hpsearch study NAME` first (or pass --storage).")
        if not spec.path.parent.is_dir():
            raise UsageError(f"--storage {redact(url)}: folder {spec.path.parent} does not exist; create it or fix the path.")
    if spec.kind == "journal":
        assert spec.path is not None
        try:
            return SignalSafeJournalStorage(JournalFileBackend(str(spec.path)))
        except OSError as e:
            raise RuntimeFailure(f"Cannot open journal storage {spec.path} ({e.strerror}).") from None

    if spec.kind == "sqlite":
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        _check_server(spec)
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}

    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        }
    # Read-only commands neither create nor migrate anything, so they need no lock.
    with creation_lock(spec.url) if create else contextlib.nullcontext():
        if spec.kind == "sqlite" and create:  # read-only commands leave the file exactly as it is
            assert spec.path is not None
            try:
                _enable_wal(spec.path)
            except sqlite3.DatabaseError as e:
                raise UsageError(f"--storage {redact(url)}: {spec.path} is not an SQLite database ({e}); point --storage at another file.") from None
        try:
            return SignalSafeRDBStorage(spec.url, engine_kwargs=engine_kwargs, skip_table_creation=not create, **heartbeat)
        except Exception as e:  # noqa: BLE001 - SQLAlchemy / driver errors
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RuntimeFailure(f"Cannot open storage {redact(url)} ({redact(detail)}).") from None


# Ctrl-C/SIGTERM wait for a storage call to return: an interrupt inside an SQLite write would leave
# its lock held, and the stopped study could not record how it stopped.
SignalSafeRDBStorage = signal_safe(RDBStorage, __name__)
SignalSafeJournalStorage = signal_safe(JournalStorage, __name__)


# ----------------------------------------------------------------------------- cross-process lock

_thread_lock = threading.Lock()


@contextlib.contextmanager
def budget_lock(storage: BaseStorage, url: str, study_name: str) -> Iterator[None]:
    """Hold a lock, shared by every worker of ``study_name``, while counting and asking trials.

    File storages lock a sibling ``.lock`` file (``flock``); PostgreSQL uses an advisory lock;
    MySQL ``GET_LOCK``. All of them are released when the holder dies.
    """
    spec = parse_storage_url(url)
    with _thread_lock:
        if spec.path is not None:
            # Not "<file>.lock": Optuna's journal backend uses that name for its own lock.
            with file_lock(spec.path.with_name(spec.path.name + ".hpsearch-budget.lock")):
                yield
            return
        import sqlalchemy

        rdb = getattr(storage, "_backend", storage)  # a Study wraps RDBStorage in a cache layer
        assert isinstance(rdb, RDBStorage), type(storage)
        with rdb.engine.connect() as con:
            if spec.kind == "postgresql":
                con.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(study_name)})
                try:
                    yield
                finally:
                    con.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(study_name)})
            else:
                name = f"hpsearch:{study_name}"[:64]
                con.execute(sqlalchemy.text("SELECT GET_LOCK(:n, 600)"), {"n": name})
                try:
                    yield
                finally:
                    con.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def canonical(value: Any) -> Any:
    """``value`` as the storage gives it back (JSON types), *in its own key order*: the order of
    a study's branches and choices is part of its Optuna distributions (see ``align_choices``)."""
    return json.loads(json.dumps(value))
