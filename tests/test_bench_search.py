"""scripts/bench_search.py: its data, its Keras Tuner mirror of a study's space, and one tiny run of every arm.

Skipped where the ``bench`` extra (keras-tuner, optuna-integration) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("keras_tuner")
pytest.importorskip("optuna_integration")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_search", REPO / "scripts" / "bench_search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_search"] = module
    spec.loader.exec_module(module)
    return module


def test_digits_are_written_as_keras_mnist_npz(bench: ModuleType, tmp_path: Path) -> None:
    sizes = bench.write_digits_mnist(tmp_path)
    with np.load(tmp_path / "mnist.npz") as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    assert sizes == {"train": 1257, "test": 540}
    assert x_train.shape == (1257, 28, 28) and x_test.shape == (540, 28, 28)
    assert x_train.dtype == np.uint8 and x_train.max() > 200  # 0..16 scaled to pixel values
    # stratified: every digit is ~30% test
    assert np.all(np.abs(np.bincount(y_test) / (np.bincount(y_train) + np.bincount(y_test)) - 0.3) < 0.02)


def test_keras_tuner_hypermodel_draws_the_studys_space(bench: ModuleType) -> None:
    import keras_tuner

    study = bench._Study("mnist")
    hp = keras_tuner.HyperParameters()
    params = study.sample(bench._KerasTunerTrial(hp))
    assert {"optimizer", "learning_rate", "batch_size", "dropout"} <= set(hp.values)
    assert all(params[name] == value for name, value in hp.values.items())  # what KT drew is what gets built
    lr = study.config.search_space.learning_rate
    assert lr.low <= params["learning_rate"] <= lr.high


def test_table_reports_median_and_range(bench: ModuleType) -> None:
    results = [
        {"arm": "hpsearch", "seed": s, "test_accuracy": a, "wall_s": 100.0 + s, "trials": 3 + s} for s, a in enumerate((0.9, 0.95, 0.97))
    ] + [{"arm": "optuna", "seed": 0, "error": "boom", "wall_s": 1.0}]
    text = bench.table(results, ["hpsearch", "optuna"])
    assert "| hpsearch | 95.00 (90.00-97.00) | 101 (100-102) | 4 (3-5) | 3 |" in text
    assert "| optuna | failed (1) |" in text


@pytest.mark.slow
def test_every_arm_runs_and_reports_a_test_accuracy(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "raw.json"
    bench.main(["--seeds", "0", "--budget-s", "1", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["budget_s"] == 1 and report["seeds"] == [0]
    by_arm = {r["arm"]: r for r in report["results"]}
    assert set(by_arm) == set(bench.ARMS)
    for arm, record in by_arm.items():
        assert "error" not in record, (arm, record)
        assert record["trials"] >= 1, arm
        assert 0.1 < record["test_accuracy"] <= 1.0, arm  # one trial learns digits above chance
        assert record["wall_s"] > 0
