"""CSV tables: a header row, one example per row; a target column (default: the last).

Features are encoded by a :class:`~hpsearch.data.sources._transform.TableTransform` fitted on the
training split only (after the test and validation splits are carved), which is returned with the
dataset (``Dataset.preprocessing``) so an exported model can take raw rows.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.data._targets import are_class_ids, looks_like_quantity
from hpsearch.data._types import Dataset, Split
from hpsearch.data.sources._common import carve, dataset_from_arrays, label_list, subsample
from hpsearch.data.sources._spec import SourceSpec
from hpsearch.data.sources._transform import Column, TableTransform, is_missing, parse_number

__all__ = ["load_table", "read_csv"]

Table = dict[str, list[str]]


def read_csv(path: Path, flag: str = "--dataset") -> tuple[Table, bytes]:
    """Columns (header name -> cells) of a CSV with a header row, and its raw bytes."""
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file; pass a CSV table with a header row.")
    blob = path.read_bytes()
    try:
        rows = [r for r in csv.reader(blob.decode("utf-8-sig").splitlines()) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{path} is not a readable CSV ({type(e).__name__}: {e}); save it as UTF-8 CSV with a header row.") from None
    if not rows:
        raise UsageError(f"{path} is empty; it needs a header row and one row per example.")
    header = [h.strip() for h in rows[0]]
    dupes = sorted(n for n, k in Counter(header).items() if k > 1)
    if dupes or "" in header:
        raise UsageError(f"{path}: the header row must name every column once (repeated or empty: {label_list(dupes or [repr('')])}).")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}: row {number} has {len(row)} values but the header has {len(header)} columns; fix that row.")
    if len(rows) < 3:
        raise UsageError(f"{path} has {len(rows) - 1} data row(s); it needs at least 2 examples.")
    return {name: [r[i] for r in rows[1:]] for i, name in enumerate(header)}, blob


def _rows(table: Table, idx: np.ndarray) -> Table:
    return {k: [v[i] for i in idx] for k, v in table.items()}


def _target(spec: SourceSpec, train: Table, test: Table | None, label: str) -> str:
    names = list(train)
    target = spec.target if spec.target is not None else names[-1]
    if target not in train:
        raise UsageError(f"{label}: target column {target!r} is not in the table{did_you_mean(target, names)}; columns: {label_list(names, 12)}.")
    if test is not None and list(test) != names and sorted(test) != sorted(names):
        raise UsageError(f"--test {spec.test}: its columns ({label_list(list(test), 12)}) differ from {label}'s ({label_list(names, 12)}); they must be the same.")
    if len(names) < 2:
        raise UsageError(f"{label}: the table has only the target column {target!r}; it needs at least one feature column.")
    return target


def _encode_target(cells: list[str], task: str, target: str, label: str, classes: list[str] | None) -> tuple[np.ndarray, str, list[str] | None]:
    """Targets as labels or floats, the resolved task, and the class names (classification)."""
    empty = [i + 2 for i, c in enumerate(cells) if is_missing(c)]
    if empty:
        raise UsageError(f"{label}: target column {target!r} is empty in row(s) {label_list(empty)}; drop those rows (targets are never imputed).")
    numbers = [parse_number(c) for c in cells]
    numeric = all(v is not None for v in numbers)
    if task == "regression":
        if not numeric:
            bad = next(i for i, v in enumerate(numbers) if v is None)
            raise UsageError(f"{label}: target column {target!r} is not numeric ({cells[bad]!r} in row {bad + 2}); regression needs numbers (or set task: classification).")
        return np.array(numbers, np.float32), task, None
    if numeric and task == "auto" and any(v != round(v) for v in numbers):  # type: ignore[arg-type]
        return np.array(numbers, np.float32), "regression", None
    if classes is None:
        if numeric:
            ids = sorted({int(v) for v in numbers})  # type: ignore[arg-type]
            if not are_class_ids(np.array(ids)):
                if task == "auto" and looks_like_quantity(np.array(numbers)):  # too many values to be classes
                    return np.array(numbers, np.float32), "regression", None
                raise UsageError(
                    f"{label}: target column {target!r} has class ids {label_list(ids)}, but the ids of {len(ids)} classes "
                    f"must be 0..{len(ids) - 1}; renumber them, or set task: regression if {target!r} is a quantity."
                )
            classes = [str(i) for i in ids]
        else:
            classes = sorted({c.strip() for c in cells})
        if len(classes) < 2:
            raise UsageError(f"{label}: target column {target!r} has a single class ({classes[0]}); a classifier needs at least two.")
    key = [str(int(v)) for v in numbers] if numeric else [c.strip() for c in cells]  # type: ignore[arg-type]
    unknown = sorted(set(key) - set(classes))
    if unknown:
        raise UsageError(f"{label}: target column {target!r} has class(es) {label_list(unknown)} that the training rows lack; every class needs training rows.")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in key], np.int64), "classification", classes


def _fit(train: Table, splits: dict[str, Table], target: str, impute: str | None, label: str) -> TableTransform:
    """Column kinds and statistics from the training rows; one line for missing values."""
    features = [c for c in train if c != target]
    missing = {c: sum(is_missing(v) for s in splits.values() for v in s[c]) for c in features}
    missing = {c: n for c, n in missing.items() if n}
    if missing and impute is None:
        listed = ", ".join(f"{c} ({n})" for c, n in missing.items())
        raise UsageError(f"{label}: missing values in column(s) {listed}; fill them in the file or set impute: mean | median.")
    columns = []
    for name in features:
        values = [parse_number(v) for v in train[name]]
        if all(v is not None for v in values):
            known = np.array([v for v in values if not np.isnan(v)], np.float64)  # type: ignore[arg-type]
            if not len(known):
                raise UsageError(f"{label}: column {name!r} has no values in the training rows; drop it.")
            fill = None if impute is None else float(np.mean(known) if impute == "mean" else np.median(known))
            std = float(known.std()) or 1.0
            columns.append(Column(name, "number", mean=float(known.mean()), std=std, fill=fill))
        else:
            seen = Counter(v.strip() for v in train[name] if not is_missing(v))
            fill = seen.most_common(1)[0][0] if impute is not None and seen else None
            columns.append(Column(name, "category", categories=tuple(sorted(seen)), fill=fill))
    return TableTransform(columns=tuple(columns), target=target, task="classification")


def _check_numbers(transform: TableTransform, split: Table, label: str, what: str) -> None:
    for col in transform.columns:
        if col.kind == "number":
            bad = next((i for i, v in enumerate(split[col.name]) if parse_number(v) is None), None)
            if bad is not None:
                raise UsageError(f"{label}: column {col.name!r} is numeric in the training rows but has {split[col.name][bad]!r} in the {what} rows; fix that value.")


def load_table(spec: SourceSpec, *, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Read, carve (test unless ``spec.test``, then validation; seeded, stratified for classes), fit
    the transform on the training rows, encode every split."""
    path = Path(spec.dataset).expanduser().resolve()
    label = Path(spec.dataset).name
    table, blob = read_csv(path)
    test_table, test_blob = read_csv(Path(spec.test).expanduser().resolve(), "--test") if spec.test else (None, b"")
    target = _target(spec, table, test_table, label)
    y_all, task, classes = _encode_target(table[target], spec.task, target, label, None)
    if test_table is None:
        kept, held = carve(y_all if task == "classification" else len(y_all), spec.test_fraction, seed, what="test_fraction", label=label)
        test_table, table, test_how = _rows(table, held), _rows(table, kept), f"carved {spec.test_fraction} (seed {seed})"
    else:
        test_how = f"file {Path(spec.test).expanduser().resolve()}"  # type: ignore[arg-type]
    y_train, _, _ = _encode_target(table[target], task, target, label, classes)
    y_test, _, _ = _encode_target(test_table[target], task, target, f"--test {spec.test}" if spec.test else label, classes)
    pool = subsample(y_train, spec.subset, seed, label=label, stratified=False)
    table, y_train = _rows(table, pool), y_train[pool]
    kept, val = carve(y_train if task == "classification" else len(y_train), spec.validation_fraction, seed, what="validation_fraction", label=label)
    splits = {"training": _rows(table, kept), "validation": _rows(table, val), "test": test_table}
    transform = _fit(splits["training"], splits, target, spec.impute, label)
    transform = dataclasses.replace(transform, task=task, classes=tuple(classes) if classes else None)
    encoded, notes = {}, []
    for what, split in splits.items():
        _check_numbers(transform, split, label, what)
        encoded[what], unseen = transform.transform(split)
        if unseen:
            listed = "; ".join(f"{c}: {label_list(v, 3)}" for c, v in unseen.items())
            notes.append(f"{label}: {what} rows have categories not seen in training ({listed}); they are encoded as all zeros.")
    source = {
        "kind": "csv",
        "path": str(path),
        "digest": "sha256:" + hashlib.sha256(blob + b"\0" + test_blob).hexdigest()[:16],
        "target": target,
        "test": test_how,
        "validation": f"carved {spec.validation_fraction} (seed {seed})",
    }
    return dataset_from_arrays(
        label,
        Split(encoded["training"], y_train[kept]),
        Split(encoded["test"], y_test),
        spec=dataclasses.replace(spec, subset=None),
        seed=seed,
        num_classes=len(classes) if classes else 0,
        input_scale=1.0,
        source=source,
        task=task,
        class_names=tuple(classes) if classes else None,
        validation=Split(encoded["validation"], y_train[val]),
        preprocessing=transform,
        notes=tuple(notes),
        raw_test={k: v for k, v in test_table.items() if k != target},
    )
