"""Cross-process locks on a store, held while it is created or migrated (base layer: no optuna,
no mlflow).

:func:`creation_lock` serializes the first opening of a store -- Optuna's storage and MLflow's
tracking store alike -- so processes started together on an empty store do not race to create
its tables. :func:`file_lock` and :func:`advisory_key` are the pieces the study's budget lock
shares with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from hpsearch._errors import RuntimeFailure

__all__ = ["creation_lock", "file_lock", "advisory_key"]


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for database advisory locks."""
    digest = hashlib.sha256(f"hpsearch:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing); released when the holder dies."""
    try:
        fh = open(path, "a+b")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as e:
        raise RuntimeFailure(f"Cannot create the lock file {path} ({e.strerror}); make its folder writable.") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def creation_lock(url: str, purpose: str = "create") -> Iterator[None]:
    """Hold a lock, shared by every process using the store at ``url``, while it is opened for
    the first time in a process (which creates or migrates its tables when needed).

    SQLite and journal files lock a sibling ``<file>.hpsearch-<purpose>.lock`` (``flock``), PostgreSQL takes an
    advisory lock, MySQL ``GET_LOCK``; other URLs (a tracking server creates its own store) take
    none. Each lock is released when its holder dies. Locks of different ``purpose`` are
    independent, so one may be held while the other is taken ("open" around creating a study,
    "create" around creating the tables inside it).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("sqlite", "journal"):
        path = Path(parts.path[1:])  # one slash stripped, as SQLAlchemy does (and parse_storage_url)
        with file_lock(path.with_name(f"{path.name}.hpsearch-{purpose}.lock")):
            yield
        return
    if scheme not in ("postgresql", "postgres", "mysql"):
        yield
        return
    import sqlalchemy

    if scheme == "postgres":  # SQLAlchemy only knows the long name
        url = "postgresql" + url[len("postgres") :]
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as con:
            if scheme == "mysql":
                lock, unlock, args = "SELECT GET_LOCK(:k, 600)", "SELECT RELEASE_LOCK(:k)", {"k": f"hpsearch:{purpose}"}
            else:
                lock, unlock, args = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)", {"k": advisory_key("/" + purpose)}  # no study name has a "/"
            con.execute(sqlalchemy.text(lock), args)
            try:
                yield
            finally:
                con.execute(sqlalchemy.text(unlock), args)
    finally:
        engine.dispose()
