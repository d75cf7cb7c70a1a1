"""`hpsearch ui` in a real browser: the link it prints shows every trial's objective value, and one click
on a trial reaches its learning curve.

Needs Chromium and chromedriver (Debian packages `chromium`, `chromium-driver`; `.ci/run` installs
them). Screenshots are kept in ``$HPSEARCH_TEST_ARTIFACTS`` (CI) or the test's temp folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from hpsearch.tracking import normalize_tracking_uri, ui_path
from hpsearch.cli import main
from hpsearch.keys import TrialAttr
from hpsearch.study._ranking import best_trial

CHROMIUM = os.environ.get("HPSEARCH_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("HPSEARCH_TEST_CHROMEDRIVER") or shutil.which("chromedriver")
REQUIRE = os.environ.get("HPSEARCH_REQUIRE_SERVICES") == "1"

needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not REQUIRE, reason="chromium and chromedriver are not installed"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_ui_refuses_an_empty_store(store: Path) -> None:
    result = CliRunner().invoke(main, ["ui"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: No MLflow store at {store / 'mlflow.db'} yet; run `hpsearch study NAME` first (or pass --tracking-uri).\n"


@pytest.mark.parametrize(
    ("command", "warning"),
    [
        ("ui", "Warning: binding to 0.0.0.0: anyone who can reach this machine on port {port} can read and change your runs.\n"),
        ("server", "Warning: serving on 0.0.0.0:{port}: anyone who can reach it can read and change runs; keep it on a private network.\n"),
    ],
)
def test_a_public_host_is_warned_about_and_loopback_is_not(store: Path, monkeypatch: pytest.MonkeyPatch, command: str, warning: str) -> None:
    MlflowClient(normalize_tracking_uri(f"sqlite:///{store}/mlflow.db")).search_experiments()  # a study store
    started: list[list[str]] = []
    monkeypatch.setattr("hpsearch.cli._serve.become", started.append)  # never exec the server in the test process
    port = free_port()
    public = CliRunner().invoke(main, [command, "--host", "0.0.0.0", "--port", str(port)])
    assert public.exit_code == 0, public.output
    assert public.stderr.startswith(warning.format(port=port)), public.stderr
    assert f"on http://0.0.0.0:{port}" in public.stdout
    assert started[-1][-4:] == ["--host", "0.0.0.0", "--port", str(port)]
    local = CliRunner().invoke(main, [command, "--port", str(port)])
    assert local.exit_code == 0, local.output
    assert "Warning" not in local.stderr and f"on http://localhost:{port}" in local.stdout
    assert len(started) == 2


@pytest.mark.parametrize("command", ["ui", "server"])
def test_a_busy_port_is_one_line_and_exit_1(store: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """Before the fix the MLflow server was started anyway; it failed in its worker processes and
    `hpsearch ui` still exited 0."""
    MlflowClient(normalize_tracking_uri(f"sqlite:///{store}/mlflow.db")).search_experiments()  # a study store
    started: list[list[str]] = []
    monkeypatch.setattr("hpsearch.cli._serve.become", started.append)  # never exec the server in the test process
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, [command, "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert started == []
    assert result.stderr.startswith(f"Error: Port {port} on 127.0.0.1 is already in use") and "--port" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "MLflow UI for" not in result.stdout and "tracking server on" not in result.stdout


@pytest.mark.browser
@needs_browser
@pytest.mark.slow
def test_the_study_is_browsable_in_the_mlflow_ui(finished_study: dict, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("HPSEARCH_TEST_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(normalize_tracking_uri(finished_study["tracking"]))
    experiment = client.get_experiment_by_name("shop")
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    trial = best_trial(study)  # hpsearch's ranking (ties by val_loss), which export and the UI use
    run_id = trial.user_attrs[TrialAttr.MLFLOW_RUN_ID]

    port = free_port()
    env = {**os.environ, "HPSEARCH_HOME": str(finished_study["home"])}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("HPSEARCH_STORAGE", None)
    log = open(tmp_path / "ui.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "ui", "--port", str(port)], cwd=finished_study["cwd"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,1000",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}",
    ):
        options.add_argument(flag)
    driver = None
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 90)
        assert (tmp_path / "ui.log").read_text().count("Same as: mlflow ui --backend-store-uri") == 1
        log_text = (tmp_path / "ui.log").read_text()
        link = f"http://localhost:{port}/{ui_path(experiment.experiment_id)}"
        assert f"study shop: {link}" in log_text  # hpsearch ui prints a direct link per study
        assert "viewStateShareKey=" in link and "workflowType=machine_learning" in link
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

        def body() -> str:
            return driver.find_element("tag name", "body").text

        # The link opens the runs table: every trial run listed (not folded under the study's
        # parent run), best first, with its objective value in a column.
        trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        driver.get(link.replace("localhost", "127.0.0.1"))
        WebDriverWait(driver, 90).until(lambda d: all(f"trial-{t.number:04d}" in body() for t in trials))
        page = body()
        assert "shop" in page and "Model training" in page and "best_val_accuracy" in page
        for t in trials:
            assert repr(t.value) in page, (t.number, t.value)  # the objective, as the table shows it
        rows = {e.text: e.location["y"] for e in driver.find_elements("partial link text", "trial-")}
        assert min(rows, key=rows.get) == f"trial-{trial.number:04d}"  # best first
        driver.save_screenshot(str(shots / "mlflow-ui-experiment.png"))

        # One click on the best trial's run: its learning curve is on the page it opens, and its
        # metric charts are one link away.
        driver.find_element("link text", f"trial-{trial.number:04d}").click()
        curve = "img[src*='learning_curve.png']"
        WebDriverWait(driver, 90).until(
            lambda d: d.find_elements("css selector", curve)
            and d.execute_script("const i = document.querySelector(arguments[0]); return i.complete && i.naturalWidth > 0;", curve)
        )
        assert run_id in driver.current_url and "hpsearch.state" in body()
        charts = driver.find_element("link text", "Learning curves (charts)").get_attribute("href")
        assert charts.endswith(f"/runs/{run_id}/model-metrics?workflowType=machine_learning")
        driver.save_screenshot(str(shots / "mlflow-ui-trial-run.png"))
        driver.get(charts)
        WebDriverWait(driver, 90).until(lambda d: "val_accuracy" in body() and "Model metrics" in body())
        driver.save_screenshot(str(shots / "mlflow-ui-trial-charts.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(30)
        log.close()
    assert (shots / "mlflow-ui-trial-run.png").stat().st_size > 10_000
