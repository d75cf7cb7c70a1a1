"""Ctrl-C and SIGTERM wait for a store write to finish (``hpsearch._interrupts``).

The defect these guard against: a signal raised inside an MLflow or Optuna write skipped the
store's rollback-and-finish path, so the write was lost and, under load, SQLite's lock stayed held
and the stopped study could not record how it stopped.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hpsearch._interrupts import Terminated, deferred, install_signal_handlers, uninterrupted


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    # As in an interactive shell: a background job (CI's runner, `cmd &`) starts with SIGINT ignored,
    # and hpsearch then leaves it ignored, as Python does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    install_signal_handlers()
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _kill_self(sig: signal.Signals = signal.SIGTERM) -> None:
    os.kill(os.getpid(), sig)


def test_outside_a_write_the_signal_stops_at_once(handlers: None) -> None:
    with pytest.raises(Terminated, match="signal SIGTERM"):
        _kill_self()
    with pytest.raises(KeyboardInterrupt) as stop:
        _kill_self(signal.SIGINT)
        sum(range(10))
    assert type(stop.value) is KeyboardInterrupt


def test_inside_a_write_the_signal_waits_for_it_to_end(handlers: None) -> None:
    done = []
    with pytest.raises(Terminated):
        with deferred():
            _kill_self()
            with deferred():  # nested sections raise only when the outermost ends
                done.append("inner")
            done.append("outer")
    assert done == ["inner", "outer"]
    # Nothing is left pending: the next section runs to its end without a stop.
    with deferred():
        done.append("after")
    assert done[-1] == "after"


def test_a_second_signal_stops_even_inside_a_write(handlers: None) -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            _kill_self()
            reached.append(1)
            _kill_self(signal.SIGINT)
            reached.append(2)  # never runs: the second signal does not wait
    assert reached == [1]
    with deferred():  # and the first one is not raised a second time later
        reached.append(3)
    assert reached == [1, 3]


def test_an_ignored_sigint_stays_ignored() -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        install_signal_handlers()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert getattr(signal.getsignal(signal.SIGTERM), "__module__", None) == "hpsearch._interrupts"
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def test_other_threads_are_not_deferred(handlers: None) -> None:
    seen: list[bool] = []

    @uninterrupted
    def work() -> None:
        from hpsearch import _interrupts

        seen.append(_interrupts._depth == 0)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [True]


def test_an_mlflow_write_hit_by_sigterm_is_completed_then_stopped(handlers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    from hpsearch.tracking import StudyTracking

    tracking = StudyTracking(f"sqlite:///{tmp_path}/mlflow.db", "s", str(tmp_path / "artifacts"))
    run = tracking.start_run("r", "lr_find", params={})
    real = SqlAlchemyStore._update_latest_metrics_if_necessary

    def hit(self: SqlAlchemyStore, *args: object, **kwargs: object) -> object:
        _kill_self()  # lands in the middle of the metric insert's transaction
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SqlAlchemyStore, "_update_latest_metrics_if_necessary", hit)
    with pytest.raises(Terminated):
        run.log_epoch(0, {"loss": 0.5})
    monkeypatch.setattr(SqlAlchemyStore, "_update_latest_metrics_if_necessary", real)
    assert [m.value for m in tracking.client.get_metric_history(run.run_id, "loss")] == [0.5]
    run.end("KILLED")  # the closing write still works
    assert tracking.client.get_run(run.run_id).info.status == "KILLED"


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_an_optuna_write_hit_by_sigint_is_completed_then_stopped(handlers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    from optuna.storages import JournalStorage, RDBStorage

    from hpsearch.study._storage import open_storage

    url = f"sqlite:///{tmp_path}/optuna.db" if kind == "sqlite" else f"journal:///{tmp_path}/optuna.log"
    storage = open_storage(url)
    assert isinstance(storage, RDBStorage if kind == "sqlite" else JournalStorage)
    assert type(pickle.loads(pickle.dumps(storage))) is type(storage)  # still pickles as Optuna's own
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    cls, method = (RDBStorage, "_set_trial_attr_without_commit") if kind == "sqlite" else (JournalStorage, "_write_log")
    real = getattr(cls, method)

    def hit(*args: object, **kwargs: object) -> object:
        _kill_self(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(cls, method, hit)
    with pytest.raises(KeyboardInterrupt):
        trial.set_user_attr("reason", "interrupted")
    monkeypatch.setattr(cls, method, real)
    assert optuna.load_study(study_name="s", storage=open_storage(url)).trials[0].user_attrs == {"reason": "interrupted"}
