"""``hpsearch study --workers K``: K worker processes on one study, their trials relayed to the
session's reporter."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from hpsearch._locations import Locations
from hpsearch.config import StudyConfig
from hpsearch.study._data_record import dataset_flags
from hpsearch.study._loop import count_trials
from hpsearch.study._open import target_trials
from hpsearch.study._reporter import Reporter
from hpsearch.study._workers import gpu_for_rank, spawn_worker

if TYPE_CHECKING:
    from hpsearch.study._session import StudyRequest

__all__ = ["run_parallel"]


def run_parallel(
    request: StudyRequest, config: StudyConfig, locations: Locations, study: optuna.Study, reporter: Reporter, deadline: float | None
) -> str:
    """Run ``request.workers`` worker processes and relay their finished trials to ``reporter``."""
    env = dict(os.environ)
    env["HPSEARCH_STORAGE"] = locations.storage_url  # not argv: `ps` would show passwords
    env["MLFLOW_TRACKING_URI"] = locations.tracking_uri
    env["HPSEARCH_CHECKPOINT_DIR"] = str(locations.checkpoint_root)
    env["HPSEARCH_HOME"] = str(locations.home)
    base = [config.name, "--no-finalize", "--quiet", *dataset_flags(config, request.data_dir)]
    procs: list[subprocess.Popen] = []
    for rank in range(request.workers):
        if deadline is not None:
            env["HPSEARCH_DEADLINE"] = repr(deadline)
        procs.append(spawn_worker([*base, "--rank", str(rank)], gpu=gpu_for_rank(request.gpus, rank), env=env))
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

    max_epochs = config.training.max_epochs

    def relay() -> None:
        running = []
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                reporter.trial_finished(t, None)
            elif t.state == TrialState.RUNNING:
                running.append(f"#{t.number} epoch {len(t.intermediate_values)}/{max_epochs}")
        reporter.status(f"{len(procs)} workers; running " + (", ".join(running) if running else "-"))

    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1.0)
            relay()
    except KeyboardInterrupt as stop:
        sig = signal.SIGTERM if type(stop).__name__ == "Terminated" else signal.SIGINT
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
        relay()
        raise
    relay()
    bad = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (0, None)]
    if bad:
        reporter.message("worker(s) " + ", ".join(f"{i} (exit {rc})" for i, rc in bad) + " stopped with an error; see their messages above")
    return "budget" if count_trials(study).finished >= target_trials(study, config) else "workers stopped"
