"""Delete a study and everything it left (``hpsearch delete``): its Optuna study, its MLflow
experiments, runs, logged models, artifacts and registered versions, its resume checkpoints
(K-fold state included), the TensorBoard logs ``hpsearch tensorboard`` gathered for it and the
plots ``hpsearch lr-find`` drew for it.

:func:`plan_deletion` only reads: it finds all of that and refuses a study a live worker is
running. :func:`delete_study` removes it, MLflow and folders first and the Optuna study last, so
that an interrupted deletion is finished by running the same command again.
"""

from __future__ import annotations

import datetime
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import Locations, redact, resolve_locations
from hpsearch._locks import creation_lock
from hpsearch.keys import StudyAttr, TrialAttr
from hpsearch.study._loop import is_orphan
from hpsearch.study._open import unknown_study
from hpsearch.study._storage import open_storage, parse_storage_url
from hpsearch.study._workers import is_dead_here

if TYPE_CHECKING:
    from hpsearch.tracking._purge import StudyFootprint

__all__ = ["DeletionPlan", "plan_deletion", "delete_study", "live_trials"]


@dataclass(frozen=True)
class Folder:
    """A folder of this machine that goes with the study."""

    what: str
    path: Path
    files: int
    size: int

    def describe(self) -> str:
        if not self.files:
            return f"{self.what} {self.path} (empty)"
        return f"{self.what} {self.path} ({_count(self.files, 'file')}, {_size(self.size)})"


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting study ``name`` removes. ``tracking`` is ``None`` when there is no MLflow
    store to look in; ``notes`` say what stays and why."""

    name: str
    locations: Locations
    trials: int
    parent_run: str | None
    tracking: StudyFootprint | None = None
    folders: tuple[Folder, ...] = ()
    notes: tuple[str, ...] = field(default=())
    has_study: bool = True  #: ``False``: no Optuna study, only what ``hpsearch lr-find`` left

    @property
    def runs(self) -> int:
        return len(self.tracking.run_ids) if self.tracking is not None else 0

    @property
    def versions(self) -> int:
        return len(self.tracking.versions) if self.tracking is not None else 0

    def lines(self) -> list[str]:
        """What goes, one line each, for the confirmation."""
        where = redact(self.locations.storage_url)
        out = [f"Optuna study {self.name!r} in {where}: {_count(self.trials, 'trial')}"] if self.has_study else []
        fp = self.tracking
        if fp is not None:
            where = redact(fp.tracking_uri)
            for exp in fp.experiments:
                out.append(f"MLflow experiment {exp.name!r} (id {exp.experiment_id}) in {where}")
            if fp.experiments:
                models = f", {_count(len(fp.logged_models), 'logged model')}" if fp.logged_models else ""
                out.append(f"  {_count(self.runs, 'run')}{models} and their artifacts")
            if fp.versions:
                whole = "the registered model itself" if fp.drops_registered_model else f"{fp.other_versions} other version(s) stay"
                out.append(f"registered model {self.name!r}: {_count(len(fp.versions), 'version')} ({', '.join(fp.versions)}); {whole}")
        out += [folder.describe() for folder in self.folders]
        return out

    def summary(self) -> str:
        """One line: what was deleted."""
        parts = [_count(self.trials, "trial"), _count(self.runs, "MLflow run"), _count(self.versions, "registered version"), _count(len(self.folders), "folder")]
        if not self.has_study:
            return f"Deleted what lr-find left for {self.name}: {', '.join(parts[1:2] + parts[3:])}."
        return f"Deleted study {self.name}: {', '.join(parts)}."


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _size(n: int) -> str:
    """``719 bytes``, ``48.1 MB``."""
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    return f"{value:.1f} {unit}"


def _folder(what: str, path: Path) -> Folder | None:
    if not path.is_dir():
        return None
    files = [p for p in path.rglob("*") if p.is_file()]
    return Folder(what, path, len(files), sum(p.stat().st_size for p in files))


# ----------------------------------------------------------------------------- live workers


def _heartbeat(attrs: dict[str, Any]) -> tuple[int, int]:
    """``(interval, grace period)`` the study runs with (read raw: a config this version cannot
    parse must not stop its deletion)."""
    raw = (attrs.get(StudyAttr.CONFIG) or {}).get("heartbeat") or {}
    interval = int(raw.get("interval", 20))
    return interval, int(raw.get("grace_period", 3 * interval))


def live_trials(storage_url: str, study_name: str) -> list[FrozenTrial]:
    """The RUNNING trials of the study whose worker may be alive.

    A trial is *not* live when its worker provably died on this machine, when a database
    storage's heartbeat for it is older than the study's grace period, or when it never recorded
    a worker and started long ago (the rules the worker loop recovers trials by).
    """
    probe = open_storage(storage_url, create=False)
    study_id = probe.get_study_id_from_name(study_name)
    running = probe.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    stale: set[int] = set()
    if parse_storage_url(storage_url).supports_heartbeat:
        interval, grace = _heartbeat(probe.get_study_user_attrs(study_id))
        beating: BaseStorage = open_storage(storage_url, heartbeat_interval=interval, grace_period=grace, create=False)
        stale = set(beating._get_stale_trial_ids(study_id))  # type: ignore[attr-defined]  # what fail_stale_trials reads
    now = datetime.datetime.now()
    live = []
    for trial in running:
        if not (is_orphan(trial, now) or trial._trial_id in stale or is_dead_here(trial.user_attrs.get(TrialAttr.WORKER))):
            live.append(trial)
    return live


def _refuse_live(name: str, live: list[FrozenTrial]) -> None:
    if not live:
        return
    who = []
    for trial in live:
        owner = trial.user_attrs.get(TrialAttr.WORKER) or {}
        where = f"process {owner['pid']} on {owner.get('host')}" if "pid" in owner else "a worker that is starting"
        who.append(f"trial {trial.number} ({where})")
    raise RuntimeFailure(
        f"Study {name!r} has a live worker: {'; '.join(who)} {'is' if len(who) == 1 else 'are'} running. Stop it (Ctrl-C, or kill the process), "
        f"then run hpsearch delete {name} again."
    )


# ----------------------------------------------------------------------------- plan and delete


def _tracking_footprint(name: str, locations: Locations) -> tuple[StudyFootprint | None, list[str]]:
    """The study's MLflow footprint, or ``None`` with a note when there is no store to look in."""
    from hpsearch.tracking._tracking import check_tracking_uri

    uri = locations.tracking_uri
    if uri.startswith("sqlite:"):
        path = Path(urlsplit(uri).path[1:])  # one slash stripped, as SQLAlchemy does
        if not path.is_file():
            return None, [f"MLflow: no tracking store at {path}, so no runs to delete (pass --tracking-uri if the study logged elsewhere)."]
    if not locations.tracking_is_default:
        check_tracking_uri(uri)
    from hpsearch.tracking._purge import find_study_footprint

    return find_study_footprint(uri, name), []


