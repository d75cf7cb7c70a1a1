"""``tf.data`` pipelines over a :class:`~hpsearch.data._types.Dataset` (imports TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.data._types import Dataset, FileSplit

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["Pipelines", "Targets"]

#: How targets reach the loss: ``(labels, units)`` of a task's head (see
#: :data:`hpsearch.catalog._tasks.LABEL_ENCODINGS`); ``None``: as stored (class ids).
Targets = tuple[str, int] | None


def _encode(y: tf.Tensor, targets: Targets) -> tf.Tensor:
    """Targets as a head's loss needs them (the tf.data form of :func:`hpsearch.tasks.encode_labels`)."""
    import tensorflow as tf

    if targets is None:
        return y
    labels, units = targets
    if labels == "values":
        return tf.reshape(tf.cast(y, tf.float32), (-1, units))
    if labels == "ids":
        return y
    ids = tf.cast(tf.reshape(y, (-1,)), tf.int32)
    rows = tf.reshape(tf.cast(ids, tf.float32), (-1, 1)) if units == 1 else tf.one_hot(ids, units, dtype=tf.float32)
    return rows * 2.0 - 1.0 if labels == "signed" else rows


class Pipelines:
    """``tf.data`` pipelines over a :class:`Dataset`, built once per process.

    In-memory splits: the unbatched, cached base datasets are made once (copying the arrays into
    TensorFlow once, not once per trial); each trial only adds its own shuffle seed and batch size.
    Streamed splits (:class:`FileSplit`): file paths are shuffled and images decoded per batch;
    nothing is cached, so memory does not grow with the folder.
    """

    def __init__(self, dataset: Dataset) -> None:
        import tensorflow as tf

        self._tf = tf
        self.dataset = dataset
        self._base = {
            split: tf.data.Dataset.from_tensor_slices((getattr(dataset, split).x, getattr(dataset, split).y)).cache()
            for split in ("train", "validation", "test")
            if not isinstance(getattr(dataset, split), FileSplit)
        }

    def _finish(self, ds: tf.data.Dataset, batch_size: int, targets: Targets = None) -> tf.data.Dataset:
        tf = self._tf
        return (
            ds.batch(batch_size)
            .map(lambda x, y: (tf.cast(x, tf.float32), _encode(y, targets)), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    def train(self, batch_size: int, seed: int, targets: Targets = None) -> tf.data.Dataset:
        """Shuffled every epoch (seeded), batched, prefetched; targets encoded as ``targets`` says."""
        split = self.dataset.train
        if isinstance(split, FileSplit):
            return self._finish(split.elements(shuffle_seed=seed), batch_size, targets)
        n = len(split)
        return self._finish(self._base["train"].shuffle(n, seed=seed, reshuffle_each_iteration=True), batch_size, targets)

    def evaluation(self, split: str, batch_size: int, targets: Targets = None) -> tf.data.Dataset:
        """``"validation"`` or ``"test"``, in order, batched."""
        data = getattr(self.dataset, split)
        if isinstance(data, FileSplit):
            return self._finish(data.elements(), batch_size, targets)
        return self._finish(self._base[split], batch_size, targets)

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.dataset.train) // batch_size)
