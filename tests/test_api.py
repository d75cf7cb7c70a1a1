"""The public API (``hpsearch.__all__``): what scripts and library users import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import write_npz, write_study

import hpsearch
import hpsearch.testing
from hpsearch._errors import UsageError


def test_importing_hpsearch_loads_neither_tensorflow_nor_mlflow() -> None:
    code = "import sys, hpsearch; hpsearch.load_study_config; print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", hpsearch.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(hpsearch, name) is not None
    assert name in dir(hpsearch)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hpsearch.nope


def test_a_finished_study_reads_through_the_public_api(finished_study: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSEARCH_HOME", str(finished_study["home"]))
    study, config = hpsearch.open_results(finished_study["name"])
    assert isinstance(study, optuna.Study) and config.name == finished_study["name"]
    best = hpsearch.best_trial(study)
    frame = hpsearch.trials_frame(study)
    assert best is not None and best.state == optuna.trial.TrialState.COMPLETE
    assert frame.iloc[0]["number"] == best.number  # best first
    assert set(frame["state"]) == {"COMPLETE", "FAIL"}
    with pytest.raises(UsageError, match="No study named .nope."):
        hpsearch.open_results("nope")


def test_load_data_gives_the_split_dataset_a_study_trains_on(tmp_path: Path) -> None:
    data = write_npz(tmp_path / "d.npz", n_train=100, n_test=20, size=16)
    config = hpsearch.parse_study_dict({"dataset": str(data), "validation_fraction": 0.2}, name="api-data")
    assert config.seed is None  # split with seed 0 then, the same every time
    dataset = hpsearch.load_data(config)
    again = hpsearch.load_data(config)
    assert isinstance(dataset, hpsearch.Dataset) and dataset.input_shape == (16, 16, 3) and dataset.num_classes == 10
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (80, 20, 20)
    assert (dataset.validation.y == again.validation.y).all()
    with pytest.raises(UsageError, match="nope.npz does not exist"):
        hpsearch.load_data(hpsearch.parse_study_dict({"dataset": str(tmp_path / "nope.npz")}, name="api-data"))


class _Recorder(hpsearch.NullReporter):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def trial_started(self, number: int, params: Mapping[str, Any], retry_of: int | None) -> None:
        self.events.append(("started", number, retry_of))  # params: those known before sampling (a retry's)

    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None:
        self.events.append(("epoch", number, epoch, "val_accuracy" in logs))

    def trial_finished(self, trial: optuna.trial.FrozenTrial | None, outcome: Any) -> None:
        assert trial is not None
        self.events.append(("finished", trial.number, trial.state.name))


def test_a_reporter_receives_the_progress_events_of_run_study(store: Path, tmp_path: Path) -> None:
    data = write_npz(tmp_path / "d.npz", n_train=60, n_test=20, size=12)
    study = write_study(tmp_path / "s.yaml", dataset=str(data), search_space={"batch_size": 32, "batch_norm": "none"}, budget={"trials": 1})
    recorder = _Recorder()
    assert isinstance(recorder, hpsearch.Reporter)
    summary = hpsearch.run_study(hpsearch.StudyRequest(study=str(study), epochs=1), reporter_factory=lambda *_: recorder)
    assert recorder.events == [("started", 0, None), ("epoch", 0, 0, True), ("finished", 0, "COMPLETE")]
    assert summary.counts.complete == 1 and summary.best is not None


def test_the_testing_helpers_run_the_real_loop_from_a_storage_url(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    config = hpsearch.load_study_config("cifar10", study_name="api-trivial").with_overrides(trials=3, seed=1)
    hpsearch.testing.create_study(config, storage)
    ready = []
    assert hpsearch.testing.run_trivial_worker(storage, "api-trivial", ready=lambda: ready.append(1)) == 3
    assert ready == [1]
    assert hpsearch.testing.finished_trials(storage, "api-trivial") == 3
    study, _ = hpsearch.open_results("api-trivial", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
