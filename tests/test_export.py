"""Export: every format written, reloaded by its own runtime, checked, registered."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from conftest import write_cifar10
from mlflow import MlflowClient

from hpsearch.results._export import FORMATS, predict_exported
from hpsearch.tracking._tracking import normalize_tracking_uri
from hpsearch.cli import main
from hpsearch.keys import StudyAttr
from hpsearch.study._ranking import best_trial


def args(finished_study: dict, *extra: str) -> list[str]:
    return ["export", "shop", "--storage", finished_study["storage"], "--tracking-uri", finished_study["tracking"], "--data-dir", finished_study["data_dir"], *extra]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_every_format(finished_study: dict, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / ("model" + FORMATS[fmt] if fmt != "saved_model" else "model_saved")
    result = CliRunner().invoke(main, args(finished_study, "--format", fmt, "--output", str(out)))
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    best = best_trial(study)  # hpsearch's ranking: equal values go to the lower val_loss
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


def test_export_without_the_study_s_mlflow_store_names_the_flag_to_pass(store: Path) -> None:
    from hpsearch._locations import resolve_locations

    store.mkdir(parents=True)
    study = optuna.create_study(study_name="empty", storage=resolve_locations().storage_url)
    study.set_user_attr("hpsearch.config", {"budget": {"trials": 1}})
    study.set_user_attr("hpsearch.mlflow_parent_run_id", "x")
    result = CliRunner().invoke(main, ["export", "empty"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: No MLflow store at {store / 'mlflow.db'}; pass the --tracking-uri the study was run with.\n"
    assert not (store / "mlflow.db").exists()  # nothing created


def test_export_of_a_study_without_completed_trials(finished_study: dict, tmp_path: Path) -> None:
    """Every trial of the study failed: one line that says so and how to get a trial to export;
    nothing written, nothing registered."""
    storage = study_copy(finished_study, tmp_path)
    with sqlite3.connect(tmp_path / "optuna.db") as db:
        db.execute("UPDATE trials SET state = 'FAIL' WHERE state IN ('COMPLETE', 'PRUNED')")
    client = MlflowClient(normalize_tracking_uri(finished_study["tracking"]))
    versions = len(client.search_model_versions("name = 'shop'"))
    out = tmp_path / "m.keras"
    result = CliRunner().invoke(main, ["export", "shop", "--storage", storage, *args(finished_study, "--output", str(out))[4:]])
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr == "Error: Study 'shop' has no completed trial yet, so there is nothing to export; run `hpsearch study shop` first.\n"
    assert not out.exists() and len(client.search_model_versions("name = 'shop'")) == versions


def test_the_registered_model_is_an_mlflow_model(finished_study: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registered version loads with MLflow's generic pyfunc loader and predicts like the
    exported Keras file; its signature describes the image input."""
    import mlflow

    out = tmp_path / "best.keras"
    result = CliRunner().invoke(main, args(finished_study, "--output", str(out)))
    assert result.exit_code == 0, result.output
    uri = result.output.split("mlflow.pyfunc.load_model('")[1].split("'")[0]
    assert uri.startswith("models:/shop/") and f"mlflow models serve -m {uri} --env-manager local" in result.output

    tracking = normalize_tracking_uri(finished_study["tracking"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)  # set_tracking_uri writes it too; restored after the test
    mlflow.set_tracking_uri(tracking)
    try:
        model = mlflow.pyfunc.load_model(uri)
        x = np.random.default_rng(1).integers(0, 255, size=(3, 32, 32, 3)).astype("float32")
        got = np.asarray(model.predict(x))
    finally:
        mlflow.set_tracking_uri(None)  # "not set" again: later tests must not write to this store (or to ./mlflow.db)
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, predict_exported(out, "keras", x), atol=1e-5)
    inputs = model.metadata.get_input_schema().inputs[0]
    assert inputs.shape == (-1, 32, 32, 3) and str(inputs.type) == "float32"
    version = MlflowClient(tracking).get_model_version("shop", uri.rsplit("/", 1)[1])
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    assert version.run_id == study.user_attrs["hpsearch.mlflow_parent_run_id"] and version.tags["exported_file"].endswith("best.keras")


