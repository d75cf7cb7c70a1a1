"""Studies: create or load the Optuna study, then run trials until the budget is met.

The worker loop is Optuna's ask-and-tell, not ``study.optimize``, because hpsearch needs what
``optimize`` does not offer:

* **exact budgets across workers** -- counting the finished + running trials and asking for a
  new one happen under :func:`~hpsearch.study._storage.budget_lock`, so K workers on a study of N
  trials run exactly N (``--trials`` counts COMPLETE + PRUNED trials, in total);
* **immediate recovery** -- a RUNNING trial whose worker provably died on this machine is failed
  and re-queued at once; trials of other machines are failed by Optuna's heartbeat check after
  the grace period. Either way the retry has the same params and resumes from the last epoch;
* **clean interrupts** -- Ctrl-C / SIGTERM mark the trial FAIL ("interrupted") and queue its
  retry before the process exits, so re-running the command continues it.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import optuna
import psutil
from optuna.distributions import CategoricalDistribution
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from hpsearch.catalog import PRUNERS, SAMPLERS
from hpsearch.config._study_config import StudyConfig, parse_study_dict
from hpsearch._errors import RuntimeFailure, UsageError, did_you_mean
from hpsearch._locations import Locations, redact
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.space._sample import align_choices
from hpsearch.study._storage import MAX_RETRY, budget_lock, open_storage, parse_storage_url
from hpsearch.study._workers import is_dead_here, worker_identity

__all__ = [
    "ATTR_CONFIG",
    "ATTR_DATA_SOURCE",
    "ATTR_PARENT_RUN",
    "ATTR_SEED",
    "ATTR_TEST",
    "ATTR_WORKER",
    "FINISHED",
    "Reporter",
    "NullReporter",
    "Counts",
    "WorkerResult",
    "open_study",
    "load_study",
    "seed_of",
    "stored_seed",
    "fresh_seed",
    "check_seed",
    "count_trials",
    "first_attempt",
    "make_sampler",
    "make_pruner",
    "run_worker",
]

ATTR_CONFIG = "hpsearch.config"
ATTR_IDENTITY = "hpsearch.identity"
ATTR_SEED = "hpsearch.seed"
ATTR_DATA = "hpsearch.data"
ATTR_DATA_SOURCE = "hpsearch.data_source"  #: where the data came from (see ``Dataset.source``)
ATTR_TARGET = "hpsearch.target_trials"
ATTR_PARENT_RUN = "hpsearch.mlflow_parent_run_id"
ATTR_TEST = "hpsearch.test_metrics"
ATTR_WORKER = "hpsearch.worker"

#: States that count towards ``--trials``.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

#: Trials without an owner (killed between ask and the first heartbeat) are orphans after this.
_ORPHAN_AFTER = datetime.timedelta(minutes=30)


class Reporter(Protocol):
    """Receives progress events; the CLI draws them, tests record them."""

    def trial_started(self, number: int, params: Mapping[str, Any], resumed_from: int, retry_of: int | None) -> None: ...
    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None: ...
    def trial_finished(self, trial: FrozenTrial | None, outcome: TrialOutcome | None) -> None: ...
    def waiting(self, running: int) -> None: ...
    def message(self, text: str) -> None: ...
    def status(self, text: str) -> None: ...


class NullReporter:
    """Discards every event."""

    def trial_started(self, number: int, params: Mapping[str, Any], resumed_from: int, retry_of: int | None) -> None:
        pass

    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None:
        pass

    def trial_finished(self, trial: FrozenTrial | None, outcome: TrialOutcome | None) -> None:
        pass

    def waiting(self, running: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def status(self, text: str) -> None:
        pass


# ----------------------------------------------------------------------------- sampler and pruner


def _mixed_seed(*parts: int) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def make_sampler(config: StudyConfig, *, rank: int = 0, n_existing: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded from (seed, worker rank, trials so far).

    Mixing in the number of existing trials matters: re-seeding a resumed study with the same
    seed would replay the first random suggestions and repeat earlier param sets.
    """
    seed = _mixed_seed(config.seed, rank, n_existing)
    return SAMPLERS.build(config.sampler.name, dict(config.sampler.options), seed=seed)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """The study's pruner (see :data:`hpsearch.catalog.PRUNERS` for how epochs map to Optuna steps)."""
    return PRUNERS.build(config.pruner.name, dict(config.pruner.options), max_epochs=config.training.max_epochs)


