"""Third-party noise stays out of the terminal: other libraries' warnings and C++ log lines go
to ``$HPSEARCH_HOME/hpsearch.log``, set up by the CLI's entry point, never by importing hpsearch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from conftest import hpsearch_cli
from mlflow import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from hpsearch.tracking._tracking import normalize_tracking_uri
from hpsearch.cli import main


def test_importing_hpsearch_changes_no_global_state() -> None:
    code = (
        "import json, logging, os, warnings\n"
        "def snapshot():\n"
        "    levels = {n: logging.getLogger(n).level for n in ('optuna', 'mlflow', 'alembic', 'mlflow.store.db.utils')}\n"
        "    return [repr(warnings.filters), levels, dict(os.environ), warnings.showwarning.__module__]\n"
        "import optuna, mlflow\n"
        "before = snapshot()\n"
        "import hpsearch.study._loop, hpsearch.study._storage, hpsearch.tracking._tracking, hpsearch.study._session, hpsearch.results._report, hpsearch.cli._app\n"
        "print(json.dumps(before == snapshot()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HPSEARCH_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert json.loads(out.splitlines()[-1]) is True


def test_hpsearch_warnings_are_one_line_and_others_go_to_the_log(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hpsearch.trial._checkpoints
    from hpsearch.cli._noise import show_warning, third_party_log

    third_party_log()
    show_warning(UserWarning("Ignoring unreadable resume state x"), UserWarning, hpsearch.trial._checkpoints.__file__, 1)
    show_warning(UserWarning("Some regimes for parameter"), UserWarning, optuna.__file__, 1)
    assert capsys.readouterr().err == "Warning: Ignoring unreadable resume state x\n"
    assert "UserWarning: Some regimes for parameter" in (store / "hpsearch.log").read_text()


def test_report_keeps_ped_anova_warnings_out_of_the_terminal(tmp_path: Path) -> None:
    """PED-ANOVA warns about conditional params seen in too few trials; before, every one of
    those warnings (with its source line) reached the terminal."""
    home = tmp_path / "mlruns"
    home.mkdir()
    study = optuna.create_study(study_name="noisy", storage=f"sqlite:///{home}/optuna.db", direction="maximize")
    study.set_user_attr("hpsearch.config", {})
    dists = {
        "optimizer": CategoricalDistribution(["adam", "sgd"]),
        "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
        "sgd.momentum": FloatDistribution(0.5, 0.99),
    }
    for i in range(12):
        params = {"optimizer": "sgd" if i == 0 else "adam", "learning_rate": 10 ** (-4 + i / 4)}
        if i == 0:
            params["sgd.momentum"] = 0.9  # a regime of one trial: PED-ANOVA warns
        study.add_trial(create_trial(value=i / 12, params=params, distributions={k: dists[k] for k in params}))
    result = hpsearch_cli("report", "noisy", "-o", str(tmp_path / "r.html"), cwd=tmp_path, env={"HPSEARCH_HOME": str(home)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "optuna_warn" not in result.stderr, result.stderr
    assert "Some regimes for parameter `sgd.momentum` have less than" in (home / "hpsearch.log").read_text()


def test_native_stderr_goes_to_the_log_while_python_stderr_stays(tmp_path: Path) -> None:
    """What TFLite's C++ code does when `export --format tflite` loads the model: write to file
    descriptor 2. hpsearch's own lines (sys.stderr) must still reach the terminal."""
    code = (
        "import os, sys\n"
        "from hpsearch.cli._noise import native_stderr_to_log\n"
        "with native_stderr_to_log():\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    print('Wrote tflite model', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path / "home")}
    env.pop("HPSEARCH_VERBOSE", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stderr == "Wrote tflite model\nafter\n"
    assert "XNNPACK delegate" in (tmp_path / "home" / "hpsearch.log").read_text()


@pytest.mark.slow
def test_tflite_export_prints_no_xnnpack_line(finished_study: dict, tmp_path: Path) -> None:
    result = hpsearch_cli(
        "export", "shop", "--format", "tflite", "--output", str(tmp_path / "m.tflite"), "--data-dir", finished_study["data_dir"],
        cwd=finished_study["cwd"], env={"HPSEARCH_HOME": str(finished_study["home"])}, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Verified: reloaded with the tflite runtime" in result.stdout
    assert "XNNPACK" not in result.stderr and result.stderr == "", result.stderr
    assert "Created TensorFlow Lite XNNPACK delegate" in (finished_study["home"] / "hpsearch.log").read_text()


def test_the_mlflow_ui_server_starts_without_starlette_warnings(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    MlflowClient(normalize_tracking_uri(f"sqlite:///{store}/mlflow.db")).search_experiments()
    became: list[dict[str, str]] = []
    monkeypatch.setattr("hpsearch.cli._serve.become", lambda cmd: became.append(dict(os.environ)))
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    result = CliRunner().invoke(main, ["ui", "--port", "5999"])
    assert result.exit_code == 0, result.output
    # The server's app module, imported with the environment `hpsearch ui` execs the server with.
    server = subprocess.run([sys.executable, "-c", "import mlflow.server.fastapi_app"], capture_output=True, text=True, env=became[0])
    assert server.returncode == 0, server.stderr
    assert "Warning" not in server.stderr, server.stderr
