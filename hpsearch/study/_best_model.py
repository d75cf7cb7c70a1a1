"""The best trial's model: fetch its checkpoint from MLflow, load it safely, evaluate it.

Used by the study when it closes its books (test metrics of the best trial) and by ``export``.
Checkpoints are loaded with Keras safe mode (no arbitrary code from a ``.keras`` file).
TensorFlow is imported when a function runs, not with this module.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch._errors import RuntimeFailure

if TYPE_CHECKING:
    import keras

    from hpsearch.data._datasets import Pipelines

__all__ = ["load_checkpoint", "evaluate", "fetch_checkpoint", "scratch_dir"]


def load_checkpoint(path: str | Path) -> keras.Model:
    """Load a ``.keras`` checkpoint in safe mode."""
    import keras

    import hpsearch.models._compile  # noqa: F401 - registers hpsearch's losses and metrics
    import hpsearch.models._schedules  # noqa: F401 - registers custom schedules for deserialization

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - corrupt zip, unknown layer, unsafe lambda...
        text = " ".join(f"{type(e).__name__}: {e}".split())
        unknown = re.search(r"Could not locate (class|function) '([^']+)'", text)
        if unknown:
            raise RuntimeFailure(
                f"Cannot load checkpoint {path}: Keras does not know its {unknown[1]} {unknown[2]!r}. A custom layer "
                "loads only where it is registered: decorate it with @keras.saving.register_keras_serializable() "
                "in your builder's file and import that file before loading (hpsearch imports a study's builder "
                "itself; the file must still define the layer)."
            ) from None
        raise RuntimeFailure(f"Cannot load checkpoint {path} ({text[:400]}).") from None


def _flat(results: Mapping[str, Any]) -> dict[str, float]:
    """Keras's ``evaluate`` results with nested metric groups flattened into their own names."""
    out: dict[str, float] = {}
    for name, value in results.items():
        if isinstance(value, Mapping):
            out.update(_flat(value))
        else:
            out[name] = float(value)
    return out


def evaluate(model: keras.Model, pipelines: Pipelines, split: str = "test", batch_size: int = 256) -> dict[str, float]:
    """``{"<split>_<metric>": value}`` of ``model`` on ``split``, each metric under the name Keras
    gives it: ``test_loss``, ``test_accuracy`` for a model compiled with ``accuracy``, ``test_mae``
    for one compiled with ``mae``. Targets are encoded as the model's loss needs them."""
    from hpsearch.models._compile import targets_of

    results = model.evaluate(pipelines.evaluation(split, batch_size, targets=targets_of(model)), verbose=0, return_dict=True)
    return {f"{split}_{name}": value for name, value in _flat(results).items()}


def fetch_checkpoint(tracking: Any, run_id: str, dst_dir: str | Path) -> Path:
    """Download ``model/best.keras`` of trial run ``run_id`` into ``dst_dir``."""
    try:
        return tracking.download(run_id, "model/best.keras", dst_dir)
    except Exception as e:  # noqa: BLE001 - missing artifact, unreachable store
        raise RuntimeFailure(
            f"The best checkpoint of MLflow run {run_id} is not available ({type(e).__name__}: {e}); "
            "check --tracking-uri points at the study's tracking store."
        ) from None


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A temporary folder for a downloaded checkpoint (deleted on exit)."""
    return tempfile.TemporaryDirectory(prefix="hpsearch-export-")
