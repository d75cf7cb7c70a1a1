"""The MLflow Model Registry: an exported best model becomes a registered, servable model.

Only ``hpsearch export`` comes here; the Keras flavour of MLflow is imported on first use.

A registered model carries the code it needs to load in a fresh process: the source file of every
module its saved Keras config names outside Keras and hpsearch (your builder's file, where its
custom layers are registered) goes to ``code/hpsearch_model_code/``, and the pyfunc flavour's
loader is :mod:`hpsearch.tracking._model_loader` (copied in as ``code/hpsearch_model_loader.py``),
which imports them before the Keras flavour deserialises the network.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException

from hpsearch.keys import VersionTag
from hpsearch.tracking import _model_loader

if TYPE_CHECKING:
    from hpsearch.tracking._tracking import StudyTracking

__all__ = ["register_model"]


def register_model(
    tracking: StudyTracking,
    local_path: str | Path,
    *,
    model: Any,
    example: Any,
    fmt: str,
    tags: Mapping[str, Any],
    description: str,
) -> tuple[str, str, str]:
    """Log an exported file to the parent run (``export/<fmt>/``), log ``model`` as an MLflow
    model (Keras flavour, with a signature and an input example, linked to the parent run) and
    register that model in the Model Registry under the study's name, so that
    ``mlflow.pyfunc.load_model("models:/<study>/<version>")`` and ``mlflow models serve`` work.

    Returns ``(version, model URI, URI of the exported file)``.
    """
    assert tracking.parent_run_id is not None
    local_path = Path(local_path)
    artifact_path = f"export/{fmt}"
    if local_path.is_dir():
        tracking.client.log_artifacts(tracking.parent_run_id, str(local_path), f"{artifact_path}/{local_path.name}")
    else:
        tracking.client.log_artifact(tracking.parent_run_id, str(local_path), artifact_path)
    exported = tracking.parent_artifact_uri(artifact_path, local_path.name)
    logged = _log_keras_model(tracking, model, example, tags=tags)
    try:
        tracking.client.create_registered_model(tracking.study_name, description=f"Best models of hpsearch study {tracking.study_name}")
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = tracking.client.create_model_version(
        tracking.study_name,
        # The logged model's own folder: a `models:/<id>` source would make the registry
        # resolve the id against the process-wide tracking URI instead of this store.
        source=logged.artifact_location,
        run_id=tracking.parent_run_id,
        tags={**{k: str(v) for k, v in tags.items()}, VersionTag.EXPORTED_FILE: exported},
        description=description,
        model_id=logged.model_id,
    )
    return str(version.version), f"models:/{tracking.study_name}/{version.version}", exported


def _log_keras_model(tracking: StudyTracking, model: Any, example: Any, *, tags: Mapping[str, Any]) -> Any:
    """Log ``model`` as an MLflow model of the Keras flavour (signature, input example) into
    the study's experiment, as an output of the parent run; returns the ``LoggedModel``.

    This is what ``mlflow.keras.log_model`` does, spelled out with the study's client:
    ``log_model`` writes to the process-wide tracking URI, and in MLflow 3.17 it fails with an
    input example (the Keras flavour writes the example before creating the model folder).
    """
    import mlflow.keras
    import numpy as np
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model, infer_signature

    assert tracking.parent_run_id is not None
    # Raw table rows (a model wrapped with its preprocessing) are a dict of columns; images an array.
    example = {k: np.asarray(v) for k, v in example.items()} if isinstance(example, Mapping) else np.asarray(example, dtype=np.float32)
    signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
    logged = tracking.client.create_logged_model(
        tracking.experiment_id, name=tracking.study_name, source_run_id=tracking.parent_run_id, tags={k: str(v) for k, v in tags.items()}
    )
    try:
        with tempfile.TemporaryDirectory(prefix="hpsearch-mlflow-model-") as tmp:
            meta = Model(
                artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=tracking.parent_run_id, model_id=logged.model_id
            )
            mlflow.keras.save_model(model, tmp, mlflow_model=meta, signature=signature, input_example=example, pip_requirements=_requirements())
            _ship_model_code(Path(tmp), meta)
            tracking.client.log_model_artifacts(logged.model_id, tmp)
    except BaseException:
        tracking.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    tracking.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    tracking.client.log_outputs(tracking.parent_run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return logged


def _requirements() -> list[str]:
    """What serving the model needs, stated rather than inferred: MLflow infers it by loading the
    model in a subprocess, which takes seconds and, when that load fails (hpsearch's own registered
    metrics and layers live in its package), prints a warning and falls back to Keras alone. (hpsearch itself is not on PyPI: a model
    compiled with hpsearch's metrics is served from an environment that has it, ``--env-manager local``.)"""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("keras", "tensorflow", "tensorflow-cpu"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out


# ----------------------------------------------------------------------------- the model's code

#: Packages Keras imports itself when it deserialises their objects: never shipped nor imported.
_KERAS_PACKAGES = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp", "tensorflow", "tf_keras"})
#: The pyfunc loader module, a copy of :mod:`hpsearch.tracking._model_loader` in the model's ``code/``.
LOADER_MODULE = "hpsearch_model_loader"


def recorded_modules(config: Any) -> set[str]:
    """Every module named by a serialised Keras object (``{"module": ..., "class_name": ...}``) in
    ``config``, a saved model's ``config.json``: layers, losses, metrics, schedules, functions."""
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("module"), str) and "class_name" in item:
                found.add(item["module"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def model_code(modules: Iterable[str]) -> dict[str, Path | None]:
    """What loading needs imported, by module name: its source file to ship with the model, or
    ``None`` for a module imported by its name where the model is loaded (hpsearch's own, or one
    installed in site-packages). Keras's packages and the standard library need neither."""
    out: dict[str, Path | None] = {}
    for name in sorted(modules):
        top = name.split(".", 1)[0]
        if top in _KERAS_PACKAGES or top in sys.stdlib_module_names:
            continue
        file = getattr(sys.modules.get(name), "__file__", None)
        installed = file is None or not {"site-packages", "dist-packages"}.isdisjoint(Path(file).parts)
        out[name] = None if top == "hpsearch" or installed else Path(file)
    return out


def _ship_model_code(folder: Path, meta: Any) -> None:
    """Put the code the Keras model saved in ``folder`` needs into ``folder/code`` and make
    :data:`LOADER_MODULE` its pyfunc loader (``meta`` is its ``MLmodel``, saved again)."""
    from mlflow.models.model import MLMODEL_FILE_NAME
    from mlflow.pyfunc import CODE, FLAVOR_NAME, MAIN

    (saved,) = folder.glob("data/**/*.keras")
    with zipfile.ZipFile(saved) as archive:
        config = json.loads(archive.read("config.json"))
    code = folder / "code" / _model_loader.CODE_DIR
    code.mkdir(parents=True)
    manifest: dict[str, str | None] = {}
    for name, source in model_code(recorded_modules(config)).items():
        if source is None:
            manifest[name] = None
            continue
        target = source.name if source.name not in manifest.values() else f"{name.replace('.', '_')}.py"
        shutil.copyfile(source, code / target)
        manifest[name] = target
    (code / _model_loader.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copyfile(_model_loader.__file__, folder / "code" / f"{LOADER_MODULE}.py")
    meta.flavors[FLAVOR_NAME].update({MAIN: LOADER_MODULE, CODE: "code"})
    meta.save(str(folder / MLMODEL_FILE_NAME))