def study_copy(finished_study: dict, tmp_path: Path, **source: object) -> str:
    """A copy of the finished study's Optuna storage (same MLflow store), its recorded data source
    changed by ``source``."""
    with sqlite3.connect(finished_study["home"] / "optuna.db") as src, sqlite3.connect(tmp_path / "optuna.db") as dst:
        src.backup(dst)  # (WAL mode: a file copy could miss recent writes)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.load_study(study_name="shop", storage=storage)
    study.set_user_attr(StudyAttr.DATA_SOURCE, {**study.user_attrs[StudyAttr.DATA_SOURCE], **source})
    return storage


def test_export_reuses_the_data_the_study_was_trained_on(finished_study: dict, tmp_path: Path) -> None:
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    recorded = study.user_attrs[StudyAttr.DATA_SOURCE]
    assert recorded["kind"] == "cifar10" and recorded["path"] == str(Path(finished_study["data_dir"]).resolve())
    assert recorded["digest"].startswith("sha256:")

    out = tmp_path / "best.keras"
    base = ["export", "shop", "--storage", finished_study["storage"], "--tracking-uri", finished_study["tracking"], "--output", str(out)]
    result = CliRunner().invoke(main, base)  # no --data-dir: Keras's download would fail offline
    assert result.exit_code == 0, result.output
    assert "Best trial" in result.output and "Note:" not in result.output and out.is_file()

    # The data moved away: one line that says where it was and which flag to pass.
    storage = study_copy(finished_study, tmp_path, path=str(tmp_path / "moved-away"))
    base[3] = storage
    result = CliRunner().invoke(main, base)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: Study 'shop' was trained on CIFAR-10 from files in {tmp_path / 'moved-away'} ({recorded['digest']}), "
        "which is no longer there; pass --data-dir DIR with its new location.\n"
    )


def test_export_says_when_the_data_changed_or_moved(finished_study: dict, tmp_path: Path, cifar_dir: Path) -> None:
    other = write_cifar10(tmp_path / "other", seed=5)  # same shapes, other images
    result = CliRunner().invoke(main, args(finished_study, "--output", str(tmp_path / "m.keras"))[:6] + ["--data-dir", str(other), "--output", str(tmp_path / "m.keras")])
    assert result.exit_code == 0, result.output
    assert "Note: the data loaded (CIFAR-10 from files in" in result.output and "differs from what study 'shop' was trained on" in result.output

    from hpsearch.config import load_study_config
    from hpsearch.study._data_record import load_data
    from hpsearch.study._data_record import data_note as _data_note

    moved = shutil.copytree(cifar_dir, tmp_path / "moved")
    study = optuna.load_study(study_name="shop", storage=finished_study["storage"])
    config = load_study_config(str(finished_study["cwd"] / "shop.yaml"))
    note = _data_note(study, load_data(config, moved))
    assert note is not None and note.endswith(f"the same data is now at {moved}.")
    assert _data_note(study, load_data(config, cifar_dir)) is None


def test_a_registered_model_ships_the_modules_its_keras_config_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Your builder's file travels with the model; hpsearch's own modules and installed packages
    are imported by name where it loads; Keras and the standard library need nothing."""
    import types

    from hpsearch.tracking._registry import model_code, recorded_modules

    mine = types.ModuleType("my_net")
    mine.__file__ = str(tmp_path / "my_net.py")
    monkeypatch.setitem(sys.modules, "my_net", mine)
    config = {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"layers": [{"module": "my_net", "class_name": "Scale", "config": {"module": "not an object"}}]},
        "compile_config": {"metrics": [{"module": "hpsearch.tasks._metrics", "class_name": "F1"}, {"module": "builtins", "class_name": "function"}]},
    }  # fmt: skip
    assert recorded_modules(config) == {"keras.src.models.functional", "my_net", "hpsearch.tasks._metrics", "builtins"}
    assert model_code(recorded_modules(config)) == {"hpsearch.tasks._metrics": None, "my_net": tmp_path / "my_net.py"}
    assert model_code(["numpy"]) == {"numpy": None}  # installed: imported, not shipped
