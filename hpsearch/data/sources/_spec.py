"""What the user asked for: :class:`SourceSpec`, checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from hpsearch._dataset_kind import CHOICES, OPTIONS_BY_KIND
from hpsearch._errors import UsageError

if TYPE_CHECKING:
    from hpsearch.config import DataConfig

__all__ = ["SourceSpec", "OPTIONS_BY_KIND"]

COLOR_MODES = CHOICES["color_mode"]
LABEL_MODES = CHOICES["label_mode"]
IMPUTE = CHOICES["impute"]
TASK_CHOICES = CHOICES["task"]

@dataclass(frozen=True)
class SourceSpec:
    """What to read and how. Options a kind does not use must stay at their defaults.

    * ``dataset``: a Keras name, a folder, ``FILE.csv`` or ``FILE.npz``;
    * ``validation_fraction``: carved (seeded) from the training split; ``subset``: use only that
      many training examples (the first ones for arrays, a seeded stratified sample for folders);
    * folders: ``image_size`` (height, width; default: the images' own size when all agree),
      ``color_mode`` (``rgb`` | ``grayscale``; default: grayscale when every image is),
      ``test_fraction`` (carved when there is no ``test/`` sub-folder);
    * tables: ``target`` (default: the last column), ``task`` (``auto``: string or 0..K-1 integer
      targets are classes, other numbers regression), ``test`` (a test CSV; else ``test_fraction``
      is carved), ``impute`` (``mean`` | ``median``; categories get the most frequent value);
    * ``cifar100``: ``label_mode`` (``fine``: 100 classes | ``coarse``: 20).
    """

    dataset: str
    validation_fraction: float = 0.1
    subset: int | None = None
    test_fraction: float = 0.2
    target: str | None = None
    task: str = "auto"
    test: str | None = None
    impute: str | None = None
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    label_mode: str = "fine"

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise UsageError(f"dataset must be a name or a path, not {self.dataset!r}.")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise UsageError(f"{name} must be a number between 0 and 1 (exclusive), not {value!r}; e.g. 0.1.")
        if self.subset is not None and (isinstance(self.subset, bool) or not isinstance(self.subset, int) or self.subset < 2):
            raise UsageError(f"subset must be a whole number of at least 2 training examples, not {self.subset!r}.")
        _choice("task", self.task, TASK_CHOICES)
        _choice("label_mode", self.label_mode, LABEL_MODES)
        if self.color_mode is not None:
            _choice("color_mode", self.color_mode, COLOR_MODES)
        if self.impute is not None:
            _choice("impute", self.impute, IMPUTE)
        if self.image_size is not None:
            size = self.image_size
            if isinstance(size, int) and not isinstance(size, bool):
                size = (size, size)
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
            ):
                raise UsageError(f"image_size must be [height, width] in pixels (or one number for squares), not {self.image_size!r}; e.g. [150, 150].")
            object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))

    @classmethod
    def from_config(cls, data: DataConfig) -> SourceSpec:
        """The spec of a study's ``data`` section (its unset options take the defaults here)."""
        given = {f.name: getattr(data, f.name) for f in fields(cls) if getattr(data, f.name, None) is not None}
        return cls(**given)

    def changed_options(self) -> list[str]:
        """The kind-specific options set to something other than their default."""
        general = {"dataset", "validation_fraction", "subset"}
        return [f.name for f in fields(self) if f.name not in general and getattr(self, f.name) != f.default]

    def check_options_for(self, kind: str) -> None:
        """One line if an option is set that ``kind`` does not use."""
        allowed = OPTIONS_BY_KIND[kind]
        stray = [name for name in self.changed_options() if name not in allowed]
        if stray:
            users = sorted(k for k, opts in OPTIONS_BY_KIND.items() if stray[0] in opts)
            raise UsageError(
                f"{stray[0]} does not apply to --dataset {self.dataset} (a {kind} source); it is for "
                f"{' / '.join(users)} sources. Remove it."
            )


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{name} must be one of {' | '.join(allowed)}, not {value!r}.")
