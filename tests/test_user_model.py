"""A model you write: the ``hp`` object, the builder contract and its one-line errors, custom layers,
the source digest, and the shipped example (studies/resnet_small.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import yaml

from hpsearch._errors import UsageError
from hpsearch.config import BuilderRef, parse_builder_ref
from hpsearch.models._hp import Hyperparameters, UndeclaredKnobError
from hpsearch.models._user import builder_digest, compiled_model_problem, digest_warning, validate_builder

STUDIES = Path(__file__).resolve().parent.parent / "studies"

HEADER = "import keras\n\n"
GOOD = """
def build(hp):
    inputs = hp.input()
    x = hp.activate(hp.conv2d(hp["filters"], 3, name="conv")(hp.rescale(inputs)), name="conv")
    x = keras.layers.GlobalAveragePooling2D()(hp.dropout(x))
    return keras.Model(inputs, hp.output(x))
"""


def _hp(**values: Any) -> Hyperparameters:
    return Hyperparameters({"filters": 4, **values}, input_shape=(8, 8, 3), num_outputs=3, input_scale=1 / 255)


def _write(tmp_path: Path, body: str, name: str = "net.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def _validate(tmp_path: Path, body: str, *, ref: str = "net.py:build", **kwargs: Any) -> Any:
    _write(tmp_path, body)
    return validate_builder(parse_builder_ref(ref, tmp_path), _hp(), **kwargs)


def _error(tmp_path: Path, body: str, **kwargs: Any) -> str:
    with pytest.raises(UsageError) as error:
        _validate(tmp_path, body, **kwargs)
    message = str(error.value)
    assert "\n" not in message and error.value.exit_code == 2
    return message


def _train_one_step(model: keras.Model, input_shape: tuple[int, ...], classes: int) -> float:
    if not model.compiled:
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, *input_shape)).astype("float32")
    return float(model.train_on_batch(x, rng.integers(0, classes, 4)))


# ----------------------------------------------------------------------------- the reference


def test_a_file_is_read_from_the_study_folder_and_a_module_by_name(tmp_path: Path) -> None:
    assert parse_builder_ref("models/net.py:build", tmp_path) == BuilderRef(
        "models/net.py:build", "build", file=tmp_path / "models" / "net.py"
    )
    assert parse_builder_ref("/abs/net.py:make", tmp_path).file == Path("/abs/net.py")
    assert parse_builder_ref("my_pkg.nets:build", tmp_path) == BuilderRef("my_pkg.nets:build", "build", module="my_pkg.nets")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("net.py", "model: expected 'path/to/file.py:function' (relative to the study file) or 'package.module:function', got 'net.py'."),
        ("net.py:", "model 'net.py:': '' after the ':' is not a function name; expected"),
        ("my-pkg/nets:build", "model 'my-pkg/nets:build': 'my-pkg/nets' is neither a .py file nor a module name; expected"),
    ],
)
def test_a_malformed_reference_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_builder_ref(text, tmp_path)


# ----------------------------------------------------------------------------- each contract violation


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        validate_builder(parse_builder_ref("nets/net.py:build", tmp_path), _hp())
    assert str(error.value) == (
        f"Model 'nets/net.py:build': no file {tmp_path}/nets/net.py (a relative path is read from the study "
        f"file's folder); check the path."
    )


def test_a_missing_module(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^Model 'no_such_pkg\.nets:build': no module named 'no_such_pkg'; install it"):
        validate_builder(parse_builder_ref("no_such_pkg.nets:build", tmp_path), _hp())


def test_a_file_that_fails_to_import(tmp_path: Path) -> None:
    message = _error(tmp_path, "x = 1\nimport no_such_dependency\n")
    assert message == (
        "Model 'net.py:build': importing net.py failed: ModuleNotFoundError: No module named "
        "'no_such_dependency' (net.py:4)."
    )
    message = _error(tmp_path, "def build(hp) return 1\n")
    assert message.startswith("Model 'net.py:build': importing net.py failed: SyntaxError: ") and message.endswith("(net.py:3).")


def test_a_missing_function(tmp_path: Path) -> None:
    message = _error(tmp_path, GOOD, ref="net.py:buidl")
    assert message == "Model 'net.py:buidl': net.py has no function 'buidl' (did you mean 'build'?); it defines build."


@pytest.mark.parametrize("signature", ["build()", "build(hp, data)", "build(*, hp)"])
def test_a_wrong_signature(tmp_path: Path, signature: str) -> None:
    message = _error(tmp_path, f"def {signature}:\n    pass\n")
    shown = signature.replace("build", "", 1)
    assert message == f"Model 'net.py:build': build{shown} must take exactly one parameter, hp: def build(hp) -> keras.Model."


def test_not_a_function(tmp_path: Path) -> None:
    message = _error(tmp_path, "build = 3\n")
    assert message == "Model 'net.py:build': build is a int, not a function; write def build(hp) -> keras.Model."


def test_a_wrong_output_shape(tmp_path: Path) -> None:
    message = _error(tmp_path, GOOD.replace("hp.output(x)", "keras.layers.Dense(5)(x)"))
    assert message == (
        "Model 'net.py:build': the model's output shape is (5,), expected (3,) (hp.num_outputs, from the data); "
        "end it with hp.output(x)."
    )


def test_an_edited_file_is_imported_again(tmp_path: Path) -> None:
    assert _validate(tmp_path, GOOD)(_hp()).output_shape == (None, 3)
    assert "output shape is (5,)" in _error(tmp_path, GOOD.replace("hp.output(x)", "keras.layers.Dense(5)(x)"))


def test_a_model_for_other_inputs(tmp_path: Path) -> None:
    message = _error(tmp_path, GOOD.replace("hp.input()", "keras.Input((16, 16, 3))"))
    assert message.startswith(
        "Model 'net.py:build': the model does not run on inputs of shape (8, 8, 3) (the data's, without the batch dimension): "
    )


def test_a_function_that_raises_names_the_exception_and_its_line(tmp_path: Path) -> None:
    body = """
    def helper(hp):
        raise ValueError(f"no width {hp['filters']}")

    def build(hp):
        return helper(hp)
    """
    message = _error(tmp_path, body)
    assert message == (
        "Model 'net.py:build': build(hp) failed on a dry build (inputs (8, 8, 3), 3 outputs): "
        "ValueError: no width 4 (net.py:5)."
    )


def test_a_function_that_does_not_return_a_model(tmp_path: Path) -> None:
    message = _error(tmp_path, "def build(hp):\n    return [keras.layers.Dense(3)]\n")
    assert message == (
        "Model 'net.py:build': build(hp) returned list, not a keras.Model; end it with return keras.Model(inputs, outputs)."
    )


def test_a_compiled_model_with_a_searched_optimizer(tmp_path: Path) -> None:
    compiled = GOOD.replace("    return keras.Model(inputs, hp.output(x))", (
        "    model = keras.Model(inputs, hp.output(x))\n"
        "    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "    return model"
    ))  # fmt: skip
    message = _error(tmp_path, compiled, searched=["optimizer", "sgd.momentum", "dropout"])
    assert message == (
        "Model 'net.py:build': the builder returns a compiled model, which is trained with its own optimizer, yet "
        "the study searches optimizer, sgd.momentum; return the model uncompiled (hpsearch compiles it with the "
        "searched optimizer), or fix those parameters in search_space."
    )
    builder = _validate(tmp_path, compiled, searched=["dropout", "filters"])  # used as is
    model = builder(_hp())
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert math.isfinite(_train_one_step(model, (8, 8, 3), 3))
    assert compiled_model_problem(["learning_rate"]) and compiled_model_problem(["cosine.alpha"])
    assert compiled_model_problem(["batch_size", "width"]) is None


# ----------------------------------------------------------------------------- custom layers and safe mode

CUSTOM = """
{decorator}
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor}}


