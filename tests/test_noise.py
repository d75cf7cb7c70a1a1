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


#: Run in a fresh interpreter: import every third-party package that hpsearch's modules import at
#: module level (their own import-time set-up is not hpsearch's doing), snapshot the global state,
#: import every hpsearch module, and print what changed.
_IMPORT_EVERY_MODULE = """
import ast, importlib, importlib.util, json, logging, os, signal, sys, warnings
from pathlib import Path

root = Path(importlib.util.find_spec("hpsearch").submodule_search_locations[0])  # hpsearch not imported yet
modules, third_party = [], set()
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root.parent).with_suffix("").parts
    modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    for node in ast.parse(path.read_text()).body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        third_party.update(n.split(".")[0] for n in names if n.split(".")[0] not in ("hpsearch", "__future__"))
for name in sorted(third_party):
    importlib.import_module(name)

def loggers():
    found = {"": logging.getLogger()} | {n: l for n, l in logging.root.manager.loggerDict.items() if isinstance(l, logging.Logger)}
    return {n: [l.level, [id(h) for h in l.handlers], l.propagate, l.disabled] for n, l in found.items()}

def snapshot():
    return {
        "warning filters": repr(warnings.filters),
        "showwarning": f"{warnings.showwarning.__module__}.{warnings.showwarning.__qualname__}",
        "logging.disable": logging.root.manager.disable,
        "signals": {s.name: repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)},
    }

before, before_loggers, before_environ = snapshot(), loggers(), dict(os.environ)
for name in modules:
    importlib.import_module(name)
after, after_loggers = snapshot(), loggers()
changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
for key in before_environ.keys() | os.environ.keys():
    if before_environ.get(key) != os.environ.get(key):
        changed[f"environment variable {key}"] = [before_environ.get(key), os.environ.get(key)]
for name, state in after_loggers.items():
    if state != before_loggers.get(name, [logging.NOTSET, [], True, False]):
        changed[f"logger {name!r}"] = [before_loggers.get(name), state]
print(json.dumps({"modules": len(modules), "changed": changed}, default=str))
"""


def test_importing_any_hpsearch_module_changes_no_global_state() -> None:
    """Only the CLI's entry point routes warnings and log lines, sets environment variables and
    installs signal handlers; importing any module of hpsearch (as a library user does) does none
    of that."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HPSEARCH_", "TF_", "PYTHONWARNINGS"))}
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EVERY_MODULE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["modules"] > 30  # every module was imported, not just the packages
    assert result["changed"] == {}


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
