"""What ``pip install`` ships: every sub-package and the shipped studies."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_sub_package_is_listed_for_installation() -> None:
    """setuptools installs only the listed packages: a folder missing here works in a checkout
    (editable install) and is absent after a plain ``pip install``."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hpsearch").rglob("__init__.py")}
    assert on_disk | {"hpsearch.studies"} == listed
