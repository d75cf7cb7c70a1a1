"""Your model in a real study: the CNN family and a builder you write, end to end.

The family and user builders are unit-tested in test_family.py and test_user_model.py; here they
run through the product: the study file, the checks before any trial (nothing stored on a bad
model), trials built through the builder, MLflow params, kill -9 and resume, export to ONNX,
and a worker process that must import the builder's file itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import hpsearch_cli, write_study
from mlflow import MlflowClient

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch._locations import resolve_locations
from hpsearch.keys import StudyAttr, TrialAttr
from hpsearch.study._session import StudyRequest, run_study
from hpsearch.tracking._tracking import normalize_tracking_uri

COMPLETE, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL

#: A small builder with a registered custom layer (checkpoints must load it in safe mode).
NET = '''
import keras


@keras.saving.register_keras_serializable(package="test_your_model")
class Scale(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def build(hp):
    inputs = hp.input()
    x = Scale(1.0, name="scale")(hp.rescale(inputs))
    x = hp.activate(hp.conv2d(hp["width"], 3, name="conv")(x), hp["activation"], name="conv")
    x = hp.dropout(keras.layers.MaxPooling2D(name="pool")(x))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, hp.output(x))
'''

USER_SPACE = {
    "model": {"width": [4, 6], "activation": "relu"},
    "optimizer": {"adam": {}},
    "learning_rate": 0.003,
    "batch_size": 32,
    "dropout": 0.1,
}


def _user_study(folder: Path, name: str = "mine", source: str = NET, **sections: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.py").write_text(source)
    return write_study(folder / f"{name}.yaml", model="net.py:build", **{"search_space": USER_SPACE, **sections})


def _client() -> MlflowClient:
    return MlflowClient(normalize_tracking_uri(resolve_locations().tracking_uri))


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=resolve_locations().storage_url)


# ----------------------------------------------------------------------------- the CNN family


@pytest.mark.slow
def test_a_family_study_trains_searched_architectures_and_records_them(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    space = {
        "architecture": {"conv_blocks": [1, 2], "base_filters": 4, "kernel_size": [3, 5], "head": "global_average", "dense_units": 8},
        "batch_size": 64,
    }
    path = write_study(tmp_path / "fam.yaml", model="cnn", search_space=space, training={"max_epochs": 1}, budget={"trials": 3})
    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)))
    trials = _study("fam").trials
    assert [t.state for t in trials] == [COMPLETE] * 3
    assert {t.params["architecture.conv_blocks"] for t in trials} <= {1, 2}
    assert set(trials[0].params) == {"architecture.conv_blocks", "architecture.kernel_size"}  # only what varies
    run = _client().get_run(trials[0].user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert run.data.params["architecture.base_filters"] == "4"  # every knob, fixed ones included
    assert run.data.params["architecture.head"] == "global_average"
    assert run.data.params["architecture.conv_blocks"] == str(trials[0].params["architecture.conv_blocks"])
    assert _study("fam").user_attrs[StudyAttr.CONFIG]["search_space"]["architecture"]["conv_blocks"] == [1, 2]


def test_an_architecture_too_deep_for_the_images_is_refused_before_anything_is_stored(
    store: Path, tmp_path: Path, cifar_dir: Path
) -> None:
    space = {"architecture": {"conv_blocks": {"low": 1, "high": 6}, "base_filters": 4}}
    path = write_study(tmp_path / "deep.yaml", model="cnn", search_space=space)
    with pytest.raises(UsageError) as error:
        run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)))
    assert str(error.value) == (
        f"{path}: search_space.architecture: the searched architecture does not fit images of 32x32 at its largest "
        "point, 6 conv blocks of 2 convs (kernel_size 3, padding same_then_valid): only 3 blocks fit there; narrow "
        "the searched conv_blocks so that every point fits."
    )
    assert not store.exists()


# ----------------------------------------------------------------------------- a builder you write


@pytest.mark.slow
def test_a_param_dependent_bug_fails_its_trial_with_the_traceback_and_the_study_goes_on(
    store: Path, tmp_path: Path, cifar_dir: Path
) -> None:
    buggy = NET.replace("def build(hp):\n", "def build(hp):\n    if hp['width'] == 6:\n        raise ValueError('width 6 is broken')\n")
    path = _user_study(tmp_path, "buggy", buggy, training={"max_epochs": 1}, budget={"trials": 2})
    assert buggy != NET

    def enqueue(config, locations, study, tracking) -> None:
        study.enqueue_trial({"model.width": 6})
        study.enqueue_trial({"model.width": 4})

    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)), on_ready=enqueue)  # width 4 dry-builds fine
    trials = _study("buggy").trials
    failed, complete = trials[:2]
    assert (failed.state, complete.state) == (FAIL, COMPLETE)
    assert [t.state for t in trials].count(COMPLETE) == 2  # the budget counts finished trials: the study went on
    assert failed.user_attrs[TrialAttr.FAIL_REASON] == "ValueError: width 6 is broken"
    assert 'net.py", line' in failed.user_attrs[TrialAttr.TRACEBACK] and "width 6 is broken" in failed.user_attrs[TrialAttr.TRACEBACK]
    assert complete.params == {"model.width": 4}
    run = _client().get_run(complete.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert run.data.params["model.width"] == "4" and run.data.params["model.activation"] == "relu"


KERAS_TUNER_NET = """
import keras