def plan_deletion(name: str, storage: str | None = None, tracking_uri: str | None = None) -> DeletionPlan:
    """Find everything study ``name`` left; change nothing.

    Raises:
        UsageError: no study of that name (with the names that exist).
        RuntimeFailure: a live worker runs the study; a store that does not answer.
    """
    locations = resolve_locations(storage, tracking_uri)
    probe = open_storage(locations.storage_url, create=False)
    names = [s.study_name for s in probe.get_all_studies()]
    if name not in names:
        return _lr_find_leftovers(name, names, locations)
    _refuse_live(name, live_trials(locations.storage_url, name))
    study_id = probe.get_study_id_from_name(name)
    parent = probe.get_study_user_attrs(study_id).get(StudyAttr.PARENT_RUN)
    footprint, notes = _tracking_footprint(name, locations)
    if footprint is not None and parent and parent not in footprint.run_ids:
        notes.append(
            f"MLflow: the study's parent run {parent} is not in {redact(locations.tracking_uri)}; its runs stay where "
            "they are unless you pass the --tracking-uri it was run with."
        )
    if footprint is not None and not footprint.permanent and footprint.experiments:
        notes.append("MLflow: a tracking server keeps deleted runs in its trash until `mlflow gc` runs on it; their artifacts go now.")
    candidates = {
        "checkpoint folder": locations.checkpoint_root / name,
        "TensorBoard log folder": locations.home / "tensorboard" / name,
    }
    folders = _folders(name, locations, footprint, candidates)
    return DeletionPlan(
        name=name,
        locations=locations,
        trials=probe.get_n_trials(study_id),
        parent_run=parent,
        tracking=footprint,
        folders=folders,
        notes=tuple(notes),
    )


