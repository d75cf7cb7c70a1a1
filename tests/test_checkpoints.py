"""Checkpoint folders: atomic state, torn writes ignored, cleanup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpsearch._checkpoints import TrialCheckpoints, atomic_write


def fake_model(content: bytes):
    return lambda path: Path(path).write_bytes(content)


def test_save_then_load(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path / "trial-00003")
    assert ckpt.load() is None
    ckpt.save(fake_model(b"e1"), epochs_done=1, history=[{"epoch": 0, "loss": 1.0}], callbacks={"x": {"wait": 0}})
    ckpt.save(fake_model(b"e2"), epochs_done=2, history=[{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}], callbacks={})
    state = ckpt.load()
    assert state.epochs_done == 2 and state.model_path.read_bytes() == b"e2"
    assert [p.name for p in ckpt.directory.glob("epoch-*.keras")] == ["epoch-0002.keras"]  # older removed
    assert not list(ckpt.directory.glob(".*partial*"))


def test_a_write_that_dies_leaves_the_previous_state(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    ckpt.save(fake_model(b"good"), epochs_done=1, history=[], callbacks={})

    def dies(path: Path) -> None:
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt("killed mid-write")

    with pytest.raises(KeyboardInterrupt):
        ckpt.save(dies, epochs_done=2, history=[], callbacks={})
    state = ckpt.load()
    assert state.epochs_done == 1 and state.model_path.read_bytes() == b"good"


def test_unreadable_or_dangling_state_is_ignored_with_a_warning(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    (tmp_path / "resume.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable resume state"):
        assert ckpt.load() is None
    (tmp_path / "resume.json").write_text(json.dumps({"version": 1, "epochs_done": 3, "model_file": "epoch-0003.keras"}))
    with pytest.warns(UserWarning, match="incomplete resume state"):
        assert ckpt.load() is None


def test_clear_and_atomic_write(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.txt"
    target.parent.mkdir()
    atomic_write(target, lambda p: p.write_text("x"))
    assert target.read_text() == "x"
    ckpt = TrialCheckpoints(tmp_path / "a")
    ckpt.clear()
    assert not (tmp_path / "a").exists()