# ----------------------------------------------------------------------------- create / load


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if old == new else [f"{path} (was {json.dumps(old)}, now {json.dumps(new)})"]


def _canonical(value: Any) -> Any:
    """``value`` as the storage gives it back (JSON types), *in its own key order*: the order of
    a study's branches and choices is part of its Optuna distributions (see ``align_choices``)."""
    return json.loads(json.dumps(value))


def _recorded_choices(study: optuna.Study) -> dict[str, tuple[Any, ...]]:
    """Parameter name -> the choices its categorical distribution had in the study's trials."""
    recorded: dict[str, tuple[Any, ...]] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                recorded.setdefault(name, dist.choices)
    return recorded


def _aligned(config: StudyConfig, study: optuna.Study) -> tuple[StudyConfig, list[str]]:
    """``config`` with its choices in the order the study's trials recorded (see
    :func:`~hpsearch.space._sample.align_choices`), and the parameters that cannot be aligned."""
    space, conflicts = align_choices(config.search_space, _recorded_choices(study))
    return (config if space == config.search_space else config.model_copy(update={"search_space": space})), conflicts


def _conflict_message(name: str, conflicts: list[str]) -> str:
    return (
        f"Study {name!r} cannot be continued with these choices: {'; '.join(conflicts)}. Optuna refuses a "
        "parameter whose choices change within a study. Re-run with --fresh to replace it, or --study-name NEW "
        "to start another study."
    )


def _storage_for(config: StudyConfig, locations: Locations, *, create: bool = True) -> BaseStorage:
    spec = parse_storage_url(locations.storage_url)
    hb = config.heartbeat
    if not spec.supports_heartbeat:
        return open_storage(locations.storage_url, create=create)
    return open_storage(locations.storage_url, heartbeat_interval=hb.interval, grace_period=hb.grace_period, create=create)