def build(hp):
    inputs = hp.input()
    x = Scale(0.5, name="half")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, hp.output(x))
"""


def test_a_registered_custom_layer_saves_and_loads_in_safe_mode(tmp_path: Path) -> None:
    builder = _validate(tmp_path, CUSTOM.format(decorator='@keras.saving.register_keras_serializable(package="test_user_model")'))
    model = builder(_hp())
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(loaded.get_layer("half")).__name__ == "Scale" and loaded.get_layer("half").factor == 0.5


def test_an_unregistered_custom_layer_says_how_to_register_it(tmp_path: Path) -> None:
    message = _error(tmp_path, CUSTOM.format(decorator=""))
    assert message == (
        "Model 'net.py:build': custom class Scale is not registered with Keras, so a saved checkpoint of the model "
        "could not be loaded back; decorate it with @keras.saving.register_keras_serializable(package=\"my_models\") "
        "and give it a get_config() that returns its __init__ arguments."
    )


def test_an_export_loaded_where_its_layer_module_is_not_imported_says_to_import_it(tmp_path: Path) -> None:
    """A ``.keras`` file of a model with a registered custom layer, loaded by hpsearch in a fresh
    process that never imported the builder's file: one line that names the class and the fix."""
    builder = _validate(tmp_path, CUSTOM.format(decorator='@keras.saving.register_keras_serializable(package="test_user_model_fresh")'))
    builder(_hp()).save(tmp_path / "best.keras")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import sys\nfrom hpsearch._errors import RuntimeFailure\nfrom hpsearch.results._export import predict_exported\n"
        "try:\n    predict_exported(sys.argv[1], 'keras', [[[[0.0] * 3] * 8] * 8])\nexcept RuntimeFailure as e:\n    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "best.keras")], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == (
        f"Cannot load checkpoint {tmp_path / 'best.keras'}: Keras does not know its class 'Scale'. A custom layer loads "
        "only where it is registered: decorate it with @keras.saving.register_keras_serializable() in your builder's "
        "file and import that file before loading (hpsearch imports a study's builder itself; the file must still "
        "define the layer)."
    )


