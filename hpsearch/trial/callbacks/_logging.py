"""Per-epoch logs kept with the trial: a CSV file and TensorBoard scalars, one row or point per
epoch across resumed attempts."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = ["EpochCSVLogger", "TensorBoardScalars"]


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
