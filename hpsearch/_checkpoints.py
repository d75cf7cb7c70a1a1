"""Per-trial checkpoint folders: the resume state of a running trial and its best model.

Layout of one trial's folder (``<checkpoint root>/<study>/trial-<n>/``, where ``n`` is the number
of the *first* attempt, so every retry of a trial finds the same folder)::

    resume.json          epochs done, metric history, callback states, which model file
    epoch-0007.keras     model + optimizer state after the last completed epoch
    best.keras           model of the best epoch so far (the trial's best checkpoint)

Every file is written to a temporary name and renamed into place, and ``resume.json`` is
replaced only after the model file it names is complete, so a ``kill -9`` at any moment leaves
either the previous state or the new one, never a torn one. This module never imports TensorFlow:
writing a model is a callable the caller passes in.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ResumeState", "TrialCheckpoints", "RemoteSlots", "atomic_write"]

_STATE = "resume.json"
_VERSION = 1


def atomic_write(path: Path, write: Callable[[Path], None], *, suffix: str = "") -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename it to ``path``.

    ``suffix`` is kept at the end of the temporary name (Keras insists on ``.keras``).
    """
    tmp = path.with_name(f".{path.name}.partial{suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _link_or_copy(src: Path, dst: Path) -> Path:
    """Hard-link ``src`` as ``dst`` (replacing it), or copy where links are not possible."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # filesystems without hard links
        shutil.copyfile(src, dst)
    return dst


def _write_text(text: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class ResumeState:
    """What a killed attempt left behind: enough to continue after its last completed epoch."""

    epochs_done: int
    model_path: Path
    history: list[dict[str, float]] = field(default_factory=list)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    remote_best: str | None = None  #: best-model slot the remote copy names (if it came from there)


class TrialCheckpoints:
    """The checkpoint folder of one trial (shared by all attempts of that trial)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def best_path(self) -> Path:
        return self.directory / "best.keras"

    def load(self) -> ResumeState | None:
        """The last complete state, or ``None`` if there is none (or it cannot be read)."""
        path = self.directory / _STATE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            model_path = self.directory / raw["model_file"]
            state = ResumeState(
                epochs_done=int(raw["epochs_done"]),
                model_path=model_path,
                history=list(raw.get("history", [])),
                callbacks=dict(raw.get("callbacks", {})),
                remote_best=raw.get("best_file"),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.warn(f"Ignoring unreadable resume state {path} ({e}); the trial restarts from epoch 0.", stacklevel=2)
            return None
        if raw.get("version") != _VERSION or not model_path.is_file():
            warnings.warn(f"Ignoring incomplete resume state {path}; the trial restarts from epoch 0.", stacklevel=2)
            return None
        return state

    def save(
        self,
        save_model: Callable[[Path], None],
        *,
        epochs_done: int,
        history: list[dict[str, float]],
        callbacks: dict[str, dict[str, Any]],
        same_as_best: bool = False,
    ) -> None:
        """Write the model (via ``save_model(path)``) and then the state that points to it.

        ``same_as_best``: the model is exactly what :meth:`save_best` wrote this epoch, so the
        best file is hard-linked instead of serialized a second time.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        model_file = f"epoch-{epochs_done:04d}.keras"
        if same_as_best and self.best_path.is_file():
            save_model = functools.partial(_link_or_copy, self.best_path)
        atomic_write(self.directory / model_file, save_model, suffix=".keras")
        state = {
            "version": _VERSION,
            "epochs_done": epochs_done,
            "model_file": model_file,
            "history": history,
            "callbacks": callbacks,
        }
        atomic_write(self.directory / _STATE, _write_text(json.dumps(state, indent=1)))
        for old in self.directory.glob("epoch-*.keras"):
            if old.name != model_file:
                old.unlink(missing_ok=True)

    def save_best(self, save_model: Callable[[Path], None]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.best_path, save_model, suffix=".keras")

    # -- copies for another machine (through the tracking server's artifact store) -------------

    def stage_remote(self, staging: Path, state_slot: str, best_slot: str | None, *, include_best: bool) -> list[Path]:
        """Files to upload, in upload order: the model as ``state_slot``, the best model as
        ``best_slot`` if ``include_best`` (it changed), and last a ``resume.json`` naming both."""
        state = self.load()
        if state is None:
            return []
        staging.mkdir(parents=True, exist_ok=True)
        files = [_link_or_copy(state.model_path, staging / state_slot)]
        raw = json.loads((self.directory / _STATE).read_text(encoding="utf-8"))
        raw["model_file"] = state_slot
        if include_best and best_slot is not None and self.best_path.is_file():
            files.append(_link_or_copy(self.best_path, staging / best_slot))
        raw["best_file"] = best_slot
        (staging / _STATE).write_text(json.dumps(raw, indent=1), encoding="utf-8")
        return [*files, staging / _STATE]

    def import_remote(self, folder: Path) -> ResumeState | None:
        """Adopt a resume state fetched from another machine (``stage_remote``'s files)."""
        try:
            raw = json.loads((folder / _STATE).read_text(encoding="utf-8"))
            model = folder / raw["model_file"]
        except (OSError, ValueError, KeyError):
            return None
        if not model.is_file():
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, self.directory / raw["model_file"])
        best = raw.get("best_file")
        if best and (folder / best).is_file():
            atomic_write(self.best_path, lambda p: shutil.copyfile(folder / best, p), suffix=".keras")
        atomic_write(self.directory / _STATE, _write_text(json.dumps(raw, indent=1)))
        return self.load()

    def clear(self) -> None:
        """Remove the folder (the trial is over and its artifacts are in MLflow)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class RemoteSlots:
    """Alternating file names for the remote copy, so an upload never overwrites the file that the
    remote ``resume.json`` names: a crash mid-upload leaves the previous state usable."""

    STATES = ("state-a.keras", "state-b.keras")
    BESTS = ("best-a.keras", "best-b.keras")

    def __init__(self, referenced_best: str | None = None) -> None:
        self.best = referenced_best

    def state_for(self, epoch: int) -> str:
        return self.STATES[epoch % 2]

    def next_best(self) -> str:
        self.best = self.BESTS[1] if self.best == self.BESTS[0] else self.BESTS[0]
        return self.best