def test_a_lambda_layer_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, GOOD.replace("hp.rescale(inputs)", "keras.layers.Lambda(lambda t: t / 255)(inputs)"))
    assert message.startswith("Model 'net.py:build': layer 'lambda' is a Lambda, which Keras refuses to load in safe mode")


def test_a_custom_layer_without_its_config_fails_the_round_trip(tmp_path: Path) -> None:
    body = CUSTOM.format(decorator='@keras.saving.register_keras_serializable(package="test_user_model_noconfig")')
    body = body.replace('return {**super().get_config(), "factor": self.factor}', "return super().get_config()")
    body = body.replace("def __init__(self, factor=2.0, **kwargs)", "def __init__(self, factor, **kwargs)")
    message = _error(tmp_path, body)
    assert message.startswith("Model 'net.py:build': saving the model and loading it back in Keras safe mode failed (")
    assert message.endswith("a custom layer needs a get_config() that returns its __init__ arguments.")


# ----------------------------------------------------------------------------- hp


def test_hp_gives_values_shapes_and_the_searched_roles_to_layers() -> None:
    hp = Hyperparameters(
        {"width": 8, "initializer": "he_normal", "regularizer": "l1_l2", "l1_l2.l1": 0.0, "l1_l2.l2": 0.5,
         "batch_norm": "before_activation", "dropout": 0.3},
        input_shape=[8, 8, 3], num_outputs=1, output_activation=None,
    )  # fmt: skip
    assert hp["width"] == 8 and "width" in hp and hp.input_shape == (8, 8, 3) and hp.num_outputs == 1
    with pytest.raises(KeyError, match="hp has no parameter 'depth'; declare it under search_space.model"):
        hp["depth"]
    conv = hp.conv2d(4, 3)
    assert conv.padding == "same" and not conv.use_bias  # the bias is redundant before batch norm
    assert type(conv.kernel_initializer).__name__ == "HeNormal"
    assert conv.kernel_regularizer.get_config() == {"l1": 0.0, "l2": 0.5}
    assert hp.dense(4, use_bias=True).use_bias  # the user's arguments win
    inputs = hp.input()
    x = hp.activate(hp.conv2d(4, 3, name="c")(inputs), "elu", name="c")
    x = hp.dropout(keras.layers.Flatten()(x), name="drop")
    model = keras.Model(inputs, hp.output(x))
    assert [layer.name for layer in model.layers][1:4] == ["c", "c_bn", "c_elu"]
    assert model.get_layer("drop").rate == 0.3
    assert model.get_layer("outputs").get_config()["activation"] == "linear" and model.output_shape == (None, 1)


