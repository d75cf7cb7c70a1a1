"""Small Keras callbacks, one concern each, used by the trial runner.

Order matters and is set by :mod:`hpsearch.trial._runner`: the callbacks that *add* to the epoch logs
(:class:`EpochTimer`, :class:`LearningRateLogger`) run before the ones that read them; the resume
checkpoint is written before metrics leave the process, so a killed trial never has a logged
epoch that its checkpoint lacks.

None of these raise to stop training: they set ``model.stop_training`` and record why, so
``on_train_end`` still runs (EarlyStopping restores the best weights) and the trial runner
decides the outcome after ``fit`` returns.

Epoch numbers that leave these callbacks (history rows, MLflow steps, Optuna steps) are 1-based,
as Keras prints them: epoch 1 is the first epoch. Keras hands callbacks a 0-based index; the
conversion happens here, once.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

from hpsearch.trial._checkpoints import RemoteSlots, TrialCheckpoints

__all__ = [
    "EpochTimer",
    "LearningRateLogger",
    "NaNGuard",
    "HistoryRecorder",
    "BestCheckpoint",
    "ResumableEarlyStopping",
    "ResumableReduceLROnPlateau",
    "ResumeCheckpoint",
    "RemoteResumeSync",
    "MetricsSink",
    "EpochCSVLogger",
    "TensorBoardScalars",
    "PruningReporter",
    "EpochHook",
    "monitored_value",
]


def monitored_value(logs: Mapping[str, Any], monitor: str) -> float | None:
    """``logs[monitor]`` as a float; a clear error listing what exists if it is missing."""
    if monitor not in logs:
        raise KeyError(f"Metric {monitor!r} is not in the epoch logs; available: {', '.join(sorted(logs)) or 'none'}.")
    value = logs[monitor]
    return None if value is None else float(value)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (training + validation wall time of the epoch) to the epoch logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class LearningRateLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` (the optimizer's current rate, schedules included) to the epoch logs."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and remembers where."""

    def __init__(self) -> None:
        super().__init__()
        self.diverged_at: tuple[int, int] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = (self._epoch, batch)
            self.model.stop_training = True


def _better(mode: str) -> Callable[[float, float | None], bool]:
    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', but got ({mode=}).")

    def better(value: float, best: float | None) -> bool:
        if math.isnan(value):
            return False
        return best is None or (value > best if mode == "max" else value < best)

    return better


class HistoryRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs (across resumed attempts) as plain floats with ``epoch`` (1-based)."""

    def __init__(self, history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.history: list[dict[str, float]] = list(history or [])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                row[key] = float(value)
        self.history.append(row)


class _Resumable:
    """Mixin for callbacks whose state must survive a killed process.

    ``get_state()`` returns the attributes in ``_state_attrs``; ``set_state()`` queues them to be
    re-applied right after ``on_train_begin`` (where Keras callbacks reset themselves).
    """

    state_key: str = ""
    _state_attrs: tuple[str, ...] = ()
    _pending: dict[str, Any] | None = None

    def get_state(self) -> dict[str, Any]:
        out = {}
        for name in self._state_attrs:
            value = getattr(self, name)
            out[name] = float(value) if isinstance(value, (np.floating, np.integer)) else value
        return out

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._pending = dict(state)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # type: ignore[misc]
        if self._pending:
            for name in self._state_attrs:
                if name in self._pending:
                    setattr(self, name, self._pending[name])
            self._after_restore()
        self._pending = None

    def _after_restore(self) -> None:
        pass


class BestCheckpoint(_Resumable, keras.callbacks.Callback):
    """Saves the model to the trial's ``best.keras`` whenever ``monitor`` improves (atomically)."""

    state_key = "best_checkpoint"
    _state_attrs = ("best", "best_epoch")

    def __init__(self, checkpoints: TrialCheckpoints, monitor: str, mode: str) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.monitor = monitor
        self._better = _better(mode)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = monitored_value(logs or {}, self.monitor)
        if value is not None and self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            self.checkpoints.save_best(self.model.save)

    def saved_at(self, epoch: int) -> bool:
        """Whether ``best.keras`` holds the model as it is at the end of ``epoch``."""
        return self.best_epoch == epoch


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """Keras EarlyStopping (restore best weights) that can continue after a resume.

    On resume its best weights come back from the trial's best checkpoint.
    """

    state_key = "early_stopping"
    _state_attrs = ("wait", "best", "best_epoch")

    def __init__(self, best_path: Path, **kwargs: Any) -> None:
        super().__init__(restore_best_weights=True, **kwargs)
        self._best_path = best_path

    def _after_restore(self) -> None:
        if self.best is not None and self._best_path.is_file():
            current = self.model.get_weights()
            try:
                self.model.load_weights(self._best_path)
                self.best_weights = self.model.get_weights()
            except Exception as e:  # noqa: BLE001 - a damaged best file must not fail the trial
                warnings.warn(f"Cannot restore the best weights from {self._best_path} ({e}); keeping the last ones.", stacklevel=2)
            self.model.set_weights(current)


class ResumableReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    """Keras ReduceLROnPlateau whose patience and cooldown counters survive a resume.

    (The reduced rate itself lives in the optimizer and is restored with the model.)
    """

    state_key = "reduce_lr_on_plateau"
    _state_attrs = ("wait", "best", "cooldown_counter")


