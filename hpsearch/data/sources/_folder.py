"""Image folders: ``DIR/<class>/*.{jpg,jpeg,png,bmp,gif}`` (as Kaggle's cats vs dogs), or
``DIR/train/<class>/``, ``DIR/test/<class>/`` (and optionally ``DIR/validation/<class>/``).

Loading lists the files and reads each once to check it (Pillow reads the header and verifies the
file; nothing is kept but its size and colour mode) and to compute the digest. Training streams
them (:class:`~hpsearch.data._types.FileSplit`): only paths and labels stay in memory.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch._errors import UsageError
from hpsearch.data._types import Dataset, FileSplit
from hpsearch.data.sources._common import carve, dataset_from_arrays, label_list
from hpsearch.data.sources._spec import SourceSpec

__all__ = ["load_image_folder", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_SPLITS = ("train", "validation", "test")
_log = logging.getLogger("hpsearch.data")


@dataclass
class _Scan:
    """What reading the files found (sizes as (height, width))."""

    root: Path
    sizes: Counter = field(default_factory=Counter)
    modes: set = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)  #: sha256 over (relative path, bytes) of readable files

    def check(self, path: Path) -> bool:
        """Read ``path`` once: hash it, verify it decodes; False (and remembered) if it does not."""
        from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib

        rel = path.relative_to(self.root).as_posix()
        try:
            blob = path.read_bytes()
            with Image.open(io.BytesIO(blob)) as image:
                width, height = image.size
                mode = image.mode
                image.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            _log.debug("unreadable image %s: %s", path, e)
            self.unreadable.append(rel)
            return False
        self.digest.update(rel.encode() + b"\0" + blob)
        self.sizes[(height, width)] += 1
        self.modes.add(mode)
        return True


def _class_folders(folder: Path, label: str) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"--dataset {label}: {folder} is not a folder; pass a folder with one sub-folder of images per class.")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    classes = sorted((p for p in entries if p.is_dir()), key=lambda p: p.name)
    if not entries:
        raise UsageError(f"--dataset {label}: {folder} is empty; put the images of each class in {folder}/<class name>/.")
    if not classes:
        raise UsageError(f"--dataset {label}: {folder} has no class sub-folders; put the images of each class in {folder}/<class name>/.")
    return classes


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith("."))


def _read_split(folder: Path, names: list[str], scan: _Scan, label: str) -> tuple[list[str], list[int]]:
    """Paths and labels of the readable images of each class folder under ``folder``."""
    classes = _class_folders(folder, label)
    unknown = [c.name for c in classes if c.name not in names]
    if unknown:
        raise UsageError(
            f"--dataset {label}: {folder} has class folder(s) {label_list(unknown)} that train/ lacks "
            f"(train has {label_list(names)}); every class needs training images."
        )
    paths: list[str] = []
    labels: list[int] = []
    for cls in classes:
        readable = [p for p in _images_in(cls) if scan.check(p)]
        if not readable:
            raise UsageError(
                f"--dataset {label}: class folder {cls} has no readable images ({', '.join(IMAGE_EXTENSIONS)}); "
                "add some or remove the folder."
            )
        paths += [str(p) for p in readable]
        labels += [names.index(cls.name)] * len(readable)
    return paths, labels


def _image_shape(scan: _Scan, spec: SourceSpec, label: str) -> tuple[tuple[int, int], int, bool]:
    """(image_size, channels, resize) from the spec or, by default, from the images themselves."""
    if spec.image_size is not None:
        size, resize = spec.image_size, set(scan.sizes) != {spec.image_size}
    elif len(scan.sizes) == 1:
        (size,), resize = scan.sizes.keys(), False
    else:
        common = ", ".join(f"{h}x{w} ({n} images)" for (h, w), n in scan.sizes.most_common(3))
        more = f" and {len(scan.sizes) - 3} more sizes" if len(scan.sizes) > 3 else ""
        raise UsageError(
            f"--dataset {label}: the images have different sizes (height x width: {common}{more}); set "
            "image_size: [height, width] to resize them all to one size."
        )
    mode = spec.color_mode or ("grayscale" if scan.modes <= _GRAY_MODES else "rgb")
    return size, 1 if mode == "grayscale" else 3, resize


def load_image_folder(spec: SourceSpec, *, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Scan the folder (checking every file), carve what is not given, return streamed splits."""
    root = Path(spec.dataset).expanduser().resolve()
    label = spec.dataset
    given = [s for s in _SPLITS if (root / s).is_dir()]
    split_layout = "train" in given and "test" in given
    scan = _Scan(root)
    if split_layout:
        names = [c.name for c in _class_folders(root / "train", label)]
        parts = {s: _read_split(root / s, names, scan, label) for s in given}
    else:
        names = [c.name for c in _class_folders(root, label)]
        parts = {"train": _read_split(root, names, scan, label)}
    if len(names) < 2:
        raise UsageError(f"--dataset {label}: only one class folder ({names[0]}); a classifier needs at least two classes.")
    size, channels, resize = _image_shape(scan, spec, label)

    def split(paths: list[str], labels: list[int] | np.ndarray) -> FileSplit:
        return FileSplit(tuple(paths), np.asarray(labels, np.int64), size, channels, resize)

    train = split(*parts["train"])
    source = {"kind": "folder", "path": str(root), "digest": "sha256:" + scan.digest.hexdigest()[:16]}
    if "test" in parts:
        test, source["test"] = split(*parts["test"]), "test/ folder"
    else:
        kept, held = carve(train.y, spec.test_fraction, seed, what="test_fraction", label=label)
        test = split([train.paths[i] for i in held], train.y[held])
        train = split([train.paths[i] for i in kept], train.y[kept])
        source["test"] = f"carved {spec.test_fraction} of each class (seed {seed})"
    validation = split(*parts["validation"]) if "validation" in parts else None
    source["validation"] = "validation/ folder" if validation is not None else f"carved {spec.validation_fraction} of each class (seed {seed})"
    source.update(image_size=list(size), color_mode="grayscale" if channels == 1 else "rgb", resized=resize, skipped=len(scan.unreadable))
    notes: tuple[str, ...] = ()
    if scan.unreadable:
        notes = (f"{label}: skipped {len(scan.unreadable)} unreadable file(s): {label_list(scan.unreadable, 3)}.",)
    return dataset_from_arrays(
        root.name,
        train,
        test,
        spec=spec,
        seed=seed,
        num_classes=len(names),
        input_scale=1.0 / 255.0,
        source=source,
        class_names=tuple(names),
        validation=validation,
        stratified=True,
        notes=notes,
    )
