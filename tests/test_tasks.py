"""Tasks: inference from targets, heads and label encodings per loss, the compiled metrics, and
the direction of every objective. Every task x loss x metric combination builds and trains."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpsearch._errors import UsageError
from hpsearch.catalog import LOSSES, METRICS, TABLE_MODELS, TASK_METRICS, LossOption, MetricOption
from hpsearch.tasks import (
    Head,
    Task,
    build_loss,
    build_metrics,
    default_loss,
    encode_labels,
    head_for,
    infer_task,
    losses_for,
    metrics_for,
    objective_direction,
)

BINARY, MULTI, REGRESSION = Task("classification", 2), Task("classification", 3), Task("regression")
TASKS = {"binary": BINARY, "multi": MULTI, "regression": REGRESSION}


# --- inference ---------------------------------------------------------------------------------


def test_integer_labels_are_classes_and_two_classes_are_binary() -> None:
    assert infer_task(np.array([0, 1, 2, 1])) == Task("classification", num_classes=3)
    two = infer_task(np.array([1, 0, 0, 1], np.uint8))
    assert two.binary and two.name == "binary" and two.num_classes == 2
    assert infer_task(np.array([0, 1]), num_classes=5).num_classes == 5  # a split may lack classes


def test_float_targets_are_regression_of_as_many_outputs_as_columns() -> None:
    assert infer_task(np.array([1.5, 2.0, 3.25], np.float32)) == Task("regression", outputs=1)
    assert infer_task(np.zeros((4, 3))) == Task("regression", outputs=3)
    assert infer_task(np.array([0.0, 1.0])).kind == "regression"  # floats, even integral ones


def test_integers_that_are_not_ids_and_take_many_values_are_a_quantity() -> None:
    prices = np.random.default_rng(0).integers(100, 400, 200)  # ~150 distinct values, not 0..K-1
    assert infer_task(prices) == Task("regression")
    assert infer_task(prices, "classification", num_classes=400).kind == "classification"  # asked: classes
    assert infer_task(np.arange(200) % 30).num_classes == 30  # the ids 0..29: classes, however many
    assert infer_task(np.arange(200) % 5 + 1).kind == "classification"  # 1..5: too few values to be a quantity
    assert infer_task(np.arange(1000) % 30 + 1).kind == "classification"  # 1..30 in 1000 rows: 3% of them
    assert infer_task(np.arange(100) % 30 + 1).kind == "regression"  # 1..30 in 100 rows: 30% of them


def test_an_explicit_task_wins_when_the_targets_allow_it() -> None:
    assert infer_task(np.array([3, 7, 12]), "regression") == Task("regression")  # counts are quantities
    assert infer_task(np.array([0.0, 1.0, 2.0]), "classification") == Task("classification", 3)
    assert infer_task(np.array([0, 1]), "auto").binary


@pytest.mark.parametrize(
    ("y", "asked", "message"),
    [
        (np.array([0.0, 0.5, 1.0]), "classification", "task: classification was asked, but targets include 0.5, not a class id; class ids are 0..K-1 (or set task: regression)."),
        (np.zeros((3, 2), np.int64), "classification", "task: classification was asked, but targets have 2 columns; class ids are one column (or set task: regression)."),
        (np.array([0, 0, 0]), None, "targets hold a single class (0); a classifier needs at least two (or set task: regression)."),
        (np.array([0, 3]), "auto-3", "targets include class id 3, but the ids of 3 classes are 0..2; renumber them."),
        (np.array([0, -1, 1]), None, "targets include class id -1, but the ids of 2 classes are 0..1; renumber them."),
        (np.array(["a", "b"]), None, "targets have dtype <U1; they must be integer class ids or float values."),
        (np.array([1.0, np.nan]), None, "targets contain NaN or infinite values; drop or fill those rows first."),
        (np.array([0, 1]), "clasification", "task must be one of auto | classification | regression, not 'clasification'."),
    ],
)
def test_a_contradiction_or_bad_targets_are_one_line_errors(y: np.ndarray, asked: str | None, message: str) -> None:
    num_classes = 3 if asked == "auto-3" else None
    with pytest.raises(UsageError) as error:
        infer_task(y, "auto" if asked == "auto-3" else asked, num_classes=num_classes)
    assert str(error.value) == message


# --- heads and label encodings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "loss", "units", "activation", "labels"),
    [
        (BINARY, None, 1, "sigmoid", "indicator"),  # two classes: one sigmoid output by default
        (MULTI, None, 3, "softmax", "ids"),
        (REGRESSION, None, 1, "linear", "values"),
        (Task("regression", outputs=2), "huber", 2, "linear", "values"),
        (BINARY, "sparse_categorical_crossentropy", 2, "softmax", "ids"),
        (BINARY, "categorical_crossentropy", 2, "softmax", "one_hot"),
        (BINARY, "hinge", 1, "linear", "signed"),
        (MULTI, "binary_crossentropy", 3, "sigmoid", "indicator"),
        (MULTI, "squared_hinge", 3, "linear", "signed"),
    ],
)
def test_the_head_follows_the_task_and_the_loss(task: Task, loss: str | None, units: int, activation: str, labels: str) -> None:
    head = head_for(task, loss)
    assert (head.loss, head.units, head.activation, head.labels) == (loss or default_loss(task), units, activation, labels)


def test_losses_of_another_task_or_unknown_ones_are_refused_naming_the_valid_ones() -> None:
    with pytest.raises(UsageError) as error:
        head_for(REGRESSION, "hinge")
    assert str(error.value) == "loss 'hinge' is a classification loss, but the task is regression; use one of mse, mae, mape, msle, huber, log_cosh."
    with pytest.raises(UsageError, match=r"Unknown loss 'hubber' \(did you mean 'huber'\?\); regression losses: mse, "):
        head_for(REGRESSION, "hubber")


def test_every_loss_belongs_to_one_task_and_every_task_has_losses() -> None:
    assert set(losses_for(BINARY)) | set(losses_for(REGRESSION)) == set(LOSSES)
    assert losses_for(BINARY) == losses_for(MULTI) == (
        "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "hinge", "squared_hinge",
    )


@pytest.mark.parametrize(
    ("task", "loss", "expected"),
    [
        (MULTI, "sparse_categorical_crossentropy", np.array([2, 0, 1])),
        (MULTI, "categorical_crossentropy", np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32)),
        (MULTI, "binary_crossentropy", np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32)),
        (MULTI, "hinge", np.array([[-1, -1, 1], [1, -1, -1], [-1, 1, -1]], np.float32)),
        (BINARY, "binary_crossentropy", np.array([[1], [0], [1]], np.float32)),
        (BINARY, "squared_hinge", np.array([[1], [-1], [1]], np.float32)),
        (BINARY, "categorical_crossentropy", np.array([[0, 1], [1, 0], [0, 1]], np.float32)),
    ],
)
def test_labels_are_encoded_as_each_loss_needs(task: Task, loss: str, expected: np.ndarray) -> None:
    y = np.array([2, 0, 1]) if task is MULTI else np.array([1, 0, 1])
    encoded = encode_labels(y, head_for(task, loss))
    np.testing.assert_array_equal(encoded, expected)
    assert encoded.dtype == (np.int64 if loss == "sparse_categorical_crossentropy" else np.float32)


def test_regression_targets_become_float_columns_and_bad_class_ids_are_refused() -> None:
    encoded = encode_labels(np.array([1, 2, 3]), head_for(REGRESSION))
    assert encoded.shape == (3, 1) and encoded.dtype == np.float32
    with pytest.raises(UsageError, match=r"^class id 3 is outside 0..2; renumber the labels.$"):
        encode_labels(np.array([0, 3]), head_for(MULTI))


# --- objective direction -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", list(TASK_METRICS))
def test_every_metric_has_its_direction_for_training_and_validation(metric: str) -> None:
    option = TASK_METRICS.option(metric)
    assert isinstance(option, MetricOption)
    expected = "minimize" if metric in {"mae", "rmse", "mse", "mape", "msle"} else "maximize"
    assert option.direction == expected
    assert objective_direction(metric) == objective_direction(f"val_{metric}") == expected


def test_loss_is_minimized_an_explicit_direction_wins_and_unknown_metrics_need_one() -> None:
    assert objective_direction("val_loss") == objective_direction("loss") == "minimize"
    assert objective_direction("val_accuracy", "minimize") == "minimize"
    assert objective_direction("val_my_score", "maximize") == "maximize"  # e.g. a user model's own metric
    with pytest.raises(UsageError, match=r"^objective 'val_maee': no known direction \(did you mean 'val_mae'\?\); use one of val_loss, .* or set direction: maximize \| minimize\.$"):
        objective_direction("val_maee")
    with pytest.raises(UsageError, match=r"^direction must be one of maximize \| minimize, not 'up'\.$"):
        objective_direction("val_mae", "up")


def test_the_objectives_config_accepts_today_agree_with_the_new_table() -> None:
    assert {metric: objective_direction(metric) for metric in METRICS} == METRICS


# --- the catalog -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_builder_takes_exactly_its_knobs(name: str) -> None:
    option = LOSSES.option(name)
    assert isinstance(option, LossOption)
    parameters = inspect.signature(LOSSES.builder(name)).parameters  # type: ignore[arg-type]
    assert set(option.knobs) <= set(parameters)
    assert LOSSES.build(name) is not None


SAMPLES = {
    "classification": (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.3, 0.7], [0.6, 0.4]])),
    "regression": (np.array([[1.0], [3.0]]), np.array([[2.5], [0.2]])),
}
CHANGED = {"label_smoothing": 0.2, "delta": 0.5}


@pytest.mark.parametrize("name", [name for name in LOSSES if LOSSES[name]])
def test_every_loss_knob_acts_and_survives_a_save(name: str) -> None:
    """A resumed trial reloads its model: the loss must come back with the knobs it was built with."""
    option = LOSSES.option(name)
    assert isinstance(option, LossOption)
    y, p = SAMPLES[option.task]
    loss = LOSSES.build(name, {knob: CHANGED[knob] for knob in option.knobs})
    again = type(loss).from_config(loss.get_config())
    assert float(again(y, p)) == pytest.approx(float(loss(y, p)))
    assert float(loss(y, p)) != pytest.approx(float(LOSSES.build(name)(y, p)))


def test_label_smoothing_is_offered_where_keras_supports_it() -> None:
    smoothing = {name for name in LOSSES if "label_smoothing" in LOSSES[name]}
    assert smoothing == {"categorical_crossentropy", "binary_crossentropy"}
    loss = build_loss(head_for(MULTI, "categorical_crossentropy"), {"label_smoothing": 0.1})
    assert loss.get_config()["label_smoothing"] == 0.1


def test_metrics_of_another_task_and_impossible_top_k_are_refused() -> None:
    with pytest.raises(UsageError, match=r"^metric 'mae' is a regression metric, but the task is classification; use one of accuracy, "):
        build_metrics(["mae"], head_for(MULTI))
    with pytest.raises(UsageError, match=r"^Unknown metric 'acuracy' \(did you mean 'accuracy'\?\)"):
        build_metrics(["acuracy"], head_for(MULTI))
    with pytest.raises(UsageError, match=r"^top_k_accuracy k=3 needs more than 3 classes, but the task has 3; use k < 3"):
        build_metrics({"top_k_accuracy": {"k": 3}}, head_for(MULTI))


def test_importing_the_catalog_and_tasks_imports_no_tensorflow() -> None:
    heavy = "('tensorflow', 'keras', 'optuna', 'mlflow')"
    code = f"import sys, hpsearch.catalog, hpsearch.tasks; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the metrics compute what they say ---------------------------------------------------------


def _measure(names: dict[str, dict[str, Any]], head: Head, y: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    values = {}
    for metric in build_metrics(names, head):
        metric.update_state(encode_labels(y, head), outputs.astype(np.float32))
        values[metric.name] = float(metric.result())
    return values


def _macro(y: np.ndarray, pred: np.ndarray, classes: int) -> tuple[float, float, float]:
    p, r, f = [], [], []
    for c in range(classes):
        tp = np.sum((pred == c) & (y == c))
        p.append(tp / max(np.sum(pred == c), 1))
        r.append(tp / max(np.sum(y == c), 1))
        f.append(2 * tp / max(np.sum(pred == c) + np.sum(y == c), 1))
    return float(np.mean(p)), float(np.mean(r)), float(np.mean(f))


CLASS_METRICS = {"accuracy": {}, "precision": {}, "recall": {}, "f1": {}, "auc": {}}


@pytest.mark.parametrize("loss", ["binary_crossentropy", "hinge", "sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_binary_metrics_mean_the_same_with_every_head(loss: str) -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.7, 0.6, 0.1, 0.8, 0.3])  # probability of class 1
    head = head_for(BINARY, loss)
    if head.activation == "softmax":
        outputs = np.stack([1 - p, p], axis=1)
    elif head.activation == "linear":
        outputs = np.log(p / (1 - p))[:, None]  # margins whose sigmoid is p
    else:
        outputs = p[:, None]
    pred = (p > 0.5).astype(int)
    tp = np.sum((pred == 1) & (y == 1))
    got = _measure(CLASS_METRICS, head, y, outputs)
    expected = {"accuracy": np.mean(pred == y), "precision": tp / np.sum(pred == 1), "recall": tp / np.sum(y == 1)}
    expected["f1"] = 2 * expected["precision"] * expected["recall"] / (expected["precision"] + expected["recall"])
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    pairs = [(a, b) for a in p[y == 1] for b in p[y == 0]]
    assert got["auc"] == pytest.approx(np.mean([a > b for a, b in pairs]), abs=0.02)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "binary_crossentropy", "squared_hinge"])
def test_multi_class_metrics_are_macro_averages_and_top_k_counts_hits(loss: str) -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    scores = np.array([[5, 1, 0], [1, 0, 3], [0, 1, 4], [2, 3, 1], [0, 4, 1], [1, 3, 0], [0, 1, 2]], np.float32)
    head = head_for(MULTI, loss)
    outputs = np.exp(scores) / np.exp(scores).sum(1, keepdims=True) if head.activation == "softmax" else scores
    if head.activation == "sigmoid":
        outputs = 1 / (1 + np.exp(-scores))
    got = _measure({**CLASS_METRICS, "top_k_accuracy": {"k": 2}}, head, y, outputs)
    pred = scores.argmax(1)
    precision, recall, f1 = _macro(y, pred, 3)
    top2 = np.mean([c in np.argsort(-s)[:2] for c, s in zip(y, scores)])
    assert (got["accuracy"], got["precision"], got["recall"], got["f1"]) == pytest.approx((np.mean(pred == y), precision, recall, f1))
    assert got["top_k_accuracy"] == pytest.approx(top2)
    assert 0.5 < got["auc"] <= 1.0


@pytest.mark.parametrize(("task", "loss"), [(BINARY, "hinge"), (MULTI, "sparse_categorical_crossentropy")])
def test_tied_scores_are_broken_as_argmax_breaks_them(task: Task, loss: str) -> None:
    """A constant output (e.g. a dead network) predicts class 0, it is not right for every class."""
    head = head_for(task, loss)
    y = np.array([0, 1, 1, 1])
    outputs = np.zeros((4, head.units)) if head.activation == "linear" else np.full((4, head.units), 1 / head.units)
    got = _measure({"accuracy": {}, "top_k_accuracy": {"k": 1}}, head, y, outputs)
    assert got == {"accuracy": 0.25, "top_k_accuracy": 0.25}


def test_regression_metrics_are_named_as_the_catalog_names_them() -> None:
    y = np.array([1.0, 2.0, 4.0])
    pred = np.array([[1.5], [2.0], [3.0]])
    got = _measure({name: {} for name in metrics_for("regression")}, head_for(REGRESSION), y, pred)
    err = pred[:, 0] - y
    assert got["mae"] == pytest.approx(np.mean(np.abs(err)))
    assert got["mse"] == pytest.approx(np.mean(err**2))
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert got["mape"] == pytest.approx(100 * np.mean(np.abs(err) / y), rel=1e-5)
    assert got["msle"] == pytest.approx(np.mean((np.log1p(pred[:, 0]) - np.log1p(y)) ** 2), rel=1e-5)
    assert got["r2"] == pytest.approx(1 - np.sum(err**2) / np.sum((y - y.mean()) ** 2), rel=1e-5)


# --- every task x loss x metric builds and trains one step -------------------------------------


def _tiny_data(task: Task, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    if task.kind == "regression":
        return x, rng.uniform(1.0, 3.0, size=n).astype(np.float32)  # positive: mape and msle are defined
    return x, np.arange(n) % task.num_classes


def _fit_every_combination(task: Task, losses: tuple[str, ...], *, run_eagerly: bool) -> dict[str, list[float]]:
    """One model with one output per loss, each compiled with every metric of the task, trained one step."""
    import keras

    from hpsearch.models._output import output_layer

    metrics: dict[str, dict[str, Any]] = {name: {} for name in metrics_for(task.kind)}
    if "top_k_accuracy" in metrics:
        metrics["top_k_accuracy"] = {"k": task.num_classes - 1}
    heads = {loss: head_for(task, loss) for loss in losses}
    inputs = keras.Input(shape=(4,))
    body = keras.layers.Dense(4, activation="relu")(inputs)
    outputs = {loss: output_layer(head, initializer="glorot_uniform", regularizer=None, name=loss)(body) for loss, head in heads.items()}
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss={loss: build_loss(head) for loss, head in heads.items()},
        metrics={loss: build_metrics(metrics, head) for loss, head in heads.items()},
        run_eagerly=run_eagerly,
    )
    x, y = _tiny_data(task)
    labels = {loss: encode_labels(y, head) for loss, head in heads.items()}
    history = model.fit(x, labels, validation_data=(x, labels), epochs=1, batch_size=len(x), verbose=0).history
    per_output = {f"{loss}_{metric}" for loss in heads for metric in ("loss", *metrics)}
    assert set(history) == {"loss", "val_loss"} | per_output | {f"val_{name}" for name in per_output}
    assert all(np.isfinite(values[0]) for values in history.values()), history
    return history


@pytest.mark.parametrize("task_name", list(TASKS))
def test_every_task_loss_and_metric_builds_and_trains_one_step(task_name: str) -> None:
    """Eagerly: tracing a graph per combination would take a minute (the next test traces one)."""
    _fit_every_combination(TASKS[task_name], losses_for(TASKS[task_name]), run_eagerly=True)


def test_the_class_metrics_train_in_a_compiled_graph() -> None:
    """hpsearch's own metric classes (the regression ones are Keras's) inside ``tf.function``."""
    _fit_every_combination(MULTI, ("sparse_categorical_crossentropy", "squared_hinge"), run_eagerly=False)


def test_a_model_with_these_metrics_reloads_with_them(tmp_path: Path) -> None:
    import keras

    head = head_for(BINARY, "hinge")
    model = TABLE_MODELS.build(
        "mlp", {"layers": 1, "units": 4}, input_shape=(4,), head=head, input_scale=1.0,
        initializer="glorot_uniform", regularizer=None, batch_norm="none", dropout=0.0,
    )
    model.compile(optimizer="adam", loss=build_loss(head), metrics=build_metrics(["accuracy", "f1", "auc"], head))
    x, y = _tiny_data(BINARY)
    model.fit(x, encode_labels(y, head), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    before = model.evaluate(x, encode_labels(y, head), return_dict=True, verbose=0)
    after = again.evaluate(x, encode_labels(y, head), return_dict=True, verbose=0)
    assert after == pytest.approx(before)
