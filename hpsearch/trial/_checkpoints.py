"""Per-trial checkpoint folders: the resume state of a running trial and its best model.

Layout of one trial's folder (``<checkpoint root>/<study>/trial-<n>/``, where ``n`` is the number
of the *first* attempt, so every retry of a trial finds the same folder)::

    resume.json            epochs done, metric history, callback states, which model file
    epoch-0007.keras       model + optimizer state after the last completed epoch
    resume.previous.json   the state one epoch earlier (and its epoch-0006.keras): the fallback
                           when the newest state turns out unreadable
    best.keras             model of the best epoch so far (the trial's best checkpoint)
    best-at-0007.keras     hard link: the best model as it was when that state was written, so a
                           fallback to an earlier state also gets that state's best model back
    pending-upload.json    only after the trial ended: files MLflow did not accept yet

Every file is written to a temporary name and renamed into place, and ``resume.json`` is
replaced only after the model file it names is complete, so a ``kill -9`` at any moment leaves
either the previous state or the new one, never a torn one. A state damaged in another way (a
truncated model file, a garbled ``resume.json``) is skipped for the one before it. Epoch numbers
are 1-based: ``epochs_done`` is the number of the last completed epoch. This module never imports
TensorFlow: writing a model is a callable the caller passes in, and whether a model file loads is
for the caller to find out.
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

__all__ = ["ResumeState", "PendingUpload", "TrialCheckpoints", "RemoteSlots", "atomic_write"]

_STATE = "resume.json"
_PREVIOUS = "resume.previous.json"
_PENDING = "pending-upload.json"
_VERSION = 2  # 2: the history's epoch numbers are 1-based


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
    state_file: str = _STATE  #: the file this state was read from
    best_path: Path | None = None  #: the best model as of this state (``None``: not recorded)


@dataclass(frozen=True)
class PendingUpload:
    """Files of a finished trial that MLflow did not accept: kept here until a later run uploads them."""

    directory: Path
    run_id: str
    trial: int
    files: list[tuple[str, str]]  #: ``(file name in the folder, artifact folder of the run)``
    error: str


class TrialCheckpoints:
    """The checkpoint folder of one trial (shared by all attempts of that trial)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def of_trial(cls, study_dir: str | Path, first_number: int) -> TrialCheckpoints:
        """The folder of the trial first asked as ``first_number`` (its retries share it)."""
        return cls(Path(study_dir) / f"trial-{first_number:05d}")

    @property
    def best_path(self) -> Path:
        return self.directory / "best.keras"

    def _read(self, name: str) -> ResumeState | str | None:
        """The state in file ``name``; why it is not usable (a string); ``None`` if it is absent."""
        path = self.directory / name
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            model_path = self.directory / raw["model_file"]
            best = self.directory / raw["best_model"] if raw.get("best_model") else None
            state = ResumeState(
                epochs_done=int(raw["epochs_done"]),
                model_path=model_path,
                history=list(raw.get("history", [])),
                callbacks=dict(raw.get("callbacks", {})),
                remote_best=raw.get("best_file"),
                state_file=name,
                best_path=best if best is not None and best.is_file() else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            return f"unreadable resume state {path} ({type(e).__name__}: {e})"
        if raw.get("version") != _VERSION:
            return f"incomplete resume state {path} (format version {raw.get('version')!r}, this hpsearch writes {_VERSION})"
        if not model_path.is_file():
            return f"incomplete resume state {path} (its model file {model_path.name} is missing)"
        return state

    def scan(self) -> tuple[list[ResumeState], list[str]]:
        """The complete resume states, newest first (at most two), and why any other was skipped."""
        states: list[ResumeState] = []
        problems: list[str] = []
        for name in (_STATE, _PREVIOUS):
            found = self._read(name)
            if isinstance(found, str):
                problems.append(found)
            elif found is not None and all(s.epochs_done != found.epochs_done for s in states):
                states.append(found)
        return sorted(states, key=lambda s: s.epochs_done, reverse=True), problems

    def load(self) -> ResumeState | None:
        """The newest complete state, or ``None`` if there is none (unreadable ones are skipped
        with a warning)."""
        states, problems = self.scan()
        for problem in problems:
            warnings.warn(f"Ignoring {problem}.", stacklevel=2)
        return states[0] if states else None

    def keep_only(self, state: ResumeState) -> None:
        """Make ``state`` the current one and delete every newer or unusable state (a fallback
        was taken: the next epoch must not roll a damaged state into the fallback slot)."""
        if state.state_file != _STATE:
            atomic_write(self.directory / _STATE, functools.partial(_link_or_copy, self.directory / state.state_file))
        self.restore_best(state)  # a later epoch may have replaced best.keras
        (self.directory / _PREVIOUS).unlink(missing_ok=True)
        self._drop_unreferenced()

    def restore_best(self, state: ResumeState) -> None:
        """Make ``best.keras`` the best model as of ``state`` again, if it was replaced since."""
        if state.best_path is None:
            return
        if self.best_path.is_file() and os.path.samefile(self.best_path, state.best_path):
            return
        atomic_write(self.best_path, functools.partial(_link_or_copy, state.best_path), suffix=".keras")

    def _referenced(self, name: str) -> set[str]:
        found = self._read(name)
        if not isinstance(found, ResumeState):
            return set()
        return {found.model_path.name} | ({found.best_path.name} if found.best_path is not None else set())

    def _drop_unreferenced(self) -> None:
        keep = self._referenced(_STATE) | self._referenced(_PREVIOUS)
        for old in [*self.directory.glob("epoch-*.keras"), *self.directory.glob("best-at-*.keras")]:
            if old.name not in keep:
                old.unlink(missing_ok=True)

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
        best_file = None
        if self.best_path.is_file():  # a link: free unless best.keras changes later
            best_file = f"best-at-{epochs_done:04d}.keras"
            atomic_write(self.directory / best_file, functools.partial(_link_or_copy, self.best_path), suffix=".keras")
        current = self._read(_STATE)
        if isinstance(current, ResumeState) and current.epochs_done < epochs_done:  # becomes the fallback
            atomic_write(self.directory / _PREVIOUS, functools.partial(_link_or_copy, self.directory / _STATE))
        state = {
            "version": _VERSION,
            "epochs_done": epochs_done,
            "model_file": model_file,
            "best_model": best_file,
            "history": history,
            "callbacks": callbacks,
        }
        atomic_write(self.directory / _STATE, _write_text(json.dumps(state, indent=1)))
        self._drop_unreferenced()

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
        raw = json.loads((self.directory / state.state_file).read_text(encoding="utf-8"))
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
        raw.pop("best_model", None)  # the other machine's link; best.keras is copied below
        best = raw.get("best_file")
        if best and (folder / best).is_file():
            atomic_write(self.best_path, lambda p: shutil.copyfile(folder / best, p), suffix=".keras")
        atomic_write(self.directory / _STATE, _write_text(json.dumps(raw, indent=1)))
        return self.load()

    def clear(self) -> None:
        """Remove the folder (the trial is over and its artifacts are in MLflow)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- files MLflow did not accept ------------------------------------------------------------

    def mark_pending(self, run_id: str, trial: int, files: list[tuple[Path, str]], error: str) -> None:
        """Record that ``files`` (``(path in this folder, artifact folder)``) still have to reach
        run ``run_id``, and drop the resume state (the trial is over): only those files stay."""
        names = [(Path(path).name, artifact_path) for path, artifact_path in files]
        record = {"run_id": run_id, "trial": trial, "files": names, "error": error}
        atomic_write(self.directory / _PENDING, _write_text(json.dumps(record, indent=1)))
        keep = {name for name, _ in names} | {_PENDING}
        for child in self.directory.iterdir():
            if child.name in keep:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def pending(self) -> PendingUpload | None:
        """What :meth:`mark_pending` recorded, or ``None``."""
        try:
            raw = json.loads((self.directory / _PENDING).read_text(encoding="utf-8"))
            return PendingUpload(
                self.directory, str(raw["run_id"]), int(raw["trial"]), [(str(n), str(a)) for n, a in raw["files"]], str(raw["error"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def pending_in(study_dir: str | Path) -> list[PendingUpload]:
        """Every trial folder under ``study_dir`` with files waiting for MLflow, by trial number."""
        found = [TrialCheckpoints(p.parent).pending() for p in sorted(Path(study_dir).glob(f"trial-*/{_PENDING}"))]
        return [p for p in found if p is not None]


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