def build(hp):
    inputs = hp.input()
    x = hp.rescale(inputs)
    x = keras.layers.Conv2D(hp.Choice("width", [4, 5, 6]), 3, activation=hp.Choice("act", ["relu", "tanh"]))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if hp["width"] == 5:  # neither end of the space gets here, so the dry build cannot see this knob
        x = keras.layers.Dense(hp.Int("units", 4, 8))(x)
    return keras.Model(inputs, hp.output(x))
"""


@pytest.mark.slow
def test_a_keras_tuner_builder_trains_on_the_declared_knobs_and_an_unseen_one_fails_only_its_trial(
    store: Path, tmp_path: Path, cifar_dir: Path
) -> None:
    space = {**USER_SPACE, "model": {"width": [4, 5, 6], "act": ["relu", "tanh"]}}
    path = _user_study(tmp_path, "kt", KERAS_TUNER_NET, search_space=space, training={"max_epochs": 1}, budget={"trials": 2})

    def enqueue(config, locations, study, tracking) -> None:
        study.enqueue_trial({"model.width": 5, "model.act": "tanh"})
        study.enqueue_trial({"model.width": 6, "model.act": "tanh"})

    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)), on_ready=enqueue)
    failed, complete = _study("kt").trials[:2]
    assert (failed.state, complete.state) == (FAIL, COMPLETE)
    assert failed.user_attrs[TrialAttr.FAIL_REASON] == (
        "UndeclaredKnobError: hp.Int('units', ...) reads a knob the study file does not declare; "
        "add under search_space.model: {units: {low: 4, high: 8}}"
    )
    run = _client().get_run(complete.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert run.data.params["model.width"] == "6" and run.data.params["model.act"] == "tanh"


@pytest.mark.slow
def test_a_builder_that_keeps_failing_is_stopped_by_max_consecutive_failures(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    buggy = NET.replace("def build(hp):\n", "def build(hp):\n    if hp['width'] == 6:\n        raise ValueError('width 6 is broken')\n")
    path = _user_study(tmp_path, "broken", buggy, budget={"trials": 5, "max_consecutive_failures": 2})

    def enqueue(config, locations, study, tracking) -> None:
        for _ in range(2):  # the study stops after these two
            study.enqueue_trial({"model.width": 6})

    with pytest.raises(RuntimeFailure, match=r"^2 trials failed in a row, stopping the study\. Last: trial 1: ValueError: width 6 is broken"):
        run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)), on_ready=enqueue)
    assert [t.state for t in _study("broken").trials] == [FAIL, FAIL]


TABLE_NET = """
import keras


def build(hp):
    if hp.num_outputs != 1 or hp.output_activation is not None or hp.input_shape != (3,):
        raise ValueError(f"not a regression of 3 features: {hp.num_outputs} outputs, {hp.output_activation}, {hp.input_shape}")
    inputs = hp.input("features")
    x = hp.activate(hp.dense(hp["units"], name="hidden")(inputs), "tanh", name="hidden")
    return keras.Model(inputs, hp.output(x))
