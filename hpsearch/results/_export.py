"""The best model: fetch its checkpoint, evaluate it on the test set, export and verify it
(``--retrained``: the model of the newest ``hpsearch retrain`` run instead).

Checkpoints are loaded with Keras safe mode (see :mod:`hpsearch.study._best_model`). Every
export is reloaded with its own runtime -- Keras, TensorFlow SavedModel, ONNX Runtime, the
TFLite interpreter -- and its predictions compared with the Keras model's on test images, so a
file that is written but wrong is caught here rather than in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.data._datasets import Pipelines
from hpsearch.study._best_model import evaluate, fetch_checkpoint, load_checkpoint, scratch_dir
from hpsearch.study._ranking import best_trial, first_value
from hpsearch.keys import TrialAttr, VersionTag

__all__ = [
    "FORMATS",
    "load_checkpoint",
    "evaluate",
    "fetch_checkpoint",
    "export_model",
    "predict_exported",
    "verify_export",
    "exportable",
    "export_best",
    "check_choice",
    "default_output",
    "ExportResult",
]

#: Export formats and the file/folder suffix each writes.
FORMATS = {"keras": ".keras", "saved_model": "", "onnx": ".onnx", "tflite": ".tflite"}

#: Largest difference :func:`verify_export` accepts between the exported model's outputs and the
#: Keras model's (max |exported - keras| over every output value of the checked test images).
TOLERANCE = 1e-4


def export_model(model: keras.Model, fmt: str, output: str | Path) -> Path:
    """Write ``model`` as ``fmt`` to ``output`` (a file, or a folder for saved_model)."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        model.save(output)
    elif fmt == "saved_model":
        model.export(str(output), format="tf_saved_model", verbose=False)
    elif fmt == "onnx":
        try:
            model.export(str(output), format="onnx", verbose=False)
        except ImportError as e:
            raise UsageError(f"ONNX export needs tf2onnx and onnx ({e}); pip install 'hpsearch[export]'.") from None
    else:
        model.export(str(output), format="litert", verbose=False)
    return output


