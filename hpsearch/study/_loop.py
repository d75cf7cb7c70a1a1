"""The worker loop: run trials of a study until its budget is met.

The loop is Optuna's ask-and-tell, not ``study.optimize``, because hpsearch needs what
``optimize`` does not offer:

* **exact budgets across workers** -- counting the finished + running trials and asking for a
  new one happen under :func:`~hpsearch.study._storage.budget_lock`, so K workers on a study of N
  trials run exactly N (``--trials`` counts COMPLETE + PRUNED trials, in total);
* **immediate recovery** -- a RUNNING trial whose worker provably died on this machine is failed
  and re-queued at once; trials of other machines are failed by Optuna's heartbeat check after
  the grace period. Either way the retry has the same params and resumes from the last epoch;
* **clean interrupts** -- Ctrl-C / SIGTERM mark the trial FAIL ("interrupted") and queue its
  retry before the process exits, so re-running the command continues it.

Opening a study is :mod:`hpsearch.study._open`; its sampler and pruner :mod:`hpsearch.study._strategies`.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
import psutil
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from hpsearch._errors import RuntimeFailure
from hpsearch._locations import Locations
from hpsearch.config import StudyConfig
from hpsearch.study._ranking import first_value
from hpsearch.study._reporter import NullReporter, Reporter
from hpsearch.study._storage import MAX_RETRY, budget_lock
from hpsearch.study._workers import is_dead_here, worker_identity
from hpsearch.trial._outcome import TrialOutcome

from hpsearch.keys import State, TrialAttr

__all__ = ["FINISHED", "Counts", "WorkerResult", "count_trials", "first_attempt", "is_orphan", "run_worker"]

#: States that count towards ``--trials``.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

#: Trials without an owner (killed between ask and the first heartbeat) are orphans after this.
_ORPHAN_AFTER = datetime.timedelta(minutes=30)


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


def is_orphan(trial: FrozenTrial, now: datetime.datetime) -> bool:
    """A RUNNING trial that never recorded its worker and started long ago: its process died
    between Optuna's ``ask`` and hpsearch's first write (nothing else can own it)."""
    return trial.user_attrs.get(TrialAttr.WORKER) is None and trial.datetime_start is not None and now - trial.datetime_start > _ORPHAN_AFTER


def _recover_dead_local(study: optuna.Study) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker provably died (same machine), or orphans.

    Uses ``study._storage``: Optuna has no public call to fail another process's trial (its own
    ``fail_stale_trials`` does the same).
    """
    storage = study._storage
    recovered = []
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(TrialAttr.WORKER)
        if not (is_orphan(t, now) or is_dead_here(owner)):
            continue
        reason = "worker process died (killed or crashed); retried" if owner else "trial never started; retried"
        try:
            storage.set_trial_user_attr(t._trial_id, TrialAttr.FAIL_REASON, reason)
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
    """How :func:`run_worker` ended, when it returned (too many failures in a row raise instead).

    ``reason`` is ``budget`` (the study's target is met -- or a grid sampler's every point has a
    trial -- and no trial is running), ``timeout``
    (the deadline passed), ``max_trials`` (this worker ran its ``max_trials``) or ``recycle``
    (this process grew past ``memory.max_growth``; the CLI replaces it). ``trials_run`` counts
    the trials this worker ran; ``counts`` are the study's, all workers together.
    """

    reason: str
    trials_run: int
    counts: Counts


def _failures_in_a_row(study: optuna.Study, identity: Mapping[str, Any]) -> list[str]:
    """``trial N: reason`` of this worker's latest trials that failed in a row, oldest first.

    Read from the storage, so the count survives the worker replacing itself (``exec`` keeps the
    process, hence its identity) to return memory: a study cannot fail more than
    ``max_consecutive_failures`` trials in a row by recycling in between.
    """
    mine = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.user_attrs.get(TrialAttr.WORKER) == identity]
    failed: list[str] = []
    for t in sorted(mine, key=lambda t: t.number, reverse=True):
        if t.state != TrialState.FAIL:
            break
        failed.append(f"trial {t.number}: {t.user_attrs.get('fail_reason') or 'failed'}")
    return failed[::-1]


def _sampler_done(study: optuna.Study) -> bool:
    """The sampler has nothing new to suggest: a grid whose every point has a trial."""
    done = getattr(study.sampler, "all_points_started", None)
    return bool(done is not None and done(study))


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> FrozenTrial | None:
    try:
        if outcome.state == State.COMPLETE:
            return study.tell(trial, outcome.values if outcome.values is not None else outcome.value)
        if outcome.state == State.PRUNED:
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
            wants_trial = counts.waiting or (counts.finished + counts.running < target and not _sampler_done(study))
            limit = config.memory.max_growth
            if recycle and limit is not None and trials_run:
                rss = _rss()  # measured at the same point of every iteration
                if baseline_rss is None:
                    baseline_rss = rss  # after the first trial: TF runtime, data, one model's caches
                elif wants_trial and rss > baseline_rss * (1 + limit):
                    return WorkerResult("recycle", trials_run, counts)
            if wants_trial:
                trial = study.ask()
                trial.set_user_attr(TrialAttr.WORKER, identity)
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
            reporter.trial_started(trial.number, frozen.params, first if first != trial.number else None)
            outcome = runner.run(trial, first_number=first)
        except KeyboardInterrupt as stop:
            heartbeat.stop()
            reason = f"interrupted ({str(stop).removeprefix('signal ') or 'Ctrl-C'})"
            try:
                trial.set_user_attr(TrialAttr.FAIL_REASON, reason)
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
        runner.close(outcome, value=first_value(told))
        reporter.trial_finished(told, outcome)
        if outcome.state == State.FAIL:
            failures.append(f"trial {trial.number}: {outcome.reason}")
            if len(failures) >= config.budget.max_consecutive_failures:
                raise RuntimeFailure(
                    f"{len(failures)} trials failed in a row, stopping the study. Last: {failures[-1]}. "
                    "Fix the cause (see `hpsearch show "
                    f"{config.name}`), then run the same command again to continue."
                )
        else:
            failures.clear()
