"""The package's shape, as the README's Design section states it: one-way layers, one owner per concern.

Read from the source with :mod:`ast` (nothing is imported), so a violation names the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hpsearch"

#: bottom to top; a module may import its own layer and the ones before it, never one after it
LAYERS = ("base", "config", "space", "data", "tasks", "models", "tracking", "trial", "study", "results", "cli")
#: above every layer: the public API (lazy), the ``python -m hpsearch`` entry point, test helpers
TOP = {"hpsearch", "hpsearch.__main__", "hpsearch.testing"}
MAX_LINES = 400


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


MODULES = _modules()
NAMES = {name for name, _ in MODULES}


def _layer(module: str) -> str:
    """The layer of an ``hpsearch`` module: its sub-package, or ``base`` for the top-level private
    modules, ``keys`` and ``catalog`` (``top`` for the API and the helpers above every layer)."""
    if module in TOP or module.startswith("hpsearch.testing."):
        return "top"
    sub = module.split(".")[1]
    return sub if sub in LAYERS else "base"


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """``(line, imported hpsearch module)`` for every import in ``path``, also inside functions
    and ``if TYPE_CHECKING:`` blocks; ``from pkg import name`` counts as ``pkg.name`` when that is a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                yield node.lineno, full if full in NAMES else source


def _calls(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node.lineno, node.func.attr


def test_the_layers_cover_every_sub_package() -> None:
    subs = {name.split(".")[1] for name in NAMES if name.count(".") >= 1 and (PACKAGE / name.split(".")[1]).is_dir()}
    assert subs - {"catalog", "studies"} == set(LAYERS) - {"base"}


def _upward(modules: list[tuple[str, Path]]) -> list[str]:
    """``file:line: layer imports module (layer)`` for every import of a later layer or of ``top``."""
    wrong = []
    for module, path in modules:
        mine = _layer(module)
        if mine == "top":
            continue
        for line, imported in _imports(module, path):
            if not imported.startswith("hpsearch."):  # third-party, or `from hpsearch import __version__`
                continue
            theirs = _layer(imported)
            if theirs == "top" or LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"{path.name}:{line}: {mine} imports {imported} ({theirs})")
    return wrong


def test_imports_point_one_way_only() -> None:
    """base -> config -> space -> data -> tasks -> models -> tracking -> trial -> study -> results -> cli."""
    wrong = _upward(MODULES)
    assert not wrong, "\n".join(wrong)


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """Absolute, relative, function-level and type-only imports all count."""
    source = tmp_path / "_x.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from hpsearch.keys import State\n"  # base: fine
        "from ..space import _sample\n"  # space from data: fine
        "if TYPE_CHECKING:\n    from hpsearch.study._loop import run_worker\n"
        "def f():\n    from ..trial import _runner\n"
        "import hpsearch.testing\n"
    )
    wrong = _upward([("hpsearch.data._x", source)])
    assert sorted(w.split(": ", 1)[1] for w in wrong) == [
        "data imports hpsearch.study._loop (study)",
        "data imports hpsearch.testing (top)",
        "data imports hpsearch.trial._runner (trial)",
    ]


def test_only_the_root_module_is_imported_from_the_api_and_only_for_its_version() -> None:
    wrong = []
    for module, path in MODULES:
        if module in TOP:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "hpsearch" and not node.level:
                names = {alias.name for alias in node.names} - {"__version__"}
                wrong += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: hpsearch.{n}" for n in names if f"hpsearch.{n}" not in NAMES]
    assert not wrong, "\n".join(wrong)


def test_only_the_space_package_calls_suggest() -> None:
    """The search space is sampled in one place: ``space/_sample.py`` calls ``trial.suggest_*``."""
    callers = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for module, path in MODULES
        for line, attr in _calls(path)
        if attr.startswith("suggest_") and not module.startswith("hpsearch.space")
    }
    assert not callers
    assert any(attr.startswith("suggest_") for _, attr in _calls(PACKAGE / "space" / "_sample.py"))


def test_only_the_tracking_package_imports_mlflow() -> None:
    importers = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for module, path in MODULES
        for line, imported in _imports(module, path)
        if imported.split(".")[0] == "mlflow" and not module.startswith("hpsearch.tracking")
    }
    assert not importers
    assert any(imported.split(".")[0] == "mlflow" for _, imported in _imports("hpsearch.tracking._runs", PACKAGE / "tracking" / "_runs.py"))


@pytest.mark.parametrize("module, path", MODULES, ids=[name for name, _ in MODULES])
def test_no_module_is_over_400_lines(module: str, path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concern (the limit is {MAX_LINES})"
