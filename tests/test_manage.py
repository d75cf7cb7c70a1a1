"""Reusing and managing a study: the best params as a study file (``show --best --format yaml``),
queued param sets (``enqueue``), ``dashboard``. Studies are run with the trivial runner (no TF).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner

from conftest import write_study
from hpsearch._locations import resolve_locations
from hpsearch.cli import main
from hpsearch.config import load_study_config
from hpsearch.keys import TrialAttr
from hpsearch.space._sample import sample
from hpsearch.study._loop import run_worker
from hpsearch.study._open import open_study
from hpsearch.study._ranking import best_trial
from hpsearch.testing import TrivialRunner

SPACE = {
    "optimizer": {"adam": {}, "sgd": {"momentum": {"low": 0.5, "high": 0.99}}},
    "learning_rate": {"low": 1.0e-4, "high": 1.0e-1, "log": True},
    "batch_size": [32, 64],
    "dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
}


def run_tiny(store: Path, name: str, trials: int = 6, **sections: Any) -> optuna.Study:
    """Study ``name`` in the isolated store, ``trials`` trivial trials run."""
    store.mkdir(exist_ok=True)
    sections.setdefault("search_space", SPACE)
    path = write_study(store.parent / f"{name}.yaml", budget={"trials": trials}, sampler="random", **sections)
    config = load_study_config(str(path), study_name=name)
    locations = resolve_locations(None, None)
    study, config = open_study(config, locations, data_fingerprint={})
    run_worker(study, config, TrivialRunner(config), locations, target=trials, poll_seconds=0.1)
    return study


def full_params(config: Any, params: dict[str, Any]) -> dict[str, Any]:
    return sample(optuna.trial.FixedTrial(params), config.search_space)


def test_best_params_as_yaml_paste_into_a_study_file_and_give_the_same_params(store: Path) -> None:
    study = run_tiny(store, "src")
    result = CliRunner().invoke(main, ["show", "src", "--best", "--format", "yaml"])
    assert result.exit_code == 0, result.output
    best = best_trial(study)
    assert f"# Best trial {best.number} of study src" in result.output
    pasted = yaml.safe_load(result.output)
    assert set(pasted) == {"search_space"}
    # paste it into a study file: every value is fixed, and they are the best trial's
    new = load_study_config(str(write_study(store.parent / "pasted.yaml", search_space=pasted["search_space"])))
    assert new.search_space.searched() == []
    original = load_study_config(str(write_study(store.parent / "o.yaml", search_space=SPACE)))
    assert full_params(new, {}) == full_params(original, best.params)
    # the branch is written in the conditional syntax
    assert set(pasted["search_space"]["optimizer"]) == {best.params["optimizer"]}


def test_show_best_yaml_needs_best_and_a_completed_trial(store: Path) -> None:
    run_tiny(store, "src", trials=1)
    result = CliRunner().invoke(main, ["show", "src", "--format", "yaml"])
    assert result.exit_code == 2 and "add --best" in result.output
    table = CliRunner().invoke(main, ["show", "src", "--best", "--format", "json"])
    assert table.exit_code == 0 and table.output.count('"number"') == 1


def test_enqueued_sets_run_first_with_exactly_their_values(store: Path) -> None:
    study = run_tiny(store, "q", trials=2)
    sets = [
        {"search_space": {"optimizer": {"sgd": {"momentum": 0.9}}, "learning_rate": 0.003, "batch_size": 64, "dropout": 0.2}},
        {"optimizer": "adam", "learning_rate": 0.01},  # partial: the rest is sampled
        {"optimizer": "sgd", "sgd.momentum": 0.6, "learning_rate": 0.02},  # flat names, as `show` prints them
    ]
    queued = store.parent / "queue.yaml"
    queued.write_text(yaml.safe_dump(sets))
    result = CliRunner().invoke(main, ["enqueue", "q", str(queued)])
    assert result.exit_code == 0, result.output
    assert "Queued 3 param set(s) in study q" in result.output
    again = CliRunner().invoke(main, ["enqueue", "q", str(queued)])
    assert "Queued 0 param set(s)" in again.output and "3 already queued or run, skipped" in again.output
    # the next session runs them first (trial numbers 2, 3, 4), then the sampler's own
    config = load_study_config(str(write_study(store.parent / "q.yaml", search_space=SPACE, sampler="random", budget={"trials": 6})), study_name="q")
    study, config = open_study(config, resolve_locations(None, None), data_fingerprint={})
    run_worker(study, config, TrivialRunner(config), resolve_locations(None, None), target=6, poll_seconds=0.1)
    trials = study.get_trials()
    assert trials[2].params == {"optimizer": "sgd", "sgd.momentum": 0.9, "learning_rate": 0.003, "batch_size": 64, "dropout": 0.2}
    assert trials[3].params["optimizer"] == "adam" and trials[3].params["learning_rate"] == 0.01
    assert {"batch_size", "dropout"} <= set(trials[3].params)
    assert trials[4].params["sgd.momentum"] == 0.6
    assert trials[2].user_attrs[TrialAttr.ENQUEUED_FROM] == str(queued)
    assert len(trials) == 6 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


GROUP_SPACE = {**SPACE, "augmentation": {"translation": {"low": 0.0, "high": 0.1}, "zoom": 0.05}}


def test_group_roles_paste_and_queue_like_the_others(store: Path) -> None:
    """A group role (augmentation, a model's knobs) is written as {knob: value}, or with its flat
    names; `show --best --format yaml` and `enqueue` used to fail on it with a KeyError."""
    study = run_tiny(store, "g", trials=2, search_space=GROUP_SPACE)
    result = CliRunner().invoke(main, ["show", "g", "--best", "--format", "yaml"])
    assert result.exit_code == 0, result.output
    pasted = yaml.safe_load(result.output)["search_space"]["augmentation"]
    assert (pasted["translation"], pasted["zoom"]) == (best_trial(study).params["augmentation.translation"], 0.05)
    assert pasted["horizontal_flip"] is False  # knobs left out of the study file are written at their defaults
    queue = store.parent / "queue.yaml"
    queue.write_text(yaml.safe_dump([{"augmentation": {"translation": 0.02, "zoom": 0.05}}, {"augmentation.translation": 0.07}]))
    result = CliRunner().invoke(main, ["enqueue", "g", str(queue)])
    assert result.exit_code == 0 and "Queued 2 param set(s)" in result.output, result.output
    assert [t.system_attrs["fixed_params"] for t in study.get_trials()[2:]] == [{"augmentation.translation": 0.02}, {"augmentation.translation": 0.07}]
    for bad, message in (
        ({"augmentation": {"shear": 0.1}}, "augmentation.shear: augmentation has no option 'shear' (options: horizontal_flip, "),
        ({"augmentation": {"translation": 0.5}}, "augmentation.translation: 0.5 is outside the study's range [0.0, 0.1]."),
        ({"augmentation": {"zoom": 0.1}}, "augmentation.zoom: the study fixes it at 0.05, got 0.1."),
        ({"augmentation": 0.1}, "augmentation: expected a mapping of augmentation option -> value, got 0.1."),
    ):
        queue.write_text(yaml.safe_dump(bad))
        result = CliRunner().invoke(main, ["enqueue", "g", str(queue)])
        assert result.exit_code == 2 and result.output.startswith(f"Error: {queue}: {message}"), result.output
        assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"learning_rate": 0.5}, "learning_rate: 0.5 is outside the study's range [0.0001, 0.1]."),
        ({"optimizer": "rmsprop"}, "optimizer: 'rmsprop' is not one of the study's choices ('adam', 'sgd')."),
        ({"batch_size": 48}, "batch_size: 48 is not one of the study's choices (32, 64)."),
        ({"dropout": 0.25}, "dropout: 0.25 is not on the study's grid 0.0, 0.1, ... (step 0.1)."),
        ({"optimizer": {"sgd": {"momentum": 0.3}}}, "sgd.momentum: 0.3 is outside the study's range [0.5, 0.99]."),
        ({"optimizer": {"sgd": {"foo": 1}}}, "sgd.foo: sgd has no option 'foo' (options: momentum, "),
        ({"learning_rat": 0.01}, "learning_rat: not a parameter of the search space"),
        ({"batch_size": "big"}, "batch_size: expected an integer"),
        ({"initializer": "he_normal"}, "initializer: the study fixes it at 'glorot_uniform', got 'he_normal'."),
    ],
)
def test_a_bad_queued_set_is_one_line_and_queues_nothing(store: Path, bad: dict[str, Any], message: str) -> None:
    study = run_tiny(store, "q", trials=1)
    path = store.parent / "bad.yaml"
    path.write_text(yaml.safe_dump([{"learning_rate": 0.01}, bad]))
    result = CliRunner().invoke(main, ["enqueue", "q", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {path} [set 2]: {message}")
    assert len(result.output.strip().splitlines()) == 1
    assert len(study.get_trials()) == 1  # nothing queued, not even the good first set


def test_a_grid_study_needs_whole_queued_sets(store: Path) -> None:
    grid = {"optimizer": ["adam", "sgd"], "learning_rate": [0.001, 0.01], "batch_size": [32, 64]}
    store.mkdir(exist_ok=True)
    path = write_study(store.parent / "g.yaml", budget={"trials": 1}, sampler="grid", search_space=grid)
    config = load_study_config(str(path), study_name="g")
    open_study(config, resolve_locations(None, None), data_fingerprint={})
    part = store.parent / "part.yaml"
    part.write_text(yaml.safe_dump({"optimizer": "sgd"}))
    result = CliRunner().invoke(main, ["enqueue", "g", str(part)])
    assert result.exit_code == 2
    assert "the grid sampler needs every searched parameter in a queued set; missing learning_rate, batch_size" in result.output


def test_dashboard_needs_its_extra(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    run_tiny(store, "d", trials=1)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "optuna_dashboard" else real(m, *a))
    result = CliRunner().invoke(main, ["dashboard", "d"])
    assert result.exit_code == 2
    assert result.output == 'Error: optuna-dashboard is not installed; run pip install "hpsearch[dashboard]".\n'


def test_dashboard_serves_the_study_storage_on_loopback(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.machinery

    study = run_tiny(store, "d", trials=1)
    calls: list[tuple[Any, ...]] = []
    fake = types.ModuleType("optuna_dashboard")
    fake.__spec__ = importlib.machinery.ModuleSpec("optuna_dashboard", None)
    fake.wsgi = lambda storage: ("app", storage)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "optuna_dashboard", fake)
    monkeypatch.setattr("hpsearch.cli._serve.serve_wsgi", lambda app, host, port: calls.append((app, host, port)))
    result = CliRunner().invoke(main, ["dashboard", "d", "--port", "18080"])
    assert result.exit_code == 0, result.output
    assert calls == [(("app", f"sqlite:///{store / 'optuna.db'}"), "127.0.0.1", 18080)]
    assert f"http://localhost:18080/dashboard/studies/{study._study_id}" in result.output
    unknown = CliRunner().invoke(main, ["dashboard", "nope"])
    assert unknown.exit_code == 2 and "No study named 'nope'" in unknown.output and len(calls) == 1


def test_the_real_dashboard_serves_the_study(store: Path) -> None:
    """With the extra installed: `hpsearch dashboard` really serves the study's trials over HTTP
    (optuna-dashboard's own API), bound to loopback; Ctrl-C stops it."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    pytest.importorskip("optuna_dashboard")
    study = run_tiny(store, "d", trials=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HPSEARCH_HOME": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", "dashboard", "d", "--port", str(port)], env=env, cwd=store.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study._study_id}", timeout=5) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer in 60 s"
        assert body["name"] == "d" and len(body["trials"]) == 3
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0 and "Dashboard stopped." in proc.stdout.read()


def test_ctrl_c_while_a_request_is_served_stops_the_server() -> None:
    """wsgiref's request handler catches everything, so a KeyboardInterrupt raised inside a request
    was swallowed and the dashboard went on serving; the signal now stops the server after it."""
    import os
    import signal
    import socket
    import threading
    import urllib.request

    from hpsearch.cli._serve import serve_wsgi

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands while the request is being answered
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"answered"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answers: list[bytes] = []

    def client() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            answers.append(response.read())

    def hung(signum: int, frame: Any) -> None:
        raise AssertionError("the server was still serving 30 s after Ctrl-C")

    watchdog = threading.Timer(30, lambda: os.kill(os.getpid(), signal.SIGTERM))  # a hang fails, not blocks
    before, sigterm = signal.getsignal(signal.SIGINT), signal.signal(signal.SIGTERM, hung)
    asker = threading.Timer(0.5, client)
    asker.start()
    watchdog.start()
    try:
        serve_wsgi(app, "127.0.0.1", port)  # returns once stopped
    finally:
        watchdog.cancel()
        signal.signal(signal.SIGTERM, sigterm)
    asker.join(10)
    assert answers == [b"answered"]  # the request in hand was answered first
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are given back


@pytest.mark.slow  # trains one tiny CNN (~35 s on a shared CPU)
def test_study_enqueue_runs_the_queued_set_first(store: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    write_study(store.parent / "eq.yaml", budget={"trials": 1}, training={"max_epochs": 1, "early_stopping_patience": 3})
    queue = store.parent / "first.yaml"
    queue.write_text(yaml.safe_dump({"optimizer": "sgd", "learning_rate": 0.004, "batch_size": 64}))
    bad = store.parent / "bad.yaml"
    bad.write_text(yaml.safe_dump({"learning_rate": 0.5}))
    args = ["study", "eq.yaml", "--data-dir", str(cifar_dir), "--subset", "100"]
    monkeypatch.setattr(sys, "argv", ["hpsearch", *args])
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        refused = CliRunner().invoke(main, [*args, "--enqueue", str(bad)])
        assert refused.exit_code == 2 and f"Error: {bad}: learning_rate: 0.5 is outside the study's range" in refused.output
        assert not (store / "optuna.db").exists()  # nothing written
        result = CliRunner().invoke(main, [*args, "--enqueue", str(queue)])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert result.exit_code == 0, result.output
    assert f"Queued 1 param set(s) from {queue}" in result.stderr
    (trial,) = optuna.load_study(study_name="eq", storage=f"sqlite:///{store}/optuna.db").trials
    assert trial.params == {"optimizer": "sgd", "learning_rate": 0.004, "batch_size": 64}
    assert trial.state == optuna.trial.TrialState.COMPLETE
