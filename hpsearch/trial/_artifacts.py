"""After ``fit``: make sure the best checkpoint loads, then store the trial's files in its run.

A file counts as stored once the artifact store lists it; what did not arrive stays in the
checkpoint folder, marked pending, and the next run of the study uploads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

import hpsearch.models._compile  # noqa: F401 - registers hpsearch's losses and metrics
from hpsearch.tracking import TrialRun
from hpsearch.trial._assemble import BOARD_LOG, CSV_LOG, TrialCallbacks
from hpsearch.trial._checkpoints import TrialCheckpoints
from hpsearch.trial._outcome import TrialOutcome, reason_of
from hpsearch.trial._plots import learning_curve_png
from hpsearch.keys import objective_column, State, Tag
from hpsearch.tasks import metric_base

__all__ = ["verify_best_checkpoint", "store_artifacts"]


def load_problem(path: Path) -> str | None:
    """Why the model file at ``path`` does not load (safe mode), or ``None`` if it does."""
    try:
        keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 - truncated zip, random bytes, bad weights...
        return reason_of(e)
    return None


def _tag(run: TrialRun, tags: Mapping[str, Any]) -> None:
    """Set tags on ``run``, best effort: a note about artifacts never fails the trial."""
    try:
        run.set_tags(tags)
    except Exception:  # noqa: BLE001 - the tracking store is unreachable; the outcome stands
        pass


def verify_best_checkpoint(
    outcome: TrialOutcome, ckpt: TrialCheckpoints, model: keras.Model, callbacks: TrialCallbacks, say: Callable[[str], None]
) -> None:
    """Make sure the best checkpoint loads before it is stored as the trial's model.

    A damaged one is written again from the best epoch's weights if this process still has
    them; otherwise it is not stored (``model_error``) and a COMPLETE trial fails with why.
    """
    if not ckpt.best_path.is_file():
        return
    problem = load_problem(ckpt.best_path)
    if problem is None:
        return
    weights = _best_weights(outcome, model, callbacks)
    if weights is not None:
        model.set_weights(weights)
        ckpt.save_best(model.save)
        if load_problem(ckpt.best_path) is None:
            say(
                f"trial {outcome.number}: its best checkpoint {ckpt.best_path} did not load ({problem}); "
                f"saved it again from the weights of epoch {outcome.best_epoch} kept in memory"
            )
            return
    outcome.model_error = f"best checkpoint {ckpt.best_path} does not load ({problem})"
    if outcome.state == State.COMPLETE:
        outcome.state, outcome.value = State.FAIL, None
        outcome.reason = f"{outcome.model_error}; no usable model of its best epoch {outcome.best_epoch} is left"


def _best_weights(outcome: TrialOutcome, model: keras.Model, callbacks: TrialCallbacks) -> list[Any] | None:
    """The best epoch's weights if this process has them: EarlyStopping's copy, or the model
    itself when the best epoch is the last one it trained."""
    best, stopper = callbacks.best, callbacks.stopper
    if best.best_epoch is None:
        return None
    if stopper is not None:
        same = stopper.best_weights is not None and stopper.best_epoch == best.best_epoch
        return stopper.best_weights if same else None
    trained_here = outcome.epochs_trained > outcome.resumed_from_epoch
    last = int(outcome.history[-1]["epoch"]) if outcome.history else None
    return model.get_weights() if trained_here and last == best.best_epoch + 1 else None


def store_artifacts(
    outcome: TrialOutcome, *, study_name: str, metric: str, metrics: Sequence[str] = ("accuracy",), say: Callable[[str], None]
) -> None:
    """Store the learning curve, the epoch logs and the (verified) best checkpoint in the trial's run."""
    run = outcome.run
    ckpt = outcome.checkpoints
    assert run is not None and ckpt is not None
    files: list[tuple[Path, str]] = []
    try:
        if outcome.history and ckpt.directory.is_dir():
            png = learning_curve_png(
                outcome.history,
                ckpt.directory / "learning_curve.png",
                title=f"{study_name} trial {outcome.number} ({outcome.state.lower()})",
                best_epoch=outcome.best_epoch,
                metrics=(*dict.fromkeys((metric_base(metric), *metrics)), "loss"),
            )
            files.append((png, "plots"))
        best_row = outcome.best_row()
        if best_row is not None:
            keys = dict.fromkeys((metric, *(f"val_{m}" for m in metrics), "val_loss"))  # objective first: the UI's column
            run.log_metrics({objective_column(k): best_row[k] for k in keys if k in best_row})
        if (ckpt.directory / BOARD_LOG).is_dir():  # history.csv is stored with the model, below
            run.log_artifacts(ckpt.directory / BOARD_LOG, BOARD_LOG)
    except Exception as e:  # noqa: BLE001 - plots and epoch logs are best effort; the result stands
        _tag(run, {Tag.ARTIFACT_ERROR: reason_of(e)})
    if (ckpt.directory / CSV_LOG).is_file():
        files.append((ckpt.directory / CSV_LOG, "history"))  # verified and kept pending like the model
    if outcome.model_error is None and outcome.state == State.FAIL and ckpt.best_path.is_file():
        outcome.model_error = load_problem(ckpt.best_path)  # fit raised: verify_best_checkpoint never ran
    if outcome.model_error is not None:
        _tag(run, {Tag.MODEL_ERROR: outcome.model_error})
    elif ckpt.best_path.is_file():
        files.append((ckpt.best_path, "model"))
    failed: list[tuple[Path, str]] = []
    error = ""
    for path, folder in files:
        try:
            run.store_artifact(path, folder)
        except Exception as e:  # noqa: BLE001 - unwritable folder, full disk, server error
            failed.append((path, folder))
            error = error or reason_of(e)
    if failed:
        _keep_pending(outcome, failed, error, say)


def _keep_pending(outcome: TrialOutcome, failed: list[tuple[Path, str]], error: str, say: Callable[[str], None]) -> None:
    run, ckpt = outcome.run, outcome.checkpoints
    assert run is not None and ckpt is not None
    try:
        where = run.artifact_uri()
    except Exception:  # noqa: BLE001 - the message still names the cause
        where = "the MLflow artifact store"
    names = ", ".join(f"{folder}/{path.name}" for path, folder in failed)
    outcome.pending_upload = f"{names} not stored in {where} ({error})"
    try:
        ckpt.mark_pending(run.run_id, outcome.number, failed, error)
    except OSError as e:
        outcome.pending_upload += f"; and the local copy could not be kept ({reason_of(e)})"
        say(f"trial {outcome.number}: {outcome.pending_upload}")
        return
    _tag(run, {Tag.MODEL_PENDING: outcome.pending_upload})
    say(f"trial {outcome.number}: {outcome.pending_upload}; kept in {ckpt.directory}, the next run of the study uploads it")