def _existing_names(storage: BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def seed_of(user_attrs: Mapping[str, Any]) -> int | None:
    """The seed a study was created with: recorded since hpsearch draws fresh seeds; before, it
    was the stored configuration's ``seed`` (42 unless the study file said otherwise)."""
    seed = user_attrs.get(ATTR_SEED)
    if seed is None:
        seed = (user_attrs.get(ATTR_CONFIG) or {}).get("seed")
    return None if seed is None else int(seed)


def stored_seed(name: str, locations: Locations) -> int | None:
    """The seed of the existing study ``name``, or ``None`` when there is none. Reads only.

    The seed splits the data, so a session needs it before it loads the data and opens (or
    creates) the study. Storage problems are left for :func:`open_study` to report.
    """
    spec = parse_storage_url(locations.storage_url)
    if spec.path is not None and not spec.path.is_file():
        return None
    try:
        storage = open_storage(locations.storage_url, create=False)
        if name not in _existing_names(storage):
            return None
        return seed_of(storage.get_study_user_attrs(storage.get_study_id_from_name(name)))
    except Exception:  # noqa: BLE001 - unreachable or empty storage: no study to take a seed from
        return None


def fresh_seed() -> int:
    """A new study's seed when neither the study file nor --seed fixes one."""
    return secrets.randbelow(2**31)


def check_seed(name: str, recorded: int, config: StudyConfig, *, flag: str = "--seed / the study file's `seed:`") -> None:
    """A study keeps its seed: it fixed the validation split its trials were scored on."""
    if config.seed is not None and config.seed != recorded:
        raise UsageError(
            f"Study {name!r} was created with seed {recorded}, and {flag} asks for {config.seed}: another seed "
            f"would change its validation split. Drop it (or pass --seed {recorded}) to continue the study, or "
            "--fresh / --study-name NEW to start over with the new seed."
        )


def open_study(
    config: StudyConfig,
    locations: Locations,
    *,
    data_fingerprint: Mapping[str, Any],
    fresh: bool = False,
    rank: int = 0,
) -> tuple[optuna.Study, StudyConfig, bool]:
    """Create the study, or load it and check it is the same study.

    Returns:
        ``(study, config, created)``: ``config`` is the one the study runs with -- its seed
        settled (the study's own, or a fresh one for a new study without ``seed``) and its
        choices in the order the study's trials recorded.

    Raises:
        UsageError: the stored study has another search space / data / objective / seed (unless
            ``fresh``, which deletes it and starts over).
    """
    storage = _storage_for(config, locations)
    name = config.name
    exists = name in _existing_names(storage)
    if exists and fresh:
        optuna.delete_study(study_name=name, storage=storage)
        exists = False
    if exists:
        study = optuna.load_study(study_name=name, storage=storage)
        # Check everything before writing anything.
        recorded = seed_of(study.user_attrs)
        if recorded is not None:
            check_seed(name, recorded, config)
            config = config.with_overrides(seed=recorded)
        elif config.seed is None:
            config = config.with_overrides(seed=fresh_seed())
        config, conflicts = _aligned(config, study)
        identity = _canonical(config.identity())
        stored = study.user_attrs.get(ATTR_IDENTITY)
        if stored is not None and stored != identity:
            changes = _diff(stored, identity)
            shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
            raise UsageError(
                f"Study {name!r} already exists with different settings: {shown}. Trials of the two "
                "would not be comparable. Re-run with --fresh to replace it, or --study-name NEW to start another study."
            )
        if conflicts:
            raise UsageError(_conflict_message(name, conflicts))
        stored_data = study.user_attrs.get(ATTR_DATA)
        if stored_data is not None and stored_data != _canonical(data_fingerprint):
            raise UsageError(
                f"Study {name!r} was created on different data ({stored_data}); this run loads "
                f"{dict(data_fingerprint)}. Pass the same dataset, or --fresh / --study-name NEW."
            )
        n_existing = storage.get_n_trials(storage.get_study_id_from_name(name))
        study.sampler = make_sampler(config, rank=rank, n_existing=n_existing)
        study.pruner = make_pruner(config)
    else:
        if config.seed is None:
            config = config.with_overrides(seed=fresh_seed())
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=config.objective.direction,
            sampler=make_sampler(config, rank=rank),
            pruner=make_pruner(config),
        )
        study.set_user_attr(ATTR_IDENTITY, _canonical(config.identity()))
        study.set_user_attr(ATTR_DATA, _canonical(data_fingerprint))
    study.set_user_attr(ATTR_SEED, config.seed)
    study.set_user_attr(ATTR_CONFIG, _canonical(config.to_dict()))
    study.set_user_attr(ATTR_TARGET, config.budget.trials)
    return study, config, not exists


def load_study(name: str, locations: Locations, *, rank: int = 0, for_worker: bool = False) -> tuple[optuna.Study, StudyConfig]:
    """Load an existing study and the config it was created with.

    A worker (``for_worker``) gets the config with its choices in the order the study's trials
    recorded, so that it samples exactly the distributions every other process samples.

    Raises:
        RuntimeFailure: no such study (with the names that do exist).
        UsageError: (worker) the study's stored choices do not match its trials.
    """
    spec = parse_storage_url(locations.storage_url)
    probe = open_storage(locations.storage_url, create=False)
    names = _existing_names(probe)
    if name not in names:
        hint = did_you_mean(name, names)
        known = f" Studies in {redact(locations.storage_url)}: {', '.join(sorted(names))}." if names else f" {redact(locations.storage_url)} has no studies yet."
        raise RuntimeFailure(f"No study named {name!r}{hint}.{known}")
    attrs = optuna.load_study(study_name=name, storage=probe).user_attrs
    raw = attrs.get(ATTR_CONFIG)
    if raw is None:
        raise RuntimeFailure(f"Study {name!r} was not created by hpsearch (it has no stored configuration).")
    config = parse_study_dict(raw, name=name, source=f"study {name!r} in storage", stored=True)
    if config.seed is None:
        config = config.with_overrides(seed=seed_of(attrs))
    if not for_worker:
        return optuna.load_study(study_name=name, storage=probe), config
    storage = _storage_for(config, locations) if spec.supports_heartbeat else probe
    study = optuna.load_study(study_name=name, storage=storage)
    config, conflicts = _aligned(config, study)
    if conflicts:
        raise UsageError(_conflict_message(name, conflicts))
    study.sampler = make_sampler(config, rank=rank, n_existing=storage.get_n_trials(storage.get_study_id_from_name(name)))
    study.pruner = make_pruner(config)
    return study, config