def test_hp_without_the_standard_roles_uses_their_defaults() -> None:
    hp = Hyperparameters({"regularizer": "l2"}, input_shape=(4,), num_outputs=2)
    assert (hp.initializer, hp.batch_norm, hp.dropout_rate) == ("glorot_uniform", "none", 0.0)
    assert hp.regularizer.get_config() == {"l2": pytest.approx(1e-4)}
    assert hp.output_activation == "softmax"


# ----------------------------------------------------------------------------- the source digest


def test_the_digest_follows_the_source_and_a_change_is_a_one_line_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    ref = parse_builder_ref("net.py:build", tmp_path)
    before = builder_digest(ref)
    assert before.startswith("sha256:") and builder_digest(ref) == before
    assert digest_warning(before, before, ref) is None and digest_warning(None, before, ref) is None
    path.write_text(path.read_text() + "# tuned\n")
    after = builder_digest(ref)
    warning = digest_warning(before, after, ref)
    assert after != before and warning is not None and "\n" not in warning
    assert warning.startswith("The model builder net.py:build changed since this study started")
    assert warning.endswith("start a new study: run it with --study-name NEW (or --fresh to replace this one).")
    module_ref = parse_builder_ref("hpsearch.studies.resnet_small:build", tmp_path)
    assert builder_digest(module_ref) == builder_digest(parse_builder_ref("resnet_small.py:build", STUDIES))


# ----------------------------------------------------------------------------- the shipped example


def _first_point(spec: Any) -> Any:
    if isinstance(spec, list):
        return spec[0]
    if isinstance(spec, dict):
        return spec["low"]
    return spec


@pytest.mark.parametrize("ref", ["resnet_small.py:build", "hpsearch.studies.resnet_small:build"])
def test_the_example_passes_validation_and_trains_one_step(ref: str) -> None:
    study = yaml.safe_load((STUDIES / "resnet_small.yaml").read_text())
    assert study["model"] == "resnet_small.py:build"
    knobs = {name: _first_point(spec) for name, spec in study["search_space"]["model"].items()}
    values = {**knobs, "batch_norm": "after_activation", "regularizer": "l2", "initializer": "he_normal", "dropout": 0.1}
    hp = Hyperparameters({**values, "width": 4}, input_shape=(16, 16, 3), num_outputs=10, input_scale=1 / 255)
    builder = validate_builder(parse_builder_ref(ref, STUDIES), hp, searched=["optimizer", *knobs])
    model = builder(hp)
    assert model.name == "resnet_small" and model.output_shape == (None, 10)
    assert {"stem", "stage2_block1_projection", "stage2_block1_add", "pool", "outputs"} <= {layer.name for layer in model.layers}
    scale = model.get_layer("stage1_block1_scale")  # the template's registered custom layer
    assert keras.saving.get_registered_name(type(scale)) == "resnet_small>ResidualScale" and float(scale.scale) == 0.0
    assert math.isfinite(_train_one_step(model, (16, 16, 3), 10))
    assert float(scale.scale) != 0.0  # learned


# ----------------------------------------------------------------------------- your knobs in the study file


def _study_file(tmp_path: Path, model: str, space: dict[str, Any]) -> Path:
    (tmp_path / "net.py").write_text(HEADER + textwrap.dedent(GOOD))
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"dataset": "cifar10", "model": model, "search_space": space}))
    return path


