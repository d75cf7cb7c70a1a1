"""Thin click commands over the library (``hpsearch.cli:entry`` is the console script)."""

from hpsearch.cli._main import entry, main

__all__ = ["entry", "main"]