def _folders(name: str, locations: Locations, footprint: StudyFootprint | None, candidates: dict[str, Path]) -> tuple[Folder, ...]:
    """The folders of ``candidates``, the LR range test plots and the artifact folders of the
    experiments found (not the one the locations would give: runs left in another tracking store
    keep theirs) that exist."""
    candidates = {**candidates, "LR range test plot folder": locations.lr_find_folder(name)}
    for exp in footprint.experiments if footprint is not None else ():
        if exp.local_folder is not None and exp.local_folder not in candidates.values():
            candidates["MLflow artifact folder" + (f" of {exp.name!r}" if exp.name != name else "")] = exp.local_folder
    return tuple(f for what, path in candidates.items() if (f := _folder(what, path)) is not None)


def _lr_find_leftovers(name: str, names: list[str], locations: Locations) -> DeletionPlan:
    """No Optuna study ``name``: what ``hpsearch lr-find`` left for it (its runs, when they are all
    the experiment has, and its plots), else the unknown name is an error. Runs of any other kind
    mean a study that lives in another storage: they are not touched."""
    footprint, _ = _tracking_footprint(name, locations)
    if footprint is not None and not footprint.only_lr_find:
        footprint = None
    folders = _folders(name, locations, footprint, {})
    if footprint is None and not folders:
        raise UsageError(unknown_study(name, names, locations.storage_url))
    note = f"Optuna: no study {name!r} in {redact(locations.storage_url)}; what `hpsearch lr-find` left for that name goes."
    return DeletionPlan(name=name, locations=locations, trials=0, parent_run=None, tracking=footprint, folders=folders, notes=(note,), has_study=False)


def delete_study(plan: DeletionPlan) -> None:
    """Delete what ``plan`` found. A worker that started since the plan was made is refused the
    same way; the deletion holds the lock ``hpsearch study`` takes to open a study, so an
    ``hpsearch study NAME`` started meanwhile waits for it instead of re-creating half of it."""
    import optuna

    url = plan.locations.storage_url
    with creation_lock(url, "open"):
        probe = open_storage(url, create=False)
        exists = plan.name in [s.study_name for s in probe.get_all_studies()]
        if exists != plan.has_study:
            return  # deleted, or created, meanwhile: nothing to finish, or a study the plan did not list
        if exists:
            _refuse_live(plan.name, live_trials(url, plan.name))
        if plan.tracking is not None and not plan.tracking.empty:
            from hpsearch.tracking._purge import purge_study_footprint

            purge_study_footprint(plan.tracking)
        for folder in plan.folders:
            _remove(folder, plan.name)
        if exists:
            optuna.delete_study(study_name=plan.name, storage=probe)


def _remove(folder: Folder, name: str) -> None:
    try:
        shutil.rmtree(folder.path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise RuntimeFailure(
            f"Cannot remove the {folder.what} {folder.path} ({e.strerror}: {e.filename}); make it writable, "
            f"then run hpsearch delete {name} again to finish (the study is still listed until then)."
        ) from None
