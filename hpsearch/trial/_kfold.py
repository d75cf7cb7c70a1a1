"""K-fold cross-validation of one trial (``validation: {folds: K}``).

The training data (training and validation splits pooled) is cut into K seeded folds, stratified
for classification; the same folds for every trial of a study. The K models train *epoch by
epoch in turn* -- epoch 1 of fold 0, 1, ..., K-1, then epoch 2 -- so that after every epoch the
mean over folds of every metric is known: that mean is the trial's history (logged under the
metric's own name), what pruning is told each epoch, what early stopping and the best epoch
follow. Each fold's own curves are logged as ``fold<k>/<metric>``, with the mean, once per epoch.

After each fold's epoch its model and a small state file (``kfold.json``: epochs and folds
done, the mean history, each fold's history, early-stopping counters) are written atomically,
so a killed trial resumes at the fold and epoch where it stopped.

The trial keeps no model: the study retrains its best trial on all training data for the best
epoch count (:func:`retrain_best`), evaluates that on the test set and stores it as the trial's
model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from hpsearch.config import StudyConfig
from hpsearch.data._folds import join, kfold
from hpsearch.data._pipelines import Pipelines
from hpsearch.data._types import Dataset
from hpsearch.keys import State, TrialAttr
from hpsearch.trial import callbacks as cb
from hpsearch.trial._checkpoints import atomic_write
from hpsearch.trial._outcome import TrialOutcome
from hpsearch.trial.callbacks._monitor import better, better_or_tied, tie_value

if TYPE_CHECKING:
    import optuna

    from hpsearch.trial._checkpoints import TrialCheckpoints

__all__ = ["STATE_FILE", "fold_datasets", "all_training_data", "KFoldState", "run_folds", "fold_metric", "retrain_on_all"]

STATE_FILE = "kfold.json"

#: ``build(fold) -> compiled model`` and ``fit(model, fold, epoch) -> that epoch's logs``.
Build = Callable[[int], keras.Model]


def fold_metric(fold: int, key: str) -> str:
    """The MLflow name of fold ``fold``'s ``key`` (0-based fold): ``fold0/val_mae``."""
    return f"fold{fold}/{key}"


def fold_datasets(dataset: Dataset, k: int, *, seed: int) -> list[Dataset]:
    """The K datasets of the folds: training and validation splits pooled, then cut in K."""
    pooled = join(dataset.train, dataset.validation)
    stratified = dataset.task == "classification"
    return [dataclasses.replace(dataset, train=f.train, validation=f.validation) for f in kfold(pooled, k, seed=seed, stratified=stratified)]


def all_training_data(dataset: Dataset) -> Dataset:
    """The dataset with its training and validation splits pooled for training (the best trial's retraining)."""
    return dataclasses.replace(dataset, train=join(dataset.train, dataset.validation))


@dataclasses.dataclass
class KFoldState:
    """Where a K-fold trial is: ``epochs_done`` whole epochs (every fold), then ``folds_done``
    folds of the next one. ``models[k]`` is fold k's latest model file (in the trial's folder)."""

    k: int
    epochs_done: int = 0
    folds_done: int = 0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)  #: mean rows, 1-based ``epoch``
    folds: list[list[dict[str, float]]] = dataclasses.field(default_factory=list)  #: each fold's rows
    models: list[str | None] = dataclasses.field(default_factory=list)
    best: float | None = None
    best_epoch: int | None = None  #: 1-based
    best_tie: float | None = None  #: the tie-breaker's mean at the best epoch
    wait: int = 0

    def __post_init__(self) -> None:
        self.folds = self.folds or [[] for _ in range(self.k)]
        self.models = self.models or [None] * self.k

    @classmethod
    def load(cls, directory: Path, k: int) -> KFoldState | None:
        path = directory / STATE_FILE
        try:
            raw = json.loads(path.read_text())
            state = cls(**raw)
        except (OSError, ValueError, TypeError):
            return None
        if state.k != k or any(m is not None and not (directory / m).is_file() for m in state.models):
            return None
        return state

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / STATE_FILE, lambda p: p.write_text(json.dumps(dataclasses.asdict(self))))
        keep = {STATE_FILE, *(m for m in self.models if m)}
        for stale in directory.glob("fold*.keras"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)


def _mean_row(epoch: int, rows: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "epoch" and all(k in r for r in rows)]
    row = {"epoch": float(epoch), **{k: float(np.mean([r[k] for r in rows])) for k in keys}}
    if "epoch_seconds" in row:
        row["epoch_seconds"] = float(sum(r["epoch_seconds"] for r in rows))  # the wall time of the epoch, all folds
    return row


def _fit_epoch(model: keras.Model, pipes: Pipelines, epoch: int, *, batch_size: int, seed: int, targets: Any) -> tuple[dict[str, float], bool]:
    """One epoch of one fold: its logs and whether the loss diverged."""
    guard = cb.NaNGuard()
    recorder = cb.HistoryRecorder()
    model.fit(
        pipes.train(batch_size, seed=seed, targets=targets),
        validation_data=pipes.evaluation("validation", batch_size, targets=targets),
        epochs=epoch + 1,
        initial_epoch=epoch,
        callbacks=[cb.EpochTimer(), cb.LearningRateLogger(), guard, recorder],
        verbose=0,
        shuffle=False,
    )
    row = recorder.history[-1] if recorder.history else {"epoch": epoch + 1}
    return row, guard.diverged_at is not None


