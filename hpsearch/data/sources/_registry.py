"""The catalog of sources: one entry per kind, naming its loader next to its description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsearch.data._types import Dataset
from hpsearch.data.sources._folder import load_image_folder
from hpsearch.data.sources._keras import load_keras_dataset
from hpsearch.data.sources._kinds import KINDS, detect_kind
from hpsearch.data.sources._npz import load_npz_source
from hpsearch._errors import UsageError
from hpsearch.data.sources._spec import SourceSpec
from hpsearch.data.sources._table import load_table

__all__ = ["Source", "SOURCES", "load_source"]

Loader = Callable[..., Dataset]  # (spec, *, seed, data_dir) -> Dataset


@dataclass(frozen=True)
class Source:
    kind: str
    summary: str
    load: Loader


SOURCES: dict[str, Source] = {
    s.kind: s
    for s in (
        Source("cifar10", "CIFAR-10 by name: 60,000 32x32 colour images, 10 classes (Keras, or --data-dir with the files)", load_keras_dataset),
        Source("cifar100", "CIFAR-100 by name: 60,000 32x32 colour images, 100 fine or 20 coarse classes", load_keras_dataset),
        Source("mnist", "MNIST by name: 70,000 28x28 grayscale digits, 10 classes", load_keras_dataset),
        Source("fashion_mnist", "Fashion-MNIST by name: 70,000 28x28 grayscale clothes, 10 classes", load_keras_dataset),
        Source("folder", "a folder of images, one sub-folder per class (train/ test/ optional), streamed from disk", load_image_folder),
        Source("csv", "a CSV table with a header row; a target column; numbers standardized, strings one-hot", load_table),
        Source("npz", "an .npz with x_train, y_train, x_test, y_test (any input shape; class ids or float targets)", load_npz_source),
    )
}
assert tuple(SOURCES) == KINDS, "every kind detect_kind can return has exactly one catalog entry"


def load_source(spec: SourceSpec, *, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Detect the kind of ``spec.dataset``, refuse options that kind does not use, load it."""
    kind = detect_kind(spec.dataset)
    spec.check_options_for(kind)
    dataset = SOURCES[kind].load(spec, seed=seed, data_dir=data_dir)
    if spec.task != "auto" and dataset.task != spec.task:  # images come with class labels
        raise UsageError(
            f"task: {spec.task} contradicts the data: {spec.dataset} has {dataset.num_classes} classes of "
            f"{'images' if len(dataset.input_shape) == 3 else 'examples'}; leave task out or use task: {dataset.task}."
        )
    return dataset
