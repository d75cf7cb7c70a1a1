"""Export: every format written, reloaded by its own runtime, checked, registered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from hpsearch._export import FORMATS, predict_exported
from hpsearch._tracking import normalize_tracking_uri
from hpsearch.cli import main


def args(finished_study: dict, *extra: str) -> list[str]:
    return ["export", "shop", "--storage", finished_study["storage"], "--tracking-uri", finished_study["tracking"], "--data-dir", finished_study["data_dir"], *extra]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_every_format(finished_study: dict, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / ("model" + FORMATS[fmt] if fmt != "saved_model" else "model_saved")
    result = CliRunner().invoke(main, args(finished_study, "--format", fmt, "--output", str(out)))
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    best = study.best_trial
    assert f"Best trial {best.number}: test accuracy" in result.output
    assert f"Wrote {fmt} model to {out}" in result.output
    assert "match Keras within" in result.output and "Registered in the MLflow Model Registry as 'shop' version" in result.output
    assert out.exists()

    # The artifact really runs on its own runtime and classifies like the checkpoint did.
    x = np.random.default_rng(0).integers(0, 255, size=(5, 32, 32, 3)).astype("float32")
    probs = predict_exported(out, fmt, x)
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)

    client = MlflowClient(normalize_tracking_uri(finished_study["tracking"]))
    version = result.output.split("version ")[1].split()[0]
    mv = client.get_model_version("shop", version)
    assert mv.tags["format"] == fmt and mv.tags["trial"] == str(best.number)
    assert 0.0 <= float(mv.tags["test_accuracy"]) <= 1.0 and float(mv.tags["max_abs_diff"]) <= 1e-4
    assert mv.run_id == study.user_attrs["hpsearch.mlflow_parent_run_id"]


def test_export_of_a_study_without_completed_trials(store: Path, tmp_path: Path) -> None:
    from hpsearch._locations import resolve_locations

    store.mkdir(parents=True)
    study = optuna.create_study(study_name="empty", storage=resolve_locations().storage_url)
    study.set_user_attr("hpsearch.config", {"budget": {"trials": 1}})
    study.set_user_attr("hpsearch.mlflow_parent_run_id", "x")
    result = CliRunner().invoke(main, ["export", "empty"])
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output


def test_the_registered_model_is_an_mlflow_model(finished_study: dict, tmp_path: Path) -> None:
    """The registered version loads with MLflow's generic pyfunc loader and predicts like the
    exported Keras file; its signature describes the image input."""
    import mlflow

    out = tmp_path / "best.keras"
    result = CliRunner().invoke(main, args(finished_study, "--output", str(out)))
    assert result.exit_code == 0, result.output
    uri = result.output.split("mlflow.pyfunc.load_model('")[1].split("'")[0]
    assert uri.startswith("models:/shop/") and f"mlflow models serve -m {uri} --env-manager local" in result.output

    tracking = normalize_tracking_uri(finished_study["tracking"])
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    try:
        model = mlflow.pyfunc.load_model(uri)
        x = np.random.default_rng(1).integers(0, 255, size=(3, 32, 32, 3)).astype("float32")
        got = np.asarray(model.predict(x))
    finally:
        mlflow.set_tracking_uri(previous)
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, predict_exported(out, "keras", x), atol=1e-5)
    inputs = model.metadata.get_input_schema().inputs[0]
    assert inputs.shape == (-1, 32, 32, 3) and str(inputs.type) == "float32"
    version = MlflowClient(tracking).get_model_version("shop", uri.rsplit("/", 1)[1])
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    assert version.run_id == study.user_attrs["hpsearch.mlflow_parent_run_id"] and version.tags["exported_file"].endswith("best.keras")
