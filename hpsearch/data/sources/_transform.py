"""The preprocessing of a table, fitted on the training split, that travels with the model.

A :class:`TableTransform` turns raw rows (one value per column, as read from a CSV) into the float
feature matrix the model is trained on:

* number columns: missing values (NaN) get the fill value (``impute: mean | median`` of the
  training split), then ``(value - mean) / std`` with the training split's mean and std
  (std 0 counts as 1);
* string columns: one-hot over the training split's categories in sorted order; a category not
  seen in training is all zeros; a missing value gets the fill value (the most frequent training
  category) when imputing, else zeros.

It exists twice, giving the same numbers: :meth:`TableTransform.transform` (numpy, used to
train) and :meth:`TableTransform.keras_front` (Keras layers, saved inside an exported model by
:meth:`TableTransform.wrap`, so that the exported model takes raw rows: a dict with one ``(N, 1)``
input per feature column, float32 for numbers (NaN when missing), strings for categories).
:meth:`to_dict` is the stored, JSON-able form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Column", "TableTransform", "MISSING_TOKENS", "is_missing", "parse_number"]

#: Cells read as missing (compared case-insensitively, after stripping spaces).
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "?")


def is_missing(cell: object) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float):
        return bool(np.isnan(cell))
    return str(cell).strip().lower() in MISSING_TOKENS


def parse_number(cell: object) -> float | None:
    """The cell as a float, NaN when missing, ``None`` when it is not a number."""
    if is_missing(cell):
        return float("nan")
    try:
        value = float(str(cell).strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class Column:
    """One feature column: ``kind`` is ``number`` or ``category``; ``fill`` the imputed value."""

    name: str
    kind: str
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str, ...] = ()
    fill: float | str | None = None

    @property
    def width(self) -> int:
        return 1 if self.kind == "number" else len(self.categories)

    def feature_names(self) -> list[str]:
        return [self.name] if self.kind == "number" else [f"{self.name}={c}" for c in self.categories]

    def encode(self, cells: Sequence[object]) -> tuple[np.ndarray, list[str]]:
        """(N, width) float32 and the distinct unseen categories met."""
        if self.kind == "number":
            values = np.array([parse_number(c) for c in cells], dtype=np.float64)
            if self.fill is not None:
                values = np.where(np.isnan(values), float(self.fill), values)
            return ((values - self.mean) / self.std).astype(np.float32)[:, None], []
        index = {c: i for i, c in enumerate(self.categories)}
        out = np.zeros((len(cells), len(self.categories)), np.float32)
        unseen: set[str] = set()
        for row, cell in enumerate(cells):
            value = str(self.fill) if is_missing(cell) and self.fill is not None else str(cell).strip()
            if value in index:
                out[row, index[value]] = 1.0
            elif not is_missing(cell):
                unseen.add(value)
        return out, sorted(unseen)


@dataclass(frozen=True)
class TableTransform:
    """Raw table columns -> features; ``target`` and ``classes`` say how the target is encoded
    (``classes``: the class names in label order for classification; ``None`` for regression)."""

    columns: tuple[Column, ...]
    target: str
    task: str
    classes: tuple[str, ...] | None = None

    @property
    def feature_names(self) -> list[str]:
        return [name for col in self.columns for name in col.feature_names()]

    def transform(self, table: Mapping[str, Sequence[object]]) -> tuple[np.ndarray, dict[str, list[str]]]:
        """(N, F) float32 features of ``table`` (column name -> raw cells) and, per column, the
        categories not seen in training (encoded as zeros)."""
        parts, unseen = [], {}
        for col in self.columns:
            encoded, new = col.encode(table[col.name])
            parts.append(encoded)
            if new:
                unseen[col.name] = new
        n = len(next(iter(table.values()))) if table else 0
        return (np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.float32)), unseen

    def raw_inputs(self, table: Mapping[str, Sequence[object]]) -> dict[str, np.ndarray]:
        """Raw rows (column name -> cells, as read from a CSV) as the inputs of :meth:`wrap`'s model:
        ``(N, 1)`` float32 per number column (NaN when missing), ``(N, 1)`` strings per category column."""
        out: dict[str, np.ndarray] = {}
        for col in self.columns:
            cells = table[col.name]
            if col.kind == "number":
                out[col.name] = np.array([parse_number(c) for c in cells], np.float32).reshape(-1, 1)
            else:
                out[col.name] = np.array(["" if is_missing(c) else str(c).strip() for c in cells], dtype=object).reshape(-1, 1).astype(str)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "classes": list(self.classes) if self.classes is not None else None,
            "columns": [{**asdict(c), "categories": list(c.categories)} for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableTransform:
        columns = tuple(Column(**{**c, "categories": tuple(c.get("categories", ()))}) for c in data["columns"])
        classes = tuple(data["classes"]) if data.get("classes") is not None else None
        return cls(columns=columns, target=data["target"], task=data["task"], classes=classes)

    def keras_front(self) -> tuple[dict[str, Any], Any]:
        """Keras inputs (one per column) and the feature tensor made from them by layers that
        compute what :meth:`transform` computes."""
        import keras

        inputs: dict[str, Any] = {}
        parts = []
        for col in self.columns:
            if col.kind == "number":
                x = inputs[col.name] = keras.Input(shape=(1,), name=col.name, dtype="float32")
                if col.fill is not None:
                    x = keras.ops.where(keras.ops.isnan(x), float(col.fill), x)
                parts.append(keras.layers.Normalization(mean=[col.mean], variance=[col.std**2], name=f"{col.name}_standardize")(x))
                continue
            s = inputs[col.name] = keras.Input(shape=(1,), name=col.name, dtype="string")
            parts.append(self._one_hot(col, s))
        features = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
        return inputs, features

    @staticmethod
    def _one_hot(col: Column, s: Any) -> Any:
        """StringLookup (0: unseen) then a fixed embedding: row 0 and missing tokens -> zeros or
        the fill category, category k -> its one-hot row."""
        import keras

        spellings = dict.fromkeys(v for t in MISSING_TOKENS for v in (t, t.upper(), t.capitalize()))
        missing = [t for t in spellings if t not in col.categories]
        vocabulary = [*col.categories, *missing]
        table = np.zeros((len(vocabulary) + 1, len(col.categories)), np.float32)
        table[1 : len(col.categories) + 1] = np.eye(len(col.categories), dtype=np.float32)
        if col.fill is not None:
            table[len(col.categories) + 1 :, col.categories.index(str(col.fill))] = 1.0
        ids = keras.layers.StringLookup(vocabulary=vocabulary, name=f"{col.name}_lookup")(s)
        embedded = keras.layers.Embedding(
            len(vocabulary) + 1,
            len(col.categories),
            embeddings_initializer=keras.initializers.Constant(table),
            trainable=False,
            name=f"{col.name}_one_hot",
        )(ids)
        return keras.layers.Reshape((len(col.categories),), name=f"{col.name}_flat")(embedded)

    def wrap(self, model: Any) -> Any:
        """A model that takes raw rows (see the module docstring) and returns ``model``'s outputs."""
        import keras

        inputs, features = self.keras_front()
        return keras.Model(inputs, model(features), name=f"{model.name}_on_raw_rows")
