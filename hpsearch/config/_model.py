"""``model:`` of a study file: a catalog family (``cifar_cnn``, ``cnn``) or a builder you write.

A builder is named ``path/to/file.py:function`` (a relative path is read from the study file's
folder) or ``package.module:function``. This module only reads the reference (no import, no
TensorFlow); :mod:`hpsearch.models._user` imports and checks the builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch._errors import UsageError

__all__ = ["BuilderRef", "parse_builder_ref", "is_builder_ref", "BUILDER_FORMS"]

#: The two ways to name a builder, for messages.
BUILDER_FORMS = "'path/to/file.py:function' (relative to the study file) or 'package.module:function'"


@dataclass(frozen=True)
class BuilderRef:
    """Where a model builder lives: a file (resolved against the study file's folder) or a module."""

    text: str  #: as the study file writes it
    function: str
    file: Path | None = None
    module: str | None = None

    @property
    def where(self) -> str:
        """The file's name or the module's, for messages."""
        return self.file.name if self.file is not None else str(self.module)


def is_builder_ref(model: str) -> bool:
    """Whether ``model`` names a builder (``file.py:function``, ``module:function``) rather than a family."""
    return ":" in model


def parse_builder_ref(text: Any, base_dir: Path) -> BuilderRef:
    """Read ``model:`` -- ``"blocks.py:build"`` (from ``base_dir``) or ``"my_pkg.models:build"``.

    Raises:
        UsageError: one line showing the text and the two forms.
    """
    if not isinstance(text, str) or ":" not in text:
        raise UsageError(f"model: expected {BUILDER_FORMS}, got {text!r}.")
    target, _, function = text.rpartition(":")
    if not function.isidentifier():
        raise UsageError(f"model {text!r}: {function!r} after the ':' is not a function name; expected {BUILDER_FORMS}.")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        return BuilderRef(text, function, file=path if path.is_absolute() else Path(base_dir) / path)
    if not target or not all(part.isidentifier() for part in target.split(".")):
        raise UsageError(f"model {text!r}: {target!r} is neither a .py file nor a module name; expected {BUILDER_FORMS}.")
    return BuilderRef(text, function, module=target)