@pytest.mark.parametrize(
    ("model", "space", "message"),
    [
        ("net.py:build", {"model": {"filters": {"low": 8}}}, "search_space.model.filters: a range needs both `low` and `high`; `high` is missing."),
        ("net.py:build", {"model": {"filters": {"low": 8, "high": 4}}}, "search_space.model.filters: `low <= high` must hold, but got (low=8, high=4); swap the bounds."),
        ("net.py:build", {"model": {"learning_rate": 0.1}}, "search_space.model.learning_rate: 'learning_rate' is a standard role, which hp['learning_rate'] already gives; name your knob otherwise."),
        ("net.py:build", {"model": {"bad-name": 3}}, "search_space.model.bad-name: a knob name must be an identifier (read as hp['bad-name']); use letters, digits and _."),
        ("cifar_cnn", {"model": {"filters": [4, 8]}}, "search_space.model: the knobs of a builder you write (model: path/to/file.py:function), and the model is cifar_cnn, which has no knobs."),
        ("net.py:build", {"architecture": {"conv_blocks": 3}}, "search_space.architecture: the knobs of the cnn family, and the model is your builder net.py:build; put its knobs under search_space.model."),
    ],
)
def test_your_knobs_are_validated_like_every_other_parameter(tmp_path: Path, model: str, space: dict[str, Any], message: str) -> None:
    from hpsearch.config import load_study_config

    path = _study_file(tmp_path, model, space)
    with pytest.raises(UsageError) as error:
        load_study_config(str(path))
    assert str(error.value) == f"{path}: {message}"


def test_your_knobs_are_sampled_with_every_syntax_and_shown_by_space(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hpsearch.cli import main
    from hpsearch.config import load_study_config

    space = {"model": {"filters": {"low": 4, "high": 64, "log": True}, "depth": {"low": 1, "high": 7, "step": 2}, "act": ["relu", "elu"], "k": 3}}
    path = _study_file(tmp_path, "net.py:build", space)
    assert load_study_config(str(path)).search_space.searched() == ["model.act", "model.depth", "model.filters"]
    shown = CliRunner().invoke(main, ["space", str(path)])
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in shown.output.splitlines() if line.startswith("model.")}
    assert lines == {
        "model.filters": "int in [4, 64] log", "model.depth": "int in [1, 7] step 2", "model.act": "one of 'relu', 'elu'", "model.k": "fixed 3",
    }  # fmt: skip


def test_a_compiled_model_trains_as_returned(tmp_path: Path) -> None:
    """The trial's model is the builder's compiled one: its own optimizer and loss, not the searched ones."""
    from hpsearch.config import load_study_config
    from hpsearch.models._build import ModelFactory
    from hpsearch.models._trial_model import build_trial_model
    from hpsearch.tasks import Task, head_for

    compiled = GOOD.replace("    return keras.Model(inputs, hp.output(x))", (
        "    model = keras.Model(inputs, hp.output(x))\n"
        "    model.compile(optimizer=keras.optimizers.Adam(0.25), loss='sparse_categorical_crossentropy')\n"
        "    return model"
    ))  # fmt: skip
    path = _study_file(tmp_path, "net.py:build", {"model": {"filters": 4}, "optimizer": "sgd"})
    (tmp_path / "net.py").write_text(HEADER + textwrap.dedent(compiled))
    config = load_study_config(str(path))
    params = {"model.filters": 4, "optimizer": "sgd", "sgd.momentum": 0.0, "sgd.nesterov": False, "learning_rate": 0.01,
              "schedule": "none", "regularizer": "none", "initializer": "glorot_uniform", "batch_norm": "none", "dropout": 0.0}  # fmt: skip
    net, _ = build_trial_model(
        params, model=config.model, head=head_for(Task("classification", num_classes=3), "sparse_categorical_crossentropy"), factory=ModelFactory(config), loss_knobs={},
        metrics=("accuracy",), input_shape=(8, 8, 3), input_scale=1 / 255, steps_per_epoch=1, max_epochs=1, seed=0,
    )  # fmt: skip
    assert isinstance(net.optimizer, keras.optimizers.Adam) and float(net.optimizer.learning_rate) == 0.25
    assert math.isfinite(_train_one_step(net, (8, 8, 3), 3))


# ----------------------------------------------------------------------------- a builder written for Keras Tuner

