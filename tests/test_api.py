"""The public API (``hpsearch.__all__``): what scripts and library users import."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

import hpsearch
from hpsearch._errors import RuntimeFailure


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
        hpsearch.nope  # noqa: B018


def test_a_finished_study_reads_through_the_public_api(finished_study: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSEARCH_HOME", str(finished_study["home"]))
    study, config = hpsearch.open_results(finished_study["name"])
    assert isinstance(study, optuna.Study) and config.name == finished_study["name"]
    best = hpsearch.best_trial(study)
    frame = hpsearch.trials_frame(study)
    assert best is not None and best.state == optuna.trial.TrialState.COMPLETE
    assert frame.iloc[0]["number"] == best.number  # best first
    assert set(frame["state"]) == {"COMPLETE", "FAIL"}
    with pytest.raises(RuntimeFailure, match="No study named .nope."):
        hpsearch.open_results("nope")
