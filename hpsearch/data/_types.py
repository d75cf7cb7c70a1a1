"""What a loaded dataset is: splits held in memory (:class:`Split`) or streamed from files
(:class:`FileSplit`), and the :class:`Dataset` that groups them with what was read.

Needs numpy only; :meth:`FileSplit.elements` and :meth:`FileSplit.head` import TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["Split", "FileSplit", "Dataset", "TASKS"]

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` (N, ...) as stored (uint8 or float) and targets ``y``: integer labels (N,) or
    float targets (N,) / (N, K) for regression. Held in memory."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one input, e.g. ``(32, 32, 3)`` or ``(F,)``."""
        return tuple(int(d) for d in self.x.shape[1:])

    def head(self, n: int) -> np.ndarray:
        """The first ``n`` inputs as an array (for checks such as an exported model's outputs)."""
        return self.x[:n]


@dataclass(frozen=True, eq=False)
class FileSplit:
    """Images streamed from disk: only the file ``paths`` and labels ``y`` live in memory; each
    image is read and decoded when its batch is built (see :meth:`elements`).

    ``image_size`` is (height, width); images of another size are resized when ``resize`` is true
    (otherwise every file is known to have that size). ``channels`` is 1 (grayscale) or 3 (rgb).
    """

    paths: tuple[str, ...]
    y: np.ndarray
    image_size: tuple[int, int]
    channels: int
    resize: bool = False

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (*self.image_size, self.channels)

    def elements(self, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """Unbatched ``(image, label)`` pairs. With ``shuffle_seed`` the file list is reshuffled
        every epoch (seeded) *before* decoding, so the shuffle buffer holds paths, not images."""
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((list(self.paths), self.y))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(self.paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        return ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE)

    def _decode(self, path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        # Decode as RGB (every format supports 3 channels), then convert: BMP cannot decode to 1.
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if self.channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        if self.resize:
            image = tf.image.resize(image, self.image_size)  # float32, still 0-255
        else:
            image.set_shape((*self.image_size, 3 if self.channels == 3 else 1))
        return image, label

    def head(self, n: int) -> np.ndarray:
        """The first ``n`` images, decoded, as one array."""
        batches = [x.numpy() for x, _ in FileSplit(self.paths[:n], self.y[:n], self.image_size, self.channels, self.resize).elements().batch(max(n, 1))]
        return batches[0] if batches else np.zeros((0, *self.sample_shape), np.uint8)


AnySplit = Split | FileSplit


@dataclass(frozen=True)
class Dataset:
    """A checked, split dataset ready for training."""

    name: str
    train: AnySplit
    validation: AnySplit
    test: AnySplit
    num_classes: int  #: 0 for regression
    input_scale: float  #: multiply stored pixels by this to get values in [0, 1] (1.0 for tables)
    class_names: tuple[str, ...] | None = None
    #: Where the data came from (recorded with the study, reused by ``export``): ``kind``
    #: (see :func:`hpsearch.data.sources.detect_kind`), ``path`` (the data directory, folder or
    #: file, absolute; ``None`` for the Keras download cache) and ``digest`` (of the data as loaded,
    #: before ``--subset``). Sources may add keys (``test``: how the test split was made, ...).
    source: dict[str, Any] | None = None
    task: str = "classification"  #: one of :data:`TASKS`
    #: For tables: the fitted :class:`~hpsearch.data.sources.TableTransform` (raw rows -> ``x``).
    preprocessing: Any = None
    #: Things the user should be told once (files skipped, unseen categories), one line each;
    #: loaders do not print or log them: the caller shows them.
    notes: tuple[str, ...] = field(default=())
    #: For tables: the test split's raw rows (column -> cells), what an exported model is checked on.
    raw_test: Any = field(default=None, repr=False)

    def test_inputs(self, n: int) -> Any:
        """The first ``n`` test inputs as the exported model takes them: raw rows (a dict of
        columns, see :meth:`TableTransform.raw_inputs`) for tables, else an array of images/rows."""
        if self.preprocessing is not None and self.raw_test is not None:
            return self.preprocessing.raw_inputs({k: v[:n] for k, v in self.raw_test.items()})
        return self.test.head(n)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.train.sample_shape

    @property
    def streamed(self) -> bool:
        """True when the images are read from disk batch by batch."""
        return isinstance(self.train, FileSplit)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the data a study trains on (stored with the study, checked on resume).

        Unchanged for classification (studies stored before regression existed still match)."""
        out: dict[str, Any] = {
            "dataset": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }
        if self.task != "classification":
            out["task"] = self.task
        return out

    def describe(self) -> dict[str, Any]:
        """What was read, for recording and showing: kind, location, task, shapes, class names,
        counts per split (and per class), the fingerprint and the digest."""
        source = dict(self.source or {})
        out: dict[str, Any] = {
            "kind": source.pop("kind", None),
            "location": source.pop("path", None),
            "digest": source.pop("digest", None),
            "task": self.task,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names) if self.class_names else None,
            "counts": {s: len(getattr(self, s)) for s in ("train", "validation", "test")},
            "streamed": self.streamed,
            "fingerprint": self.fingerprint(),
        }
        if self.task == "classification":
            out["per_class"] = {
                s: np.bincount(np.asarray(getattr(self, s).y, np.int64), minlength=self.num_classes).tolist()
                for s in ("train", "validation", "test")
            }
        if self.preprocessing is not None:
            out["preprocessing"] = self.preprocessing.to_dict()
        return {**out, **source, "notes": list(self.notes)}