class ResumeCheckpoint(keras.callbacks.Callback):
    """After every epoch, writes the full resume state: model, optimizer, history, callbacks."""

    def __init__(
        self,
        checkpoints: TrialCheckpoints,
        history: HistoryRecorder,
        stateful: list[_Resumable],
        best: BestCheckpoint | None = None,
    ) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.history = history
        self.stateful = stateful
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.checkpoints.save(
            self.model.save,
            epochs_done=epoch + 1,
            history=self.history.history,
            callbacks={cb.state_key: cb.get_state() for cb in self.stateful},
            # Exact only if nothing changes the weights or optimizer between the two saves of
            # one epoch: the trial runner puts ReduceLROnPlateau *before* BestCheckpoint.
            same_as_best=self.best is not None and self.best.saved_at(epoch),
        )


class RemoteResumeSync(keras.callbacks.Callback):
    """Copies each epoch's resume state to the trial's run on the tracking server, so a retry on
    another machine resumes from it. Runs after :class:`ResumeCheckpoint`."""

    def __init__(
        self,
        checkpoints: TrialCheckpoints,
        upload: Callable[[Path, str], None],
        best: BestCheckpoint,
        slots: RemoteSlots,
        staging: Path,
    ) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.upload = upload
        self.best = best
        self.slots = slots
        self.staging = staging

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        changed = self.best.saved_at(epoch)
        best_slot = self.slots.next_best() if changed else self.slots.best  # else: the one already there
        files = self.checkpoints.stage_remote(self.staging, self.slots.state_for(epoch), best_slot, include_best=changed)
        for path in files:  # resume.json last: it names only files that are complete on the server
            self.upload(path, "resume")


class MetricsSink(keras.callbacks.Callback):
    """Sends each epoch's metrics (the keys in ``keys`` that exist) to ``sink(epoch, metrics)``,
    ``epoch`` 1-based."""

    def __init__(self, sink: Callable[[int, dict[str, float]], None], keys: tuple[str, ...]) -> None:
        super().__init__()
        self.sink = sink
        self.keys = keys

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.sink(epoch + 1, {k: float(logs[k]) for k in self.keys if k in logs})


def _scalars(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k != "epoch" and np.ndim(v) == 0}


class EpochCSVLogger(keras.callbacks.CSVLogger):
    """Keras's ``CSVLogger``: one row per epoch, ``epoch`` 1-based (as Keras prints it).

    A resumed trial passes the history of its resume state: the file is rewritten from it first,
    so rows that a killed attempt wrote after its last checkpoint are not repeated, and the new
    epochs are appended. Place it after the callbacks that add to the logs.
    """

    def __init__(self, path: Path, history: list[dict[str, float]] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if history:
            rows = [_scalars(row) for row in history]
            with open(path, "w", newline="") as fh:  # what CSVLogger writes: epoch, then the keys sorted
                writer = csv.DictWriter(fh, fieldnames=["epoch", *sorted(rows[0])])
                writer.writeheader()
                writer.writerows({"epoch": i, **row} for i, row in enumerate(rows, start=1))
        else:
            path.unlink(missing_ok=True)
        super().__init__(str(path), append=bool(history))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch + 1, logs)

    def close(self) -> None:
        """Close the file even when ``fit`` raised (Keras closes it only in ``on_train_end``)."""
        handle = getattr(self, "csv_file", None)
        if handle is not None:
            handle.close()


class TensorBoardScalars(keras.callbacks.Callback):
    """Per-epoch scalars for TensorBoard: ``<log_dir>/train`` and ``<log_dir>/validation`` event
    files with ``epoch_<metric>`` at step = epoch (1-based), the layout Keras's ``TensorBoard``
    callback writes. Nothing else (no graph, histograms, images or profiling), and written with
    TensorFlow's own summary ops: Keras's callback needs the ``tensorboard`` package even to write.

    A resumed trial passes the history of its resume state: the folder is rewritten from it, so
    every epoch has exactly one point.
    """

    def __init__(self, log_dir: Path, history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}
        shutil.rmtree(self.log_dir, ignore_errors=True)
        for step, row in enumerate(history or [], start=1):
            self._write(step, _scalars(row))
        self.close()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._write(epoch + 1, _scalars(logs or {}))
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def _write(self, step: int, scalars: Mapping[str, float]) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"), data_class=summary_pb2.DATA_CLASS_SCALAR
        ).SerializeToString()
        for key, value in scalars.items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            if split not in self._writers:
                self._writers[split] = tf.summary.create_file_writer(str(self.log_dir / split))
            with self._writers[split].as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(value, tf.float32), step=step, metadata=meta)


class _Reporter(Protocol):
    def report(self, value: float, step: int) -> None: ...
    def should_prune(self) -> bool: ...


class PruningReporter(keras.callbacks.Callback):
    """Reports ``monitor`` to the Optuna trial each epoch (step = 1-based epoch); stops training
    when it should prune (``pruned_at``: that epoch)."""

    def __init__(self, trial: _Reporter, monitor: str) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = monitored_value(logs or {}, self.monitor)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True


class EpochHook(keras.callbacks.Callback):
    """Calls ``hook(epoch, logs)`` after each epoch (progress display)."""

    def __init__(self, hook: Callable[[int, Mapping[str, Any]], None]) -> None:
        super().__init__()
        self.hook = hook

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.hook(epoch, dict(logs or {}))