def run_folds(
    *,
    trial: optuna.Trial,
    outcome: TrialOutcome,
    ckpt: TrialCheckpoints,
    folds: list[Pipelines],
    build: Build,
    state: KFoldState,
    monitor: str,
    direction: str,
    tie_break: str | None = None,
    max_epochs: int,
    patience: int | None,
    batch_size: int,
    seed: int,
    targets: Any,
    log: Callable[[int, Mapping[str, float]], None],
    on_epoch: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> None:
    """Train the folds from ``state`` on; fill ``outcome`` (state, value, history, best epoch).

    The best epoch is the best mean ``monitor``; equal means go to the lower mean ``tie_break``
    (as a single model's best checkpoint). Only an improvement resets the patience count.
    """
    k = len(folds)
    mode = "max" if direction == "maximize" else "min"
    improves, is_best = better(mode), better_or_tied(mode)
    models: list[keras.Model | None] = [
        keras.saving.load_model(ckpt.directory / m, safe_mode=True) if m else None for m in state.models
    ]
    ckpt.directory.mkdir(parents=True, exist_ok=True)
    stopped = False
    while state.epochs_done < max_epochs and not stopped:
        epoch = state.epochs_done  # 0-based, as Keras counts
        for fold in range(state.folds_done, k):
            model = models[fold] if models[fold] is not None else build(fold)
            models[fold] = model
            row, diverged = _fit_epoch(model, folds[fold], epoch, batch_size=batch_size, seed=seed * 1000 + fold * 100 + epoch, targets=targets)
            if diverged:
                outcome.state = State.FAIL
                outcome.reason = f"diverged: loss became NaN or infinite in fold {fold} at epoch {epoch + 1}"
                _finish(outcome, state)
                return
            name = f"fold{fold}-e{epoch + 1}.keras"
            atomic_write(ckpt.directory / name, model.save, suffix=".keras")
            state.models[fold] = name
            state.folds[fold].append(row)
            state.folds_done = fold + 1
            state.save(ckpt.directory)
        mean = _mean_row(epoch + 1, [state.folds[f][epoch] for f in range(k)])
        state.history.append(mean)
        state.epochs_done, state.folds_done = epoch + 1, 0
        value = cb.monitored_value(mean, monitor)
        tie = tie_value(mean, tie_break)
        state.wait = 0 if value is not None and improves(value, state.best) else state.wait + 1
        if value is not None and is_best(value, tie, state.best, state.best_tie):
            state.best, state.best_epoch, state.best_tie = value, epoch + 1, tie
        state.save(ckpt.directory)
        # One write per epoch: the folds' curves with their mean (a fold done before a kill is
        # logged once, by the attempt that finishes its epoch).
        folds_logs = {fold_metric(f, key): v for f in range(k) for key, v in state.folds[f][epoch].items() if key != "epoch"}
        log(epoch + 1, {**folds_logs, **{key: v for key, v in mean.items() if key != "epoch"}})
        if on_epoch is not None:
            on_epoch(epoch, mean)
        if value is not None and math.isfinite(value):
            trial.report(value, step=epoch + 1)
            if trial.should_prune():
                outcome.state = State.PRUNED
                _finish(outcome, state)
                return
        stopped = patience is not None and state.wait >= patience  # as Keras's EarlyStopping
    outcome.state = State.COMPLETE if state.best is not None else State.FAIL
    if state.best is None:
        outcome.reason = f"no finite {monitor} was produced in {state.epochs_done} epochs"
    _finish(outcome, state)
    if state.best_epoch is not None:
        values = [row[monitor] for f in state.folds for row in f if int(row["epoch"]) == state.best_epoch and monitor in row]
        trial.set_user_attr(TrialAttr.FOLD_VALUES, [float(v) for v in values])
        trial.set_user_attr(TrialAttr.FOLD_STD, float(np.std(values)))


def _finish(outcome: TrialOutcome, state: KFoldState) -> None:
    outcome.history = state.history
    outcome.epochs_trained = state.epochs_done
    outcome.best_epoch = state.best_epoch
    outcome.value = state.best if outcome.state != State.FAIL else None


def retrain_on_all(config: StudyConfig, dataset: Dataset, params: Mapping[str, Any], epochs: int, *, seed: int) -> keras.Model:
    """The model of ``params`` trained on all training data (training and validation splits
    pooled) for ``epochs`` epochs -- the best epoch count the folds chose. What a K-fold study
    tests and exports for its best trial (see :func:`hpsearch.trial._retrain.fit_on_all`)."""
    from hpsearch.trial._retrain import fit_on_all

    return fit_on_all(config, dataset, params, epochs=epochs, seed=seed).model
