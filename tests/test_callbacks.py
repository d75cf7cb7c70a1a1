"""Callbacks: each adds or watches one thing, stops training without raising, survives resumes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hpsearch.trial import callbacks as cb
from hpsearch.trial._checkpoints import TrialCheckpoints


def tiny_model(lr: float = 0.01) -> keras.Model:
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 4)).astype("float32") + y[:, None]
    return x, y


def fit(model: keras.Model, callbacks: list, epochs: int = 3, initial_epoch: int = 0, **kw) -> keras.callbacks.History:
    x, y = data()
    return model.fit(x, y, validation_data=data(16), epochs=epochs, initial_epoch=initial_epoch, batch_size=8, verbose=0, callbacks=callbacks, **kw)


def test_timer_and_lr_logger_add_to_the_logs() -> None:
    history = cb.HistoryRecorder()
    fit(tiny_model(0.05), [cb.EpochTimer(), cb.LearningRateLogger(), history], epochs=2)
    assert [row["epoch"] for row in history.history] == [1, 2]  # 1-based, as Keras prints
    for row in history.history:
        assert row["epoch_seconds"] > 0
        assert row["learning_rate"] == pytest.approx(0.05)
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(row)


def test_nan_guard_stops_and_remembers_where() -> None:
    guard = cb.NaNGuard()
    history = cb.HistoryRecorder()
    x, y = data()
    x[9] = np.nan  # the second batch of the first epoch
    inputs = keras.Input((4,))  # no ReLU: TF's ReLU maps NaN to 0, which would hide the NaN
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, shuffle=False, callbacks=[guard, history])
    assert guard.diverged_at == (0, 1)
    assert len(history.history) == 1  # stopped after the first epoch, no exception


class FakeTrial:
    def __init__(self, prune_at: int) -> None:
        self.prune_at = prune_at
        self.reported: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return self.reported[-1][0] >= self.prune_at


def test_pruning_stops_training_but_lets_early_stopping_restore(tmp_path) -> None:
    trial = FakeTrial(prune_at=2)
    pruning = cb.PruningReporter(trial, "val_accuracy")
    stopper = cb.ResumableEarlyStopping(tmp_path / "best.keras", monitor="val_loss", patience=10)
    restored = {}

    class Spy(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            restored["ran"] = True

    fit(tiny_model(), [stopper, pruning, Spy()], epochs=6)
    assert pruning.pruned_at == 2
    assert [s for s, _ in trial.reported] == [1, 2]  # steps are the 1-based epoch numbers
    assert restored == {"ran": True}  # on_train_end still ran: nothing raised inside fit


def test_missing_metric_lists_what_exists() -> None:
    with pytest.raises(KeyError, match="'val_acc' is not in the epoch logs; available: loss, val_loss"):
        cb.monitored_value({"loss": 1.0, "val_loss": 2.0}, "val_acc")


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: cb.BestCheckpoint(TrialCheckpoints(tmp), "val_acc", "max"),
        lambda tmp: cb.ResumableEarlyStopping(tmp / "best.keras", monitor="val_acc", mode="max", patience=2),
        lambda tmp: cb.ResumableReduceLROnPlateau(monitor="val_acc", mode="max", patience=1, verbose=0),
        lambda tmp: cb.PruningReporter(FakeTrial(prune_at=99), "val_acc"),
    ],
    ids=["best", "early_stopping", "plateau", "pruning"],
)
def test_a_callback_watching_a_missing_metric_fails_with_the_metrics_that_exist(make, tmp_path) -> None:
    """Keras's EarlyStopping and ReduceLROnPlateau only warn and carry on; these fail the trial
    with one line that names the metrics the logs do have."""
    with pytest.raises(cb.MissingMetricError) as raised:
        fit(tiny_model(), [make(tmp_path)], epochs=1)
    assert str(raised.value) == "Metric 'val_acc' is not in the epoch logs; available: accuracy, loss, val_accuracy, val_loss."


def test_best_checkpoint_saves_only_improvements(tmp_path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    best = cb.BestCheckpoint(ckpt, "val_loss", "min")
    history = cb.HistoryRecorder()
    fit(tiny_model(0.05), [history, best], epochs=4)
    losses = [row["val_loss"] for row in history.history]
    assert best.best == pytest.approx(min(losses)) and best.best_epoch == int(np.argmin(losses))
    assert ckpt.best_path.is_file()
    reloaded = keras.saving.load_model(ckpt.best_path)
    assert reloaded.evaluate(*data(16), verbose=0)[0] == pytest.approx(best.best, rel=1e-4)


def test_equal_values_go_to_the_epoch_with_the_lower_tie_breaker(tmp_path) -> None:
    """The best checkpoint and the runner's best epoch agree: the highest val_accuracy, and among
    epochs that share it the lowest val_loss (without a tie-breaker: the first of them)."""
    from hpsearch.trial._runner import _best

    logs = [
        {"val_accuracy": 0.9, "val_loss": 0.5},
        {"val_accuracy": 1.0, "val_loss": 0.3},
        {"val_accuracy": 1.0, "val_loss": 0.2},
        {"val_accuracy": 1.0, "val_loss": 0.25},
        {"val_accuracy": 0.95, "val_loss": 0.1},
    ]
    history = [{"epoch": i + 1, **row} for i, row in enumerate(logs)]
    for tie_break, expected in (("val_loss", 2), (None, 1)):
        best = cb.BestCheckpoint(TrialCheckpoints(tmp_path / str(tie_break)), "val_accuracy", "max", tie_break)
        best.set_model(tiny_model())
        for epoch, row in enumerate(logs):
            best.on_epoch_end(epoch, row)
        assert (best.best, best.best_epoch) == (1.0, expected)
        assert _best(history, "val_accuracy", "maximize", tie_break) == (1.0, expected + 1)  # history epochs are 1-based
    assert _best(history, "val_loss", "minimize", None) == (0.1, 5)


@pytest.mark.parametrize("tie_break, expected", [("val_loss", 2), (None, 1)])
def test_early_stopping_keeps_the_same_best_epoch_as_the_checkpoint(tmp_path, tie_break, expected) -> None:
    """EarlyStopping's restored weights are the best checkpoint's epoch (a damaged ``best.keras``
    is written again from them), so it breaks ties as the checkpoint does. A tie does not reset
    its patience: only an improvement of the metric does."""
    logs = [
        {"val_accuracy": 0.9, "val_loss": 0.5},
        {"val_accuracy": 1.0, "val_loss": 0.3},
        {"val_accuracy": 1.0, "val_loss": 0.2},
        {"val_accuracy": 1.0, "val_loss": 0.25},
    ]
    model = tiny_model()
    stopper = cb.ResumableEarlyStopping(tmp_path / "best.keras", monitor="val_accuracy", mode="max", patience=2, tie_break=tie_break)
    best = cb.BestCheckpoint(TrialCheckpoints(tmp_path), "val_accuracy", "max", tie_break)
    for c in (stopper, best):
        c.set_model(model)
        c.on_train_begin()
    weights_at = []
    for epoch, row in enumerate(logs):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])  # "training" for this epoch
        weights_at.append(model.get_weights())
        for c in (best, stopper):
            c.on_epoch_end(epoch, row)
    assert stopper.best_epoch == best.best_epoch == expected
    assert all(np.array_equal(a, b) for a, b in zip(stopper.best_weights, weights_at[expected]))
    assert stopper.model.stop_training  # epochs 2 and 3 tied epoch 1: two epochs without improvement
    assert stopper.get_state()["best_tie"] == (0.2 if tie_break else None)  # a resumed trial goes on comparing with it


def test_resumable_state_survives_a_new_fit(tmp_path) -> None:
    ckpt = TrialCheckpoints(tmp_path)
    model = tiny_model()
    history = cb.HistoryRecorder()
    best = cb.BestCheckpoint(ckpt, "val_loss", "min")
    stopper = cb.ResumableEarlyStopping(ckpt.best_path, monitor="val_loss", patience=5)
    plateau = cb.ResumableReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5, verbose=0)
    saver = cb.ResumeCheckpoint(ckpt, history, [best, stopper, plateau])
    fit(model, [history, best, stopper, plateau, saver], epochs=2)
    state = ckpt.load()
    assert state is not None and state.epochs_done == 2 and len(state.history) == 2
    assert set(state.callbacks) == {"best_checkpoint", "early_stopping", "reduce_lr_on_plateau"}

    # A new process: load the model, restore the callbacks, continue at epoch 2.
    model2 = keras.saving.load_model(state.model_path)
    history2 = cb.HistoryRecorder(state.history)
    best2 = cb.BestCheckpoint(ckpt, "val_loss", "min")
    stopper2 = cb.ResumableEarlyStopping(ckpt.best_path, monitor="val_loss", patience=5)
    for c in (best2, stopper2):
        c.set_state(state.callbacks[c.state_key])
    fit(model2, [history2, best2, stopper2], epochs=4, initial_epoch=state.epochs_done)
    assert [row["epoch"] for row in history2.history] == [1, 2, 3, 4]
    assert stopper2.best is not None and stopper2.best <= state.callbacks["early_stopping"]["best"]
    assert stopper2.best_weights is not None


def test_linked_resume_file_holds_the_rate_the_plateau_callback_just_set(tmp_path) -> None:
    """At epoch 1 val_loss improves (best.keras is rewritten and hard-linked as the resume file)
    while min_delta=10 makes it a plateau for ReduceLROnPlateau, which halves the rate at that
    same epoch end. The resume file must hold the halved rate."""
    ckpt = TrialCheckpoints(tmp_path)
    history = cb.HistoryRecorder()
    plateau = cb.ResumableReduceLROnPlateau(monitor="val_loss", patience=0, factor=0.5, min_delta=10.0, verbose=0)
    best = cb.BestCheckpoint(ckpt, "val_loss", "min")
    saver = cb.ResumeCheckpoint(ckpt, history, [plateau, best], best=best)
    model = tiny_model(0.08)
    fit(model, [history, plateau, best, saver], epochs=2)  # the trial runner's order
    assert history.history[1]["val_loss"] < history.history[0]["val_loss"]  # precondition: epoch 1 is a new best
    state = ckpt.load()
    assert best.saved_at(1) and state.model_path.samefile(ckpt.best_path)  # linked, not re-serialized
    assert float(model.optimizer.learning_rate) == pytest.approx(0.04)
    resumed = keras.saving.load_model(state.model_path)
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.04)


def csv_rows(path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def tensorboard_points(log_dir) -> dict[tuple[str, str], list[int]]:
    """``{(split, tag): [steps]}`` from the event files under ``log_dir``."""
    import tensorflow as tf

    points: dict[tuple[str, str], list[int]] = {}
    for events in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                points.setdefault((events.parent.name, value.tag), []).append(event.step)
    return points


def test_csv_and_tensorboard_logs_have_one_row_per_epoch_across_a_resume(tmp_path) -> None:
    """A kill after epoch 3 was written to the CSV and TensorBoard but before its resume
    checkpoint: the retry resumes after epoch 2, and the logs still have each epoch once."""
    model = tiny_model()
    history = cb.HistoryRecorder()
    csv_path, board = tmp_path / "history.csv", tmp_path / "tensorboard"
    extra = [cb.EpochTimer(), cb.LearningRateLogger(), history]
    fit(model, [*extra, cb.EpochCSVLogger(csv_path), cb.TensorBoardScalars(board)], epochs=3)
    assert [r["epoch"] for r in csv_rows(csv_path)] == ["1", "2", "3"]

    checkpointed = history.history[:2]  # the resume state had 2 epochs
    resumed = cb.HistoryRecorder(checkpointed)
    fit(model, [cb.EpochTimer(), cb.LearningRateLogger(), resumed, cb.EpochCSVLogger(csv_path, checkpointed), cb.TensorBoardScalars(board, checkpointed)], epochs=5, initial_epoch=2)
    rows = csv_rows(csv_path)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert list(rows[0]) == ["epoch", "accuracy", "epoch_seconds", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx([r["val_loss"] for r in resumed.history])

    points = tensorboard_points(board)
    assert points[("train", "epoch_loss")] == [1, 2, 3, 4, 5]
    assert points[("validation", "epoch_accuracy")] == [1, 2, 3, 4, 5]
    assert ("train", "epoch_learning_rate") in points and ("train", "epoch_epoch_seconds") in points


def test_the_csv_log_is_closed_when_fit_raises(tmp_path) -> None:
    """Keras closes CSVLogger's file only in on_train_end, which a raising fit skips; the runner
    closes it itself (no file handle left behind per failed trial)."""
    logger = cb.EpochCSVLogger(tmp_path / "history.csv")
    logger.close()  # before training: nothing open, nothing to do
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0})
    assert not logger.csv_file.closed
    logger.close()
    assert logger.csv_file.closed
    assert (tmp_path / "history.csv").read_text().splitlines()[1].startswith("1,")
