"""Finding study files: by path, in ./studies, or among the studies shipped in the package."""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.config._problems import show
from hpsearch.config._schema import StudyConfig, parse_study_dict
from hpsearch.config._yaml import read_yaml

__all__ = ["builtin_studies", "resolve_study_file", "load_study_config"]


def builtin_studies() -> dict[str, Path]:
    """Study definitions shipped inside the package, by name."""
    root = importlib.resources.files("hpsearch.studies")
    found = {}
    for entry in root.iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = Path(str(entry))
    return dict(sorted(found.items()))


def _not_a_file(name_or_path: str, path: Path) -> UsageError:
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        return UsageError(f"Study file {name_or_path!r} is a directory, not a YAML file{hint}; pass the path of a study file.")
    if path.exists():
        return UsageError(f"Study file {name_or_path!r} is not a regular file; pass the path of a YAML study file.")
    return UsageError(f"Study file {name_or_path!r} does not exist; check the path.")


def resolve_study_file(name_or_path: str) -> Path:
    """``NAME`` -> a path: as given, then ``studies/NAME.yaml``, then the built-in studies."""
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given
    if given.suffix in (".yaml", ".yml") or given.parent != Path("."):
        raise _not_a_file(name_or_path, given)
    local = Path("studies") / f"{name_or_path}.yaml"
    if local.is_file():
        return local
    builtin = builtin_studies()
    if name_or_path in builtin:
        return builtin[name_or_path]
    if given.is_dir():  # only now: a data folder named like a built-in study must not hide it
        raise _not_a_file(name_or_path, given)
    known = sorted({*builtin, *(p.stem for p in Path("studies").glob("*.yaml"))})
    raise UsageError(
        f"No study named {name_or_path!r}{did_you_mean(name_or_path, known)}: looked for the file "
        f"{name_or_path}, studies/{name_or_path}.yaml and the built-in studies "
        f"({', '.join(known) or 'none'})."
    )


def load_study_config(name_or_path: str, *, study_name: str | None = None) -> StudyConfig:
    """Find, read and validate a study file. The study is named ``study_name`` or the file's stem."""
    path = resolve_study_file(name_or_path)
    raw = read_yaml(path)
    name = path.stem if study_name is None else study_name  # an empty --study-name is an error, not "default"
    if not isinstance(raw, Mapping):
        raise UsageError(
            f"{path}: expected a mapping at the top level (dataset:, search_space:, ...), got {show(raw)}."
        )
    return parse_study_dict(raw, name=name, source=str(path), model_dir=path.resolve().parent)