def target_trials(study: optuna.Study, config: StudyConfig) -> int:
    return int(study.user_attrs.get(ATTR_TARGET, config.budget.trials))


# ----------------------------------------------------------------------------- counting and recovery


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def count_trials(study: optuna.Study) -> Counts:
    c = Counter(t.state for t in study.get_trials(deepcopy=False))
    return Counts(
        complete=c[TrialState.COMPLETE],
        pruned=c[TrialState.PRUNED],
        failed=c[TrialState.FAIL],
        running=c[TrialState.RUNNING],
        waiting=c[TrialState.WAITING],
    )


def first_attempt(trial: FrozenTrial) -> int:
    """Number of the first attempt of this trial (itself unless it is a retry)."""
    first = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return trial.number if first is None else int(first)


def _retry(study: optuna.Study, failed: FrozenTrial, *, max_retry: int | None = MAX_RETRY) -> None:
    """Queue a new attempt of ``failed`` with its params and user attrs. Its intermediate values
    are not copied: the retry reports the epochs of the resume state it continues from (and
    none when it has to restart from epoch 0), so its history is that of one attempt."""
    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, copy.deepcopy(failed))


def _recover_dead_local(study: optuna.Study) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker provably died (same machine), or orphans.

    Uses ``study._storage``: Optuna has no public call to fail another process's trial (its own
    ``fail_stale_trials`` does the same).
    """
    storage = study._storage
    recovered = []
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(ATTR_WORKER)
        orphan = owner is None and t.datetime_start is not None and now - t.datetime_start > _ORPHAN_AFTER
        if not (orphan or is_dead_here(owner)):
            continue
        reason = "worker process died (killed or crashed); retried" if owner else "trial never started; retried"
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            continue  # another worker got there first
        _retry(study, storage.get_trial(t._trial_id))
        recovered.append(t.number)
    return recovered


class _Heartbeat:
    """Records the trial's heartbeat now and then every ``interval`` seconds, in a thread."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Ask through the storage's heartbeat interface: a Study wraps RDBStorage in a cache
        # layer that forwards these calls but has none of RDBStorage's attributes.
        interval = getattr(self._storage, "get_heartbeat_interval", lambda: None)()
        if interval is None:
            return
        self._storage.record_heartbeat(self._trial_id)
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self._trial_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried next interval
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# ----------------------------------------------------------------------------- the worker loop


def _rss() -> int:
    """Resident memory of this process, in bytes."""
    return psutil.Process().memory_info().rss


@dataclass
class WorkerResult:
    """Why a worker stopped: ``budget`` (target reached), ``timeout`` or ``failures``."""

    reason: str
    trials_run: int
    counts: Counts


def _failures_in_a_row(study: optuna.Study, identity: Mapping[str, Any]) -> list[str]:
    """``trial N: reason`` of this worker's latest trials that failed in a row, oldest first.

    Read from the storage, so the count survives the worker replacing itself (``exec`` keeps the
    process, hence its identity) to return memory: a study cannot fail more than
    ``max_consecutive_failures`` trials in a row by recycling in between.
    """
    mine = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.user_attrs.get(ATTR_WORKER) == identity]
    failed: list[str] = []
    for t in sorted(mine, key=lambda t: t.number, reverse=True):
        if t.state != TrialState.FAIL:
            break
        failed.append(f"trial {t.number}: {t.user_attrs.get('fail_reason') or 'failed'}")
    return failed[::-1]


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> FrozenTrial | None:
    try:
        if outcome.state == "COMPLETE":
            return study.tell(trial, outcome.value)
        if outcome.state == "PRUNED":
            return study.tell(trial, state=TrialState.PRUNED)
        return study.tell(trial, state=TrialState.FAIL)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
        return None  # another worker declared this trial dead and queued its retry


