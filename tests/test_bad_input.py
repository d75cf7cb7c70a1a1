"""Bad input, end to end through the CLI: one clear line, the right exit code, no traceback, and
nothing changed in the Optuna storage or MLflow.

Every case runs against a store that already holds a study with a trial and its MLflow runs, and
compares a snapshot of both before and after.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from conftest import write_cifar10, write_npz, write_study
from mlflow import MlflowClient

from hpsearch._locations import resolve_locations
from hpsearch.tracking._tracking import normalize_tracking_uri
from hpsearch.cli import main


@pytest.fixture
def workdir(store: Path, tmp_path: Path) -> Path:
    """cwd with a populated store, a valid study file, data files, and broken variants."""
    loc = resolve_locations()
    store.mkdir(parents=True)
    study = optuna.create_study(study_name="existing", storage=loc.storage_url, direction="maximize")
    study.set_user_attr("note", "keep me")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, 0.5)
    client = MlflowClient(normalize_tracking_uri(loc.tracking_uri))
    exp = client.create_experiment("existing", artifact_location=loc.artifact_root)
    run = client.create_run(exp)
    client.set_terminated(run.info.run_id)

    write_study(tmp_path / "ok.yaml")
    write_cifar10(tmp_path / "data", n_train=60, n_test=10)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    write_npz(tmp_path / "good.npz", n_train=40, n_test=10)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    x = np.zeros((20, 32, 32, 3), np.uint8)
    np.savez(tmp_path / "lengths.npz", x_train=x, y_train=np.zeros(19, int), x_test=x[:5], y_test=np.zeros(5, int))
    np.savez(tmp_path / "rank.npz", x_train=np.zeros((20, 3072), np.uint8), y_train=np.zeros(20, int), x_test=x[:5], y_test=np.zeros(5, int))
    np.savez(tmp_path / "labels.npz", x_train=x, y_train=np.arange(20) % 3, x_test=x[:5], y_test=np.full(5, 7))
    np.savez(tmp_path / "shifted.npz", x_train=x, y_train=np.arange(20) % 5 + 1, x_test=x[:5], y_test=np.arange(5) % 5 + 1)
    for name, text in BAD_YAML.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text))
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "folder").mkdir()
    np.savez(tmp_path / "bright.npz", x_train=np.full((20, 32, 32, 3), 2.0), y_train=np.arange(20) % 2, x_test=np.zeros((5, 32, 32, 3)), y_test=np.zeros(5, int))
    return tmp_path


BAD_YAML = {
    "malformed": "search_space: [unclosed\n",
    "unknown_key": "budget:\n  trails: 3\n",
    "wrong_type": "training:\n  max_epochs: lots\n",
    "low_high": "search_space:\n  learning_rate: {low: 0.1, high: 0.001}\n",
    "log_low": "search_space:\n  learning_rate: {low: 0, high: 0.1, log: true}\n",
    "optimizer": "search_space:\n  optimizer: [adam, adamw2]\n",
    "schedule": "search_space:\n  schedule: [cosine, linear_warmup]\n",
    "initializer": "search_space:\n  initializer: [he_normal, xavier]\n",
    "regularizer": "search_space:\n  regularizer: [l2, dropconnect]\n",
    "batch_norm": "search_space:\n  batch_norm: [sometimes]\n",
    "empty": "search_space:\n  batch_size: []\n",
    "metric": "objective:\n  metric: val_f1\n",
    "step": "search_space:\n  dropout: {low: 0.0, high: 0.5, step: 0.7}\n",
    "step_schedule": "search_space:\n  schedule:\n    step: {every_epochs: {low: 3, high: 8}}\n",
}


def snapshot(store: Path) -> tuple:
    loc = resolve_locations()
    studies = []
    for s in optuna.get_all_study_summaries(loc.storage_url):
        st = optuna.load_study(study_name=s.study_name, storage=loc.storage_url)
        studies.append((s.study_name, [(t.number, t.state.name, t.params) for t in st.trials], st.user_attrs))
    client = MlflowClient(normalize_tracking_uri(loc.tracking_uri))
    exps = []
    for e in client.search_experiments():
        runs = client.search_runs([e.experiment_id])
        exps.append((e.name, sorted((r.info.run_id, r.info.status) for r in runs)))
    files = sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if not p.name.endswith(("-wal", "-shm")))
    return studies, exps, files


S = ["study"]
QUICK = ["--data-dir", "data", "--trials", "1", "--epochs", "1"]
CASES = [
    # (args, exit code, message)
    (S + ["malformed.yaml", *QUICK], 2, "invalid YAML"),
    (S + ["unknown_key.yaml", *QUICK], 2, "budget.trails: unknown key (did you mean 'trials'?)"),
    (S + ["wrong_type.yaml", *QUICK], 2, "training.max_epochs: expected an integer"),
    (S + ["low_high.yaml", *QUICK], 2, "`low <= high` must hold, but got (low=0.1, high=0.001)"),
    (S + ["log_low.yaml", *QUICK], 2, "`low > 0` must hold for a log range"),
    (S + ["optimizer.yaml", *QUICK], 2, "unknown choice 'adamw2'"),
    (S + ["schedule.yaml", *QUICK], 2, "unknown choice 'linear_warmup'"),
    (S + ["initializer.yaml", *QUICK], 2, "unknown value 'xavier'"),
    (S + ["regularizer.yaml", *QUICK], 2, "unknown choice 'dropconnect'"),
    (S + ["batch_norm.yaml", *QUICK], 2, "unknown value 'sometimes'"),
    (S + ["empty.yaml", *QUICK], 2, "empty choice list"),
    (S + ["metric.yaml", *QUICK], 2, "objective.metric: val_f1 is not logged by this classification study (it logs val_loss, val_accuracy, loss, accuracy); add f1 to metrics:"),
    (S + ["step.yaml", *QUICK], 2, "search_space.dropout: `step <= high - low` must hold"),
    (S + ["step_schedule.yaml", "--data-dir", "data", "--trials", "1", "--epochs", "3"], 2, "step_schedule.yaml: search_space.schedule.step.every_epochs: a drop every 8 epochs never happens in a trial of at most 3 epochs (--epochs 3)"),
    (S + ["ok.yaml", "--data-dir", "no-such-dir", "--trials", "1"], 2, "--data-dir no-such-dir does not exist"),
    (S + ["ok.yaml", "--dataset", "missing.npz"], 2, "missing.npz does not exist"),
    (S + ["ok.yaml", "--dataset", "minst"], 2, "Error: --dataset minst: 'minst' is neither a known name nor an existing folder or file (did you mean 'mnist'?)"),
    (S + ["ok.yaml", "--data-dir", "corrupt"], 2, "is corrupt or not a tar.gz"),
    (S + ["ok.yaml", "--dataset", "corrupt.npz"], 2, "corrupt or not an .npz"),
    (S + ["ok.yaml", "--dataset", "lengths.npz"], 2, "y_train has 19 labels but there are 20 images"),
    (S + ["ok.yaml", "--dataset", "rank.npz"], 2, "x_train rows are (3072,) but x_test rows are (32, 32, 3); they must match"),
    (S + ["ok.yaml", "--dataset", "labels.npz"], 2, "labels out of range: y_test has label 7"),
    (S + ["ok.yaml", "--dataset", "shifted.npz"], 2, "y_train has labels 1, 2, 3, 4, 5, but the labels of 5 classes must be 0..4"),
    (S + ["ok.yaml", *QUICK, "--study-name", "a/b"], 2, "Invalid study name 'a/b'"),
    (S + ["ok.yaml", *QUICK, "--study-name", "a\\b"], 2, "Invalid study name"),
    (S + ["ok.yaml", *QUICK, "--study-name", ".."], 2, "Invalid study name '..'"),
    (S + ["ok.yaml", *QUICK, "--study-name", ""], 2, "The study name is empty"),
    (S + ["binary.yaml", *QUICK], 2, "binary.yaml: not a text file (byte 0x89 at offset 0 is not UTF-8)"),
    (S + ["folder", *QUICK], 2, "Study file 'folder' is a directory, not a YAML file"),
    (S + ["ok.yaml", "--dataset", "bright.npz"], 2, "x_train has float pixels from 2 to 2; float images must be in [0, 1]"),
    (S + ["ok.yaml", *QUICK, "--storage", "postgresql://hp:s3cret@127.0.0.1:9/hp"], 1, "does not answer"),
    (S + ["ok.yaml", *QUICK, "--storage", "sqlite://relative.db"], 2, "use three slashes"),
    (S + ["ok.yaml", *QUICK, "--tracking-uri", "http://u:s3cret@127.0.0.1:9"], 1, "MLflow tracking server http://u:***@127.0.0.1:9 does not answer"),
    (S + ["ok.yaml", *QUICK, "--tracking-uri", "./mlruns"], 2, "no longer supports file-based tracking stores"),
    (S + ["ok.yaml", "--data-dir", "data", "--trials", "0"], 2, "Invalid value for '--trials'"),
    (S + ["ok.yaml", "--data-dir", "data", "--trials", "-2"], 2, "Invalid value for '--trials'"),
    (S + ["nope", *QUICK], 2, "No study named 'nope'"),
    (["show", "zebra"], 2, "No study named 'zebra'. Studies in"),
    (["show", "existin"], 2, "No study named 'existin' (did you mean 'existing'?)"),
    (["worker", "zebra"], 2, "No study named 'zebra'"),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=[f"{i:02d}-{c[2][:30]}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_and_changes_nothing(workdir: Path, store: Path, args: list[str], code: int, message: str) -> None:
    before = snapshot(store)
    result = CliRunner().invoke(main, args)
    output = result.output
    assert result.exit_code == code, output
    assert message in output, output
    assert "Traceback" not in output and "s3cret" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    assert snapshot(store) == before
