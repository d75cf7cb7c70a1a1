"""Reading a study file's YAML: floats as people write them, duplicate keys refused, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hpsearch._errors import UsageError

__all__ = ["read_yaml"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 reads it as a string) and rejects
    duplicate keys (a silent last-one-wins is a classic way to run the wrong study)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (also on line {seen[key].start_mark.line + 1})", mark
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """The parsed YAML of a study file; an unreadable, binary or malformed file is a one-line UsageError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read the study file ({e.strerror}).") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: not a text file (byte 0x{e.object[e.start]:02x} at offset {e.start} is not UTF-8); "
            "a study file is YAML text, see studies/cifar10.yaml."
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.reader.ReaderError as e:  # a control character: binary data in a UTF-8 coat
        raise UsageError(
            f"{path}: not a text file (character #x{e.character:04x} at offset {e.position}); "
            "a study file is YAML text, see studies/cifar10.yaml."
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise UsageError(
            f"{path}: {where}invalid YAML: {problem}. Fix the syntax (indent with spaces, "
            "quote strings that contain ': ')."
        ) from None