"""


@pytest.mark.slow
def test_a_builder_for_a_regression_table_gets_raw_outputs(store: Path, tmp_path: Path) -> None:
    """The output follows the task: one raw value per example, the task's loss, val_loss the objective."""
    from test_task_wiring import _regression_csv

    _regression_csv(tmp_path / "prices.csv")
    (tmp_path / "table_net.py").write_text(TABLE_NET)
    space = {"model": {"units": [4, 8]}, "optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "dropout": 0.0}
    path = write_study(tmp_path / "prices.yaml", dataset="prices.csv", model="table_net.py:build", search_space=space,
                       training={"max_epochs": 1}, budget={"trials": 1})  # fmt: skip
    summary = run_study(StudyRequest(study=str(path)))
    assert summary.counts.complete == 1 and summary.config.objective.metric == "val_loss"
    assert "test_loss" in summary.test_metrics and "test_accuracy" not in summary.test_metrics
    run = _client().get_run(summary.best.user_attrs[TrialAttr.MLFLOW_RUN_ID])
    assert run.data.params["model.units"] in {"4", "8"} and "val_loss" in run.data.metrics


@pytest.mark.slow
def test_a_module_builder_trains_and_is_recorded_with_its_source_file(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    space = {"model": {"width": 4, "stages": 2, "blocks_per_stage": 1, "activation": "relu"}, "optimizer": {"adam": {}}, "batch_size": 64}
    path = write_study(tmp_path / "res.yaml", model="hpsearch.studies.resnet_small:build", search_space=space, training={"max_epochs": 1}, budget={"trials": 1})
    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)))
    study = _study("res")
    assert [t.state for t in study.trials] == [COMPLETE]
    record = study.user_attrs[StudyAttr.MODEL_BUILDER]
    assert record["reference"] == "hpsearch.studies.resnet_small:build" and "model_dir" not in record
    assert Path(record["path"]).samefile(Path(__file__).parent.parent / "studies" / "resnet_small.py")
    assert record["digest"].startswith("sha256:")


@pytest.mark.slow
def test_an_edited_builder_is_reported_and_recorded(store: Path, tmp_path: Path, cifar_dir: Path) -> None:
    from hpsearch.study._reporter import NullReporter

    messages: list[str] = []

    class Messages(NullReporter):
        def message(self, text: str) -> None:
            messages.append(text)

    path = _user_study(tmp_path, training={"max_epochs": 1}, budget={"trials": 1})
    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)), reporter_factory=lambda *a: Messages())
    first = dict(_study("mine").user_attrs[StudyAttr.MODEL_BUILDER])
    assert first["reference"] == "net.py:build" and first["path"] == str((tmp_path / "net.py").resolve())
    assert first["digest"].startswith("sha256:") and first["model_dir"] == str(tmp_path.resolve())
    assert not messages
    with (tmp_path / "net.py").open("a") as f:
        f.write("# a comment is an edit too\n")
    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir), trials=2), reporter_factory=lambda *a: Messages())
    assert [m for m in messages if m.startswith("The model builder net.py:build changed since this study started")]
    assert "--study-name NEW" in messages[0]
    assert _study("mine").user_attrs[StudyAttr.MODEL_BUILDER]["digest"] != first["digest"]
    assert [t.state for t in _study("mine").trials] == [COMPLETE, COMPLETE]  # warned, not refused


CONTRACT = [
    ("missing file", "model: nets/net.py:build", None, "Model 'nets/net.py:build': no file {dir}/nets/net.py (a relative path is read from the study file's folder); check the path."),
    ("missing function", "model: net.py:make", NET, "Model 'net.py:make': net.py has no function 'make'; it defines build."),
    ("wrong signature", "model: net.py:build", "def build(hp, depth):\n    pass\n", "Model 'net.py:build': build(hp, depth) must take exactly one parameter, hp: def build(hp) -> keras.Model."),
    ("wrong output", "model: net.py:build", NET.replace("hp.output(x)", "keras.layers.Dense(3)(x)"), "Model 'net.py:build': the model's output shape is (3,), expected (10,) (hp.num_outputs, from the data); end it with hp.output(x)."),
    ("raises", "model: net.py:build", NET.replace("    inputs = hp.input()\n", "    inputs = hp.input()\n    raise RuntimeError('no GPU here')\n"), "Model 'net.py:build': build(hp) failed on a dry build (inputs (32, 32, 3), 10 outputs): RuntimeError: no GPU here (net.py:{line})."),
]


@pytest.mark.parametrize(
    "what, model, source, message",
    [pytest.param(*c, marks=[] if i < 2 else [pytest.mark.slow], id=c[0]) for i, c in enumerate(CONTRACT)],
)
def test_each_contract_violation_is_one_line_exit_2_and_nothing_stored(
    tmp_path: Path, cifar_dir: Path, what: str, model: str, source: str | None, message: str
) -> None:
    if source is not None:
        (tmp_path / "net.py").write_text(source)
    study = write_study(tmp_path / "bad.yaml", search_space={"model": {"width": 4, "activation": "relu"}})
    study.write_text(study.read_text().replace("dataset: cifar10", f"dataset: cifar10\n{model}"))
    result = hpsearch_cli("study", "bad.yaml", "--data-dir", str(cifar_dir), cwd=tmp_path, env={"HPSEARCH_HOME": str(tmp_path / "mlruns")})
    assert result.returncode == 2, result.stderr[-2000:]
    line = (source or "").splitlines().index("    raise RuntimeError('no GPU here')") + 1 if what == "raises" else 0
    assert result.stderr.strip().splitlines() == ["Error: " + message.format(dir=tmp_path.resolve(), line=line)]
    assert not (tmp_path / "mlruns").exists()


