"""Locations: flags beat environment beat defaults; passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch._locations import redact, resolve_locations


def test_zero_configuration_defaults(store: Path) -> None:
    loc = resolve_locations()
    assert loc.storage_url == f"sqlite:///{store}/optuna.db"
    assert loc.tracking_uri == f"sqlite:///{store}/mlflow.db"
    assert loc.artifact_root == (store / "artifacts").as_uri()
    assert loc.checkpoint_root == store / "checkpoints"
    assert loc.storage_is_default and loc.tracking_is_default
    assert not store.exists()  # resolving creates nothing


def test_environment_then_flags(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSEARCH_STORAGE", "postgresql://u:p@db/hp")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    loc = resolve_locations()
    assert loc.storage_url == "postgresql://u:p@db/hp" and loc.tracking_uri == "http://tracker:5000"
    assert loc.artifact_root is None  # the tracking server decides
    loc = resolve_locations("sqlite:////x/o.db", "sqlite:////x/m.db")
    assert loc.storage_url == "sqlite:////x/o.db" and not loc.storage_is_default


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://hp:s3cret@db:5432/hp", "postgresql://hp:***@db:5432/hp"),
        ("postgresql+psycopg2://hp:p%40ss@db/hp", "postgresql+psycopg2://hp:***@db/hp"),
        ("http://u:pw@host:5000", "http://u:***@host:5000"),
        ("sqlite:////tmp/o.db", "sqlite:////tmp/o.db"),
        ("mysql://root@db/x", "mysql://root@db/x"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
