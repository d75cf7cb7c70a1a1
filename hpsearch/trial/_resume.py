"""What an attempt takes over from the attempts of its trial before it, gathered in one step.

:func:`gather_resume` runs once, before the MLflow run starts and before ``fit``: it finds the
newest usable resume state in the trial's checkpoint folder (or, when that folder is empty and the
trial ran on another machine, the copy its attempt kept in its MLflow run), loads its model, and
asks the tracking store whether the attempt's run can be continued. The runner then only applies
the :class:`Resume` it returns: no later step goes back to the checkpoints or the tracking store
to decide where the trial starts.

A damaged state (unreadable ``resume.json``, truncated model file) is skipped for the one before
it; when none is usable the trial restarts from epoch 0 with the same params, and
:attr:`Resume.notice` says so.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

import hpsearch.models._compile  # noqa: F401 - registers hpsearch's losses and metrics (resumed models)
from hpsearch.trial._checkpoints import ResumeState, TrialCheckpoints
from hpsearch.trial._outcome import reason_of

if TYPE_CHECKING:
    from hpsearch.tracking import StudyTracking

__all__ = ["Resume", "gather_resume"]


@dataclass(frozen=True, eq=False)
class Resume:
    """Where one attempt starts. ``state is None``: from epoch 0 (a new model)."""

    state: ResumeState | None = None  #: the checkpoint state continued from (local, or fetched from the run)
    model: keras.Model | None = None  #: the model of ``state``, loaded (optimizer included)
    previous_run: str | None = None  #: MLflow run of the attempt this one retries
    continue_run: bool = False  #: ``previous_run`` logged nothing past ``epochs_done``: continue it
    stopped_early: bool = False  #: the resumed attempt had already stopped early: no epoch is left to train
    notice: str | None = None  #: one line about a fallback to an older state or a restart from epoch 0

    @property
    def epochs_done(self) -> int:
        return self.state.epochs_done if self.state is not None else 0

    @property
    def history(self) -> list[dict[str, float]]:
        """The epochs done so far (1-based ``epoch``), as the resume state recorded them."""
        return self.state.history if self.state is not None else []

    @property
    def callback_states(self) -> dict[str, dict[str, Any]]:
        """The states of the resumable callbacks, by ``state_key``."""
        return self.state.callbacks if self.state is not None else {}

    @property
    def best_so_far(self) -> float | None:
        """The best value of the monitored metric before this attempt (``None``: none yet)."""
        best = self.callback_states.get("best_checkpoint", {}).get("best")
        return None if best is None else float(best)

    @property
    def remote_best(self) -> str | None:
        """The best-model slot the remote copy names (see :class:`~hpsearch.trial._checkpoints.RemoteSlots`)."""
        return self.state.remote_best if self.state is not None else None

    @property
    def run_to_continue(self) -> str | None:
        return self.previous_run if self.continue_run else None


def gather_resume(
    number: int,
    checkpoints: TrialCheckpoints,
    tracking: StudyTracking,
    *,
    previous_run: str | None,
    patience: int | None,
) -> Resume:
    """Everything attempt ``number`` takes over from the attempt that ran in ``previous_run``.

    Args:
        number: the attempt's trial number (for the notice).
        checkpoints: the trial's checkpoint folder (shared by its attempts).
        tracking: the study's tracking; its ``remote`` says whether attempts keep a copy of their
            resume state in their run.
        previous_run: the MLflow run of the attempt this one retries (``None``: first attempt).
        patience: early-stopping patience of the study (``None``: no early stopping).
    """
    states, problems = checkpoints.scan()
    if not states and previous_run and tracking.remote:
        fetched = _fetch_remote(tracking, previous_run, checkpoints)  # the attempt ran on another machine
        states = [fetched] if fetched is not None else []
    state, model, notice = _load_newest(number, checkpoints, states, problems)
    epochs_done = state.epochs_done if state is not None else 0
    # Continue the attempt's run only if it logged nothing past the resume point (a fallback to
    # an earlier state, a restart from epoch 0): one history, each epoch once.
    continue_run = previous_run is not None and tracking.can_continue(previous_run, epochs_done)
    return Resume(
        state=state,
        model=model,
        previous_run=previous_run,
        continue_run=continue_run,
        stopped_early=_stopped_early(state, patience),
        notice=notice,
    )


def _load_newest(
    number: int, checkpoints: TrialCheckpoints, states: list[ResumeState], problems: list[str]
) -> tuple[ResumeState | None, keras.Model | None, str | None]:
    """The newest state whose model loads, that model, and the notice about what was skipped."""
    for state in states:
        try:
            model = keras.saving.load_model(state.model_path, safe_mode=True)
        except Exception as e:  # noqa: BLE001 - truncated zip, random bytes, bad weights...
            problems.append(f"resume checkpoint {state.model_path} does not load ({reason_of(e)})")
            continue
        if problems:
            checkpoints.keep_only(state)
            return state, model, f"trial {number}: resuming after epoch {state.epochs_done}, its last usable state: " + "; ".join(problems)
        checkpoints.restore_best(state)  # best.keras may be newer (killed before the state) or replaced
        return state, model, None
    if problems:
        checkpoints.clear()  # nothing in it belongs to the history the restart will write
        return None, None, f"trial {number}: restarting from epoch 0 with the same params, no usable resume state: " + "; ".join(problems)
    return None, None, None


def _fetch_remote(tracking: StudyTracking, run_id: str, checkpoints: TrialCheckpoints) -> ResumeState | None:
    """The resume state the failed attempt copied to its run on the tracking server."""
    with tempfile.TemporaryDirectory(prefix="hpsearch-resume-") as tmp:
        try:
            folder = tracking.download(run_id, "resume", tmp)
        except Exception:  # noqa: BLE001 - no remote copy: start from epoch 0
            return None
        return checkpoints.import_remote(folder)


def _stopped_early(state: ResumeState | None, patience: int | None) -> bool:
    """True if the resumed attempt had already stopped early (its next epoch would not run)."""
    if state is None or patience is None:
        return False
    stopper = state.callbacks.get("early_stopping") or {}
    return int(stopper.get("wait", 0)) >= patience and state.epochs_done > 1