# ----------------------------------------------------------------------------- end to end, in processes

#: Loads a registered model in a fresh process; prints the prediction's shape and where its custom layer came from.
PYFUNC_LOAD = """
import inspect, json, sys
import mlflow, numpy as np
model = mlflow.pyfunc.load_model(sys.argv[1])
keras_model = model.get_raw_model()
scale = keras_model.get_layer("scale")
shape = np.asarray(model.predict(np.zeros((2, 32, 32, 3), np.float32))).shape
print(json.dumps({"shape": list(shape), "layer": type(scale).__name__, "from": inspect.getfile(type(scale))}))
"""


def _python(script: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -c script args`` in a fresh process in ``cwd`` (which is all its path adds)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    full_env.update(TF_CPP_MIN_LOG_LEVEL="2", **env)
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)



@pytest.mark.slow
def test_a_user_model_study_exports_to_onnx_and_a_worker_elsewhere_imports_its_builder(tmp_path: Path, cifar_dir: Path) -> None:
    project = tmp_path / "project"
    _user_study(project, training={"max_epochs": 1}, budget={"trials": 1})
    env = {"HPSEARCH_HOME": str(tmp_path / "mlruns")}
    first = hpsearch_cli("study", "mine.yaml", "--data-dir", str(cifar_dir), cwd=project, env=env)
    assert first.returncode == 0, first.stderr[-3000:]

    export = hpsearch_cli("export", "mine", "--format", "onnx", "-o", str(tmp_path / "mine.onnx"), cwd=tmp_path, env=env)
    assert export.returncode == 0, export.stderr[-3000:]
    assert "Verified: reloaded with the onnx runtime, predictions on 60 test images match Keras" in export.stdout
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "mine.onnx"), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {session.get_inputs()[0].name: np.zeros((2, 32, 32, 3), np.float32)})[0]
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # The registered MLflow model carries net.py: a fresh process elsewhere, without the study's
    # folder on its path, loads it with the generic pyfunc loader (its custom layer included).
    uri = export.stdout.split("mlflow.pyfunc.load_model('")[1].split("'")[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loaded = _python(PYFUNC_LOAD, uri, cwd=elsewhere, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    shown = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert shown["shape"] == [2, 10] and shown["layer"] == "Scale" and shown["from"].endswith("code/hpsearch_model_code/net.py")

    # A worker started elsewhere (not in the study file's folder) reads the builder from the folder recorded with the study.
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    study = optuna.load_study(study_name="mine", storage=storage)
    study.set_user_attr(StudyAttr.TARGET, 2)  # what `study --trials 2` records, without running the trial here
    worker = hpsearch_cli("worker", "mine", "--data-dir", str(cifar_dir), "--max-trials", "1", cwd=elsewhere, env=env)
    assert worker.returncode == 0, worker.stderr[-3000:]
    trials = optuna.load_study(study_name="mine", storage=storage).trials
    assert [t.state for t in trials] == [COMPLETE, COMPLETE]
    assert trials[1].user_attrs[TrialAttr.WORKER]["pid"] != trials[0].user_attrs[TrialAttr.WORKER]["pid"]


@pytest.mark.slow
def test_kill_9_mid_trial_then_the_same_command_resumes_the_user_model(tmp_path: Path, cifar_dir: Path) -> None:
    from test_workers import check_consistency, retry_of, start, wait_for_checkpoint

    _user_study(tmp_path, "resilient", training={"max_epochs": 5, "early_stopping_patience": 10}, budget={"trials": 1})
    args = ["study", "resilient.yaml", "--data-dir", str(cifar_dir)]
    proc = start(args, tmp_path, tmp_path / "run1.log")
    killed_number, done = wait_for_checkpoint(tmp_path, "resilient", proc, min_epochs=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    rerun = start(args, tmp_path, tmp_path / "run2.log")
    assert rerun.wait(300) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    study = check_consistency(tmp_path, "resilient", 1)
    retry = retry_of(study, killed_number)
    assert retry.user_attrs[TrialAttr.RESUMED_FROM_EPOCH] >= done >= 2  # the checkpoint with the custom layer loaded
    assert retry.user_attrs[TrialAttr.EPOCHS_TRAINED] == 5
    assert "restarting from epoch 0" not in (tmp_path / "run2.log").read_text()


@pytest.mark.slow
def test_local_worker_processes_train_the_user_model(tmp_path: Path, cifar_dir: Path) -> None:
    """`hpsearch study FILE --workers 2` with your builder: each worker process imports net.py
    itself; every trial completes, in both workers, each with its MLflow run."""
    from test_workers import check_consistency, start

    space = {**USER_SPACE, "dropout": {"low": 0.0, "high": 0.3}}  # continuous: no two trials share a point
    _user_study(tmp_path, "team", search_space=space, training={"max_epochs": 1}, budget={"trials": 4})
    proc = start(["study", "team.yaml", "--data-dir", str(cifar_dir), "--workers", "2"], tmp_path, tmp_path / "run.log")
    assert proc.wait(600) == 0, (tmp_path / "run.log").read_text()[-3000:]
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" not in log and "Study team: 4/4 finished" in log
    study = check_consistency(tmp_path, "team", 4)  # one MLflow run per finished trial, its epochs logged once
    assert [t.state for t in study.trials] == [COMPLETE] * 4
    workers = {t.user_attrs[TrialAttr.WORKER]["pid"] for t in study.trials}
    assert len(workers) == 2 and proc.pid not in workers  # trained in the two worker processes
    assert {t.params["model.width"] for t in study.trials} <= {4, 6}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "saved_model", "tflite"])
def test_a_user_model_exports_in_every_format(store: Path, tmp_path: Path, cifar_dir: Path, fmt: str) -> None:
    """(ONNX: the end-to-end test above.) Each format is written, reloaded by its own runtime and
    checked against Keras by export itself; here its predictions are class probabilities."""
    import numpy as np
    from click.testing import CliRunner

    from hpsearch.cli import main
    from hpsearch.results._export import predict_exported

    path = _user_study(tmp_path, training={"max_epochs": 1}, budget={"trials": 1})
    run_study(StudyRequest(study=str(path), data_dir=str(cifar_dir)))
    out = tmp_path / ("best" + {"keras": ".keras", "saved_model": "_saved", "tflite": ".tflite"}[fmt])
    result = CliRunner().invoke(main, ["export", "mine", "--format", fmt, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {fmt} model to {out}" in result.output and "match Keras within" in result.output
    probabilities = predict_exported(out, fmt, np.zeros((2, 32, 32, 3), np.float32))
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # five CLI processes (~1 min on a shared CPU)
def test_lr_find_retrain_export_retrained_and_delete_on_a_user_model_study(tmp_path: Path, cifar_dir: Path) -> None:
    """Each command a fresh process run from elsewhere: each must import the study's builder (its custom layer) itself."""
    project = tmp_path / "project"
    _user_study(project, training={"max_epochs": 1}, budget={"trials": 1})
    env = {"HPSEARCH_HOME": str(tmp_path / "mlruns")}
    first = hpsearch_cli("study", "mine.yaml", "--data-dir", str(cifar_dir), cwd=project, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    found = hpsearch_cli("lr-find", "mine.yaml", "--data-dir", str(cifar_dir), "--steps", "10", cwd=project, env=env)
    assert found.returncode in (0, 1), found.stderr[-3000:]  # 10 batches may give no suggestion; the plot is drawn
    assert (tmp_path / "mlruns" / "lr_find" / "mine" / "adam.png").is_file()
    retrained = hpsearch_cli("retrain", "mine", "--data-dir", str(cifar_dir), cwd=tmp_path, env=env)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    exported = hpsearch_cli("export", "mine", "--retrained", "-o", str(tmp_path / "mine.keras"), "--data-dir", str(cifar_dir), cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "Retrained trial 0 (run " in exported.stdout and (tmp_path / "mine.keras").is_file()
    checked = hpsearch_cli("check", "mine", cwd=tmp_path, env=env)
    assert checked.returncode == 0 and "consistent" in checked.stdout, checked.stdout + checked.stderr[-3000:]
    deleted = hpsearch_cli("delete", "mine", "--yes", cwd=tmp_path, env=env)
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert not (tmp_path / "mlruns" / "lr_find" / "mine").exists() and not (tmp_path / "mlruns" / "artifacts" / "mine").exists()
