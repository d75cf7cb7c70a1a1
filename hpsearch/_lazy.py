"""Lazy public names for a package's ``__init__``: each is imported from its module on first use,
so importing the package stays cheap (no TensorFlow, no MLflow until a name needs them)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of the package whose globals are ``namespace``.

    ``where`` maps each public name to the module defining it (absolute, or relative to the
    package: ``"._uris"``); ``namespace["__all__"]`` must list exactly those names.
    """
    package = namespace["__name__"]
    if set(namespace["__all__"]) != set(where):
        raise ValueError(f"`__all__` and the lazy names of {package} differ: {sorted(set(namespace['__all__']) ^ set(where))}.")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later lookups do not come back here
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return __getattr__, __dir__
