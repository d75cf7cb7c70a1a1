"""A named choice with its builder (:class:`Option`), and a table of them (:class:`Catalog`).

A :class:`Catalog` reads like the plain ``{name: {knob: Knob}}`` table the study-file validator
needs, and also builds what a name stands for: ``OPTIMIZERS.build("sgd", knobs,
learning_rate=0.1)``. A builder is a callable, or a ``"module:attribute"`` path imported on first
use, so that importing the catalog never imports TensorFlow, Keras or Optuna (``hpsearch list``,
``show`` and the study-file validator read the catalog and must stay fast).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog._knob import Knob, param_name

__all__ = ["Option", "Catalog"]

#: What builds an option: a callable taking the catalog's context and the option's knobs as
#: keyword arguments, a ``"module:attribute"`` path to one, or ``None`` (the option builds nothing).
Builder = Callable[..., Any] | str | None


@dataclass(frozen=True, kw_only=True)
class Option:
    """One named choice of a catalog: a line for the user, its knobs, and what builds it."""

    doc: str
    knobs: Mapping[str, Knob] = field(default_factory=dict)
    build: Builder = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "knobs", MappingProxyType(dict(self.knobs)))
        if not self.doc:
            raise ValueError("every catalog option needs a `doc`, got an empty one")
        undocumented = [name for name, knob in self.knobs.items() if not knob.doc]
        if undocumented:
            raise ValueError(f"every knob needs a `doc`; missing for {', '.join(undocumented)}")
        if isinstance(self.build, str) and ":" not in self.build:
            raise ValueError(f"a builder path is 'module:attribute', got {self.build!r}")


def _resolve(path: str) -> Callable[..., Any]:
    module, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


class Catalog(Mapping[str, Mapping[str, Knob]]):
    """Read-only ``name -> {knob: Knob}`` table of the options of one kind, which also builds them.

    Args:
        kind: what the options are (``"optimizer"``), for messages.
        options: name -> :class:`Option`, in the order users see them.
        context: keyword arguments every builder of this kind takes besides its knobs
            (``("learning_rate",)`` for optimizers); :meth:`build` requires exactly these.
    """

    def __init__(self, kind: str, options: Mapping[str, Option], *, context: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.context = context
        self._options = dict(options)
        self._builders: dict[str, Callable[..., Any] | None] = {}
        for name, option in self._options.items():
            clash = set(option.knobs) & set(context)
            if clash:
                raise ValueError(f"{kind} {name!r}: knobs {sorted(clash)} clash with the build context {context}")

    def __getitem__(self, name: str) -> Mapping[str, Knob]:
        return self._options[name].knobs

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return f"Catalog({self.kind!r}, {list(self._options)})"

    def option(self, name: str) -> Option:
        """The option called ``name``; :class:`UsageError` naming the known ones if there is none."""
        try:
            return self._options[name]
        except (KeyError, TypeError):
            raise UsageError(
                f"Unknown {self.kind} {name!r}{did_you_mean(str(name), self)}; expected one of {', '.join(self)}."
            ) from None

    def builder(self, name: str) -> Callable[..., Any] | None:
        """What builds ``name`` (importing it on first use), or ``None`` if it builds nothing."""
        build = self.option(name).build
        if name not in self._builders:
            self._builders[name] = _resolve(build) if isinstance(build, str) else build
        return self._builders[name]

    def build(self, name: str, knobs: Mapping[str, Any] | None = None, **context: Any) -> Any:
        """Build option ``name`` from its knob values (missing ones take their default) and the
        catalog's ``context``. Options that build nothing return ``None``."""
        option = self.option(name)
        given = dict(knobs or {})
        unknown = sorted(set(given) - set(option.knobs))
        if unknown:
            raise UsageError(
                f"{self.kind} {name!r} has no option {unknown[0]!r}; its options are: {', '.join(option.knobs) or 'none'}."
            )
        if set(context) != set(self.context):
            raise TypeError(f"building a {self.kind} takes {self.context}, got {tuple(context)}")
        builder = self.builder(name)
        if builder is None:
            return None
        values = {knob: given.get(knob, spec.default) for knob, spec in option.knobs.items()}
        return builder(**context, **values)

    def knob_values(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The knobs of branch ``name`` read from flat trial params: ``{"momentum": params["sgd.momentum"], ...}``."""
        return {knob: params[param_name(name, knob)] for knob in self.option(name).knobs}