def run_worker(
    study: optuna.Study,
    config: StudyConfig,
    runner: Any,
    locations: Locations,
    *,
    target: int,
    deadline: float | None = None,
    reporter: Reporter | None = None,
    max_trials: int | None = None,
    poll_seconds: float = 2.0,
    recycle: bool = False,
) -> WorkerResult:
    """Run trials of ``study`` until ``target`` trials have finished (in total, all workers).

    Args:
        runner: a :class:`~hpsearch.trial._runner.TrialRunner` (anything with ``run`` and ``close``).
        deadline: ``time.time()`` after which no new trial starts.
        max_trials: stop after this many trials in *this* worker (tests, benchmarks).
        recycle: return ``"recycle"`` instead of starting another trial once this process has
            grown more than ``config.memory.max_growth`` past its size after its first trial
            (the CLI then replaces the process; TensorFlow leaks memory across models).

    Raises:
        RuntimeFailure: ``max_consecutive_failures`` trials of this worker failed in a row
            (counted across its own restarts).
        KeyboardInterrupt: after the running trial was marked FAIL and queued for a retry.
    """
    reporter = reporter or NullReporter()
    storage = study._storage
    identity = worker_identity()
    failures = _failures_in_a_row(study, identity)
    trials_run = 0
    waited = False
    baseline_rss: int | None = None
    while True:
        if deadline is not None and time.time() >= deadline:
            return WorkerResult("timeout", trials_run, count_trials(study))
        if max_trials is not None and trials_run >= max_trials:
            return WorkerResult("max_trials", trials_run, count_trials(study))
        trial = None
        heartbeat = None
        with budget_lock(storage, locations.storage_url, config.name):
            for number in _recover_dead_local(study):
                reporter.message(f"trial {number}: its worker died; queued to resume with the same params")
            fail_stale_trials(study)
            counts = count_trials(study)
            wants_trial = counts.waiting or counts.finished + counts.running < target
            limit = config.memory.max_growth
            if recycle and limit is not None and trials_run:
                rss = _rss()  # measured at the same point of every iteration
                if baseline_rss is None:
                    baseline_rss = rss  # after the first trial: TF runtime, data, one model's caches
                elif wants_trial and rss > baseline_rss * (1 + limit):
                    return WorkerResult("recycle", trials_run, counts)
            if wants_trial:
                trial = study.ask()
                trial.set_user_attr(ATTR_WORKER, identity)
                heartbeat = _Heartbeat(storage, trial._trial_id, config.heartbeat.interval)
                heartbeat.start()
        if trial is None:
            if counts.running == 0:
                return WorkerResult("budget", trials_run, counts)
            if not waited:
                reporter.waiting(counts.running)
                waited = True
            time.sleep(poll_seconds)
            continue
        waited = False

        assert heartbeat is not None
        frozen = storage.get_trial(trial._trial_id)
        first = first_attempt(frozen)
        try:
            reporter.trial_started(trial.number, frozen.params, 0, first if first != trial.number else None)
            outcome = runner.run(trial, first_number=first)
        except KeyboardInterrupt as stop:
            heartbeat.stop()
            reason = f"interrupted ({str(stop).removeprefix('signal ') or 'Ctrl-C'})"
            try:
                trial.set_user_attr("fail_reason", reason)
                failed = study.tell(trial, state=TrialState.FAIL)
                _retry(study, failed, max_retry=None)
            except Exception:  # noqa: BLE001 - heartbeat/orphan recovery will still catch it
                pass
            raise
        finally:
            heartbeat.stop()
        trials_run += 1
        told = _tell(study, trial, outcome)
        if told is None:
            reporter.message(f"trial {trial.number}: result discarded, another worker declared it dead and retried it")
            continue
        runner.close(outcome, value=told.value)
        reporter.trial_finished(told, outcome)
        if outcome.state == "FAIL":
            failures.append(f"trial {trial.number}: {outcome.reason}")
            if len(failures) >= config.budget.max_consecutive_failures:
                raise RuntimeFailure(
                    f"{len(failures)} trials failed in a row, stopping the study. Last: {failures[-1]}. "
                    "Fix the cause (see `hpsearch show "
                    f"{config.name}`), then run the same command again to continue."
                )
        else:
            failures.clear()
