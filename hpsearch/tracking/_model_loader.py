"""The pyfunc loader of the MLflow models hpsearch registers: imports the model's code, then loads it.

A network with custom layers (``@keras.saving.register_keras_serializable()`` in your builder's
file) only deserialises in a process where that file has been imported. :mod:`hpsearch.tracking._registry`
therefore ships the source file of every module the saved model names (``code/hpsearch_model_code/``,
listed in its ``modules.json``) and copies this file next to it as ``code/hpsearch_model_loader.py``,
the pyfunc flavour's loader module. ``mlflow.pyfunc.load_model`` (and ``mlflow models serve``) put
``code/`` on ``sys.path``, import this module and call :func:`_load_pyfunc`, which imports each
shipped module under the name Keras recorded for it before handing over to the Keras flavour.

This file is copied into every registered model, so it needs nothing but the standard library and
MLflow: no hpsearch (a model is served where hpsearch may not be installed).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

#: The folder under the model's ``code/`` that holds the shipped modules and their ``modules.json``.
CODE_DIR = "hpsearch_model_code"
MANIFEST = "modules.json"


def import_model_code(model_dir: str | Path) -> list[str]:
    """Import the modules the model at ``model_dir`` ships or names; returns their names.

    ``modules.json`` maps each module name Keras recorded to the file shipped for it, or to
    ``null`` for a module imported by its name (hpsearch's own losses, metrics and schedules, or an
    installed package's). A module already imported is left as it is; one named but not installed
    is skipped (Keras then says which class it cannot locate).
    """
    folder = Path(model_dir) / "code" / CODE_DIR
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return []
    imported = []
    for name, file in json.loads(manifest.read_text()).items():
        if name not in sys.modules:
            if file is None:
                try:
                    importlib.import_module(name)
                except ImportError:
                    continue
            else:
                _import_file(name, folder / file)
        imported.append(name)
    return imported


def _import_file(name: str, path: Path) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _load_pyfunc(path: str, model_config: Any = None) -> Any:
    """What ``mlflow.pyfunc.load_model`` calls: the model's code imported, then the Keras flavour's loader."""
    import mlflow.keras

    import_model_code(path)
    return mlflow.keras._load_pyfunc(path)
