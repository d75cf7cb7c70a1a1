"""Checkpoint folders: atomic state, torn writes ignored, cleanup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpsearch.trial._checkpoints import TrialCheckpoints, atomic_write


def fake_model(content: bytes):
    return lambda path: Path(path).write_bytes(content)


def history(n: int) -> list[dict[str, float]]:
    return [{"epoch": e, "loss": 1.0 / e} for e in range(1, n + 1)]


def test_save_then_load(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path / "trial-00003")
    assert ckpt.load() is None
    for epoch in (1, 2, 3):
        ckpt.save(fake_model(f"e{epoch}".encode()), epochs_done=epoch, history=history(epoch), callbacks={"x": {"wait": epoch}})
    state = ckpt.load()
    assert state.epochs_done == 3 and state.model_path.read_bytes() == b"e3" and state.history == history(3)
    # the state one epoch earlier stays as the fallback; older ones are removed
    assert sorted(p.name for p in ckpt.directory.glob("*.keras")) == ["epoch-0002.keras", "epoch-0003.keras"]
    states, problems = ckpt.scan()
    assert [s.epochs_done for s in states] == [3, 2] and not problems
    assert states[1].model_path.read_bytes() == b"e2" and states[1].callbacks == {"x": {"wait": 2}}
    assert not list(ckpt.directory.glob(".*partial*"))


def test_a_damaged_newest_state_falls_back_to_the_one_before(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    for epoch in (1, 2, 3):
        if epoch != 2:  # new best models at epochs 1 and 3
            ckpt.save_best(fake_model(f"best {epoch}".encode()))
        ckpt.save(fake_model(f"e{epoch}".encode()), epochs_done=epoch, history=history(epoch), callbacks={})
    (tmp_path / "resume.json").write_text('{"version": 2, "epochs_do')  # garbled
    states, problems = ckpt.scan()
    assert [s.epochs_done for s in states] == [2] and "unreadable resume state" in problems[0]
    ckpt.keep_only(states[0])  # the caller found epoch 2 usable: it becomes the current state
    assert ckpt.scan() == ([ckpt.load()], []) and ckpt.load().epochs_done == 2
    assert ckpt.best_path.read_bytes() == b"best 1"  # the best model of that state, not epoch 3's
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["best-at-0002.keras", "best.keras", "epoch-0002.keras"]
    ckpt.save(fake_model(b"e3 again"), epochs_done=3, history=history(3), callbacks={})
    assert [s.epochs_done for s in ckpt.scan()[0]] == [3, 2]


def test_the_best_model_is_that_of_the_state_resumed_from(tmp_path: Path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    ckpt.save_best(fake_model(b"best 1"))
    ckpt.save(fake_model(b"e1"), epochs_done=1, history=history(1), callbacks={})
    ckpt.save_best(fake_model(b"best 2"))  # epoch 2 improved, then kill -9 before its state was written
    state = ckpt.load()
    assert state.epochs_done == 1 and ckpt.best_path.read_bytes() == b"best 2"
    ckpt.restore_best(state)
    assert ckpt.best_path.read_bytes() == b"best 1"  # epoch 2 is trained again: its model must not stay
    ckpt.best_path.unlink()
    ckpt.best_path.write_bytes(b"random bytes")  # replaced by hand
    ckpt.restore_best(state)
    assert ckpt.best_path.read_bytes() == b"best 1"


def test_files_mlflow_refused_are_kept_and_listed(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    ckpt = TrialCheckpoints(study_dir / "trial-00004")
    ckpt.save(fake_model(b"e1"), epochs_done=1, history=history(1), callbacks={})
    ckpt.save_best(fake_model(b"best"))
    (ckpt.directory / "learning_curve.png").write_bytes(b"png")
    TrialCheckpoints(study_dir / "trial-00005").save(fake_model(b"running"), epochs_done=1, history=history(1), callbacks={})
    ckpt.mark_pending("run-4", 4, [(ckpt.best_path, "model")], "PermissionError: denied")
    assert sorted(p.name for p in ckpt.directory.iterdir()) == ["best.keras", "pending-upload.json"]  # resume state dropped
    [pending] = TrialCheckpoints.pending_in(study_dir)  # trial 5 is a resume state, not pending
    assert pending.run_id == "run-4" and pending.trial == 4 and pending.files == [("best.keras", "model")]
    assert pending.error == "PermissionError: denied" and pending.directory == ckpt.directory


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
    (tmp_path / "resume.json").write_text(json.dumps({"version": 2, "epochs_done": 3, "model_file": "epoch-0003.keras"}))
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