def _tflite_interpreter(path: Path) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def predict_exported(path: str | Path, fmt: str, x: Any) -> np.ndarray:
    """Predictions of the exported artifact at ``path``, run by that format's own runtime. ``x``
    is an array, or raw table rows (a dict of columns; the keras format only)."""
    path = Path(path)
    if fmt == "keras":
        return np.asarray(load_checkpoint(path).predict(_inputs(x), verbose=0))
    x = np.asarray(x, dtype=np.float32)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return np.asarray(loaded.serve(tf.constant(x)))
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise UsageError(f"Verifying ONNX needs onnxruntime ({e}); pip install 'hpsearch[export]'.") from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    if fmt == "tflite":
        interp = _tflite_interpreter(path)
        inp = interp.get_input_details()[0]
        interp.resize_tensor_input(inp["index"], list(x.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return np.asarray(interp.get_tensor(interp.get_output_details()[0]["index"]))
    raise UsageError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")


@dataclass
class ExportResult:
    """Where an export went and how it checked out."""

    trial_number: int
    output: Path
    fmt: str
    test_metrics: dict[str, float]
    max_abs_diff: float
    checked_images: int
    checked_what: str = "images"  #: what was checked: ``images`` or ``rows``
    model_version: str | None = None
    model_uri: str | None = None  #: ``models:/<study>/<version>``, loadable with ``mlflow.pyfunc.load_model``
    retrained_run: str | None = None  #: ``--retrained``: the retrain run whose model was exported
    retrained_notes: list[str] = field(default_factory=list)  #: ``--retrained``: which run, when there were several; a newer best trial
    data_note: str | None = None  #: set when the data was not where / what the study was trained on
    objective: str | None = None  #: the study's objective (its metric is listed first)
    chosen: bool = False  #: the trial was picked with ``--trial`` (not the best)
    multi_objective: bool = False  #: the study has several objectives ("best" is by the first)
    notes: list[str] = field(default_factory=list)


def _inputs(x: Any) -> Any:
    """Model inputs as Keras takes them: float32 arrays; a dict of raw table columns as given."""
    return dict(x) if isinstance(x, dict) else np.asarray(x, dtype=np.float32)


def exportable(model: keras.Model, dataset: Any, fmt: str) -> keras.Model:
    """The model as it is exported: without its augmentation block (which acts only in training;
    see :func:`~hpsearch.models._augment.without_augmentation`); for a table, wrapped with its
    preprocessing so that it takes raw rows (:meth:`~hpsearch.data.sources.TableTransform.wrap`);
    images: as trained otherwise (it rescales itself)."""
    from hpsearch.models._augment import without_augmentation

    model = without_augmentation(model)
    if dataset.preprocessing is None:
        return model
    if fmt != "keras":
        raise UsageError(
            f"--format {fmt}: a model of a CSV table is exported with its preprocessing (raw rows in, strings one-hot "
            "encoded inside), which only the keras format carries; use --format keras."
        )
    return dataset.preprocessing.wrap(model)


def verify_export(model: keras.Model, path: Path, fmt: str, x: Any) -> float:
    """Max |exported - keras| over ``x``; raises if it exceeds :data:`TOLERANCE`."""
    expected = np.asarray(model.predict(_inputs(x), verbose=0))
    got = predict_exported(path, fmt, x)
    if got.shape != expected.shape:
        raise RuntimeFailure(f"Exported {fmt} model returns shape {got.shape}, Keras returns {expected.shape}.")
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= TOLERANCE:
        raise RuntimeFailure(f"Exported {fmt} model disagrees with Keras: max |diff| = {diff:.2e} > {TOLERANCE:.0e}.")
    return diff


def _describe(metrics: dict[str, float]) -> str:
    """``test accuracy 0.5000, test loss 1.2000``: each metric by its name, the loss last."""
    order = sorted(metrics, key=lambda name: name.endswith("_loss"))
    return ", ".join(f"{name.replace('_', ' ', 1)} {metrics[name]:.4f}" for name in order)


def chosen_trial(study: Any, number: int) -> Any:
    """Trial ``number`` of ``study`` when it finished with a model to export (complete or pruned).

    Raises:
        UsageError: no such trial, or one that did not finish (with the numbers that can be exported).
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    exportable = [t.number for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    found = next((t for t in trials if t.number == number), None)
    if found is None or found.number not in exportable:
        what = f"has no trial {number}" if found is None else f"trial {number} is {found.state.name}, with no model to export"
        shown = ", ".join(map(str, exportable[:20])) + (", ..." if len(exportable) > 20 else "")
        raise UsageError(
            f"--trial {number}: study {study.study_name!r} {what}; trials you can export: {shown or 'none yet'} "
            f"(see hpsearch show {study.study_name})."
        )
    return found


def check_choice(retrained: bool, trial: int | None) -> None:
    """``--retrained`` and ``--trial`` exclude each other (one line, exit 2)."""
    if retrained and trial is not None:
        raise UsageError(f"--retrained and --trial {trial} exclude each other: --retrained exports the newest retrain run; pass one of them.")


def _kfold_without_model(study: Any, number: int) -> str:
    name, best = study.study_name, best_trial(study)
    return (
        f"--trial {number}: study {name!r} is cross-validated (validation.folds), so its trials keep no model; only its best "
        f"trial ({best.number if best is not None else 'none yet'}) is trained into one when the study ends: export that one (hpsearch export {name})."
    )


def default_output(study_name: str, trial_number: int, fmt: str, *, retrained: bool = False) -> Path:
    """``exported/<study>/trial-<n>.<ext>`` (a folder ``trial-<n>_saved_model`` for SavedModel);
    ``retrained-trial-<n>...`` for the retrained model of trial n."""
    stem = Path("exported") / study_name / f"{'retrained-' if retrained else ''}trial-{trial_number}"
    return stem.with_name(stem.name + "_saved_model") if fmt == "saved_model" else stem.with_suffix(FORMATS[fmt])


def _retrained_source(study: Any, tracking: Any) -> tuple[int, str, list[str]]:
    """``(trial number, run id, notes)`` of the newest finished retrain run (``--retrained``)."""
    from hpsearch.tracking._retrain import newest_retrain_run

    name = study.study_name
    run, count = newest_retrain_run(tracking)
    if run is None or run.source_trial is None:
        unfinished = f" (its {count} retrain run(s) did not finish with a model)" if count else ""
        raise UsageError(f"Study {name!r} has no retrained model{unfinished}; run `hpsearch retrain {name}` first.")
    notes = [f"of {count} retrain runs, the newest that finished is exported (run {run.run_id})"] if count > 1 else []
    best = best_trial(study)
    if best is not None and best.number != run.source_trial:
        notes.append(
            f"the retrained model is trial {run.source_trial}'s; the best trial is now {best.number}: "
            f"`hpsearch retrain {name}` retrains it"
        )
    return run.source_trial, run.run_id, notes


def export_best(
    study: Any,
    tracking: Any,
    dataset: Any,
    *,
    fmt: str = "keras",
    output: str | Path | None = None,
    check_images: int = 64,
    retrained: bool = False,
    trial: int | None = None,
    kfold: bool = False,
) -> ExportResult:
    """Export the best trial's best checkpoint (``trial``: that trial's, e.g. one of a Pareto
    front): evaluate it on the test set, write ``fmt``, reload it with that format's runtime,
    compare predictions, and register the model in the Model Registry (as an MLflow model of the
    Keras flavour, the exported file attached). The best trial of a multi-objective study is the
    best by its first objective.

    ``retrained``: export the model of the newest finished ``hpsearch retrain`` run instead.
    ``kfold``: the study cross-validates, so only its best trial has a model (``trial`` another: one line)."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    check_choice(retrained, trial)
    source_notes: list[str] = []
    if retrained:
        number, run_id, source_notes = _retrained_source(study, tracking)
        value = None
    else:
        best = best_trial(study) if trial is None else chosen_trial(study, trial)
        if best is None:
            raise RuntimeFailure(
                f"Study {study.study_name!r} has no completed trial yet, so there is nothing to export; "
                f"run `hpsearch study {study.study_name}` first."
            )
        run_id, number, value = best.user_attrs.get(TrialAttr.MLFLOW_RUN_ID), best.number, first_value(best)
        if not run_id:
            raise RuntimeFailure(f"Trial {number} of study {study.study_name!r} has no MLflow run to export from.")
        if kfold and trial is not None and not tracking.has_model(run_id):
            raise UsageError(_kfold_without_model(study, number))
    out = Path(output) if output else default_output(study.study_name, number, fmt, retrained=retrained)
    with scratch_dir() as tmp:
        model = load_checkpoint(fetch_checkpoint(tracking, run_id, tmp))
    metrics = evaluate(model, Pipelines(dataset))
    trained, model = model, exportable(model, dataset, fmt)
    out = export_model(model, fmt, out)
    x = dataset.test_inputs(check_images)
    diff = verify_export(model, out, fmt, x)
    if dataset.preprocessing is None:  # the export predicts as the trained model does in inference mode (augmentation included)
        diff = max(diff, verify_export(trained, out, fmt, x))
    checked = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    result = ExportResult(
        chosen=trial is not None,
        multi_objective=len(study.directions) > 1,
        trial_number=number, output=out, fmt=fmt, test_metrics=metrics, max_abs_diff=diff, checked_images=checked,
        checked_what="rows" if isinstance(x, dict) else "images", retrained_run=run_id if retrained else None,
    )
    what = {VersionTag.RETRAINED_RUN: run_id} if retrained else {VersionTag.OBJECTIVE_VALUE: value}
    version, model_uri, source = tracking.register_model(
        out,
        model=model,
        example={k: v[:2] for k, v in x.items()} if isinstance(x, dict) else x[:2],
        fmt=fmt,
        tags={VersionTag.TRIAL: number, VersionTag.FORMAT: fmt, **what, **metrics, VersionTag.MAX_ABS_DIFF: diff},
        description=f"{'Retrained model of trial' if retrained else 'Trial'} {number} of study {study.study_name} ({fmt}); {_describe(metrics)}.",
    )
    result.model_version = version
    result.model_uri = model_uri
    result.notes.append(source)
    result.retrained_notes = source_notes
    return result
