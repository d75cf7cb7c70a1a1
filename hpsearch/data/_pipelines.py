"""``tf.data`` pipelines over a :class:`~hpsearch.data._types.Dataset` (imports TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.data._types import Dataset, FileSplit

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["Pipelines"]


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

    def _finish(self, ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
        tf = self._tf
        return (
            ds.batch(batch_size)
            .map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    def train(self, batch_size: int, seed: int) -> tf.data.Dataset:
        """Shuffled every epoch (seeded), batched, prefetched."""
        split = self.dataset.train
        if isinstance(split, FileSplit):
            return self._finish(split.elements(shuffle_seed=seed), batch_size)
        n = len(split)
        return self._finish(self._base["train"].shuffle(n, seed=seed, reshuffle_each_iteration=True), batch_size)

    def evaluation(self, split: str, batch_size: int) -> tf.data.Dataset:
        """``"validation"`` or ``"test"``, in order, batched."""
        data = getattr(self.dataset, split)
        if isinstance(data, FileSplit):
            return self._finish(data.elements(), batch_size)
        return self._finish(self._base[split], batch_size)

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.dataset.train) // batch_size)