KERAS_TUNER_BUILD = """
def build(hp):
    inputs = hp.input()
    x = hp.rescale(inputs)
    for _ in range(hp.Int("blocks", 1, 2)):
        x = keras.layers.Conv2D(hp.Int("width", 4, 8, step=4), 3, padding="same", activation=hp.Choice("act", ["relu", "tanh"]))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if hp.Boolean("extra"):
        x = keras.layers.Dense(hp.Int("units", 4, 16, sampling="log"))(x)
    x = keras.layers.Dropout(hp.Float("rate", 0.0, 0.5, step=0.25))(x)
    return keras.Model(inputs, hp.output(x))
"""


def test_keras_tuner_calls_read_the_declared_knobs_and_an_undeclared_one_gives_its_yaml() -> None:
    hp = _hp(act="tanh", extra=True, rate=0.25, head="mean", learning_rate=0.01)
    assert hp.Int("filters", 1, 64, step=2) == 4 and hp.Choice("act", ["relu", "tanh"]) == "tanh"
    assert hp.Boolean("extra") is True and hp.Float("rate", 0.0, 1.0) == 0.25 and hp.Fixed("head", "max") == "mean"
    assert hp.Float("learning_rate", 1e-4, 1e-1, sampling="log") == 0.01  # a standard role: the sampled one
    with hp.conditional_scope("act", ["tanh"]):  # Keras Tuner's scope: a plain block
        assert hp.Int("filters", 1, 64) == 4
    with pytest.raises(UndeclaredKnobError) as error:
        hp.Int("units", 32, 512, step=32)
    assert str(error.value) == (
        "hp.Int('units', ...) reads a knob the study file does not declare; "
        "add under search_space.model: {units: {low: 32, high: 512, step: 32}}"
    )
    with pytest.raises(UndeclaredKnobError, match=r"add under search_space.model: \{units: \[32, 64, 128, 256, 512\]\}$"):
        hp.Int("units", 32, 512, step=2, sampling="log")  # Keras Tuner's log step is a factor: those points
    with pytest.raises(UndeclaredKnobError, match=r"add under search_space.model: \{decay: \{low: 0.001, high: 0.1, log: true\}\}$"):
        hp.Float("decay", 1e-3, 1e-1, sampling="log")
    with pytest.raises(UndeclaredKnobError, match=r"add under search_space.model: \{'on': \[false, true\]\}$"):
        hp.Boolean("on")  # quoted: YAML reads a bare on as true


def test_a_keras_tuner_builder_is_told_every_knob_to_declare_and_the_yaml_it_is_given_works(tmp_path: Path) -> None:
    """The dry build lists every undeclared knob at once, those behind a branch too (the space's
    other end is built as well); pasted into the study file, that YAML passes the check."""
    from hpsearch.config import parse_study_dict
    from hpsearch.models._build import hp_values
    from hpsearch.space._sample import first_point, last_point

    message = _error(tmp_path, KERAS_TUNER_BUILD, other_end=_hp())
    assert message.startswith(
        "Model 'net.py:build': build(hp) reads Keras Tuner style knobs the study file does not declare "
        "(blocks, width, act, extra, rate, units); the study file holds the space: add under search_space.model: {"
    )
    knobs = yaml.safe_load(message.split("add under search_space.model: ", 1)[1])
    assert knobs["units"] == {"low": 4, "high": 16, "log": True} and knobs["rate"] == {"low": 0.0, "high": 0.5, "step": 0.25}
    config = parse_study_dict({"dataset": "cifar10", "model": "net.py:build", "search_space": {"model": knobs}}, name="kt", source="kt.yaml")
    assert config.search_space.searched() == [f"model.{k}" for k in ("blocks", "width", "act", "extra", "rate", "units")]

    def hp_at(params: dict[str, Any]) -> Hyperparameters:
        return Hyperparameters(hp_values(params), input_shape=(8, 8, 3), num_outputs=3, input_scale=1 / 255)

    low, high = hp_at(first_point(config.search_space)), hp_at(last_point(config.search_space))
    builder = validate_builder(parse_builder_ref("net.py:build", tmp_path), low, other_end=high)
    assert high["units"] == 16 and high["blocks"] == 2 and high["rate"] == 0.5
    assert len(builder(high).layers) > len(builder(low).layers)  # the far end has a second block and the extra layer
