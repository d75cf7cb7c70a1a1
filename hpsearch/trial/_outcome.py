"""The outcome of one trial: what the trial runner hands to the study loop.

Kept apart from the runner so that code without TensorFlow (the study loop, the trivial runner of
:mod:`hpsearch.testing`) uses the same type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpsearch.trial._checkpoints import TrialCheckpoints
    from hpsearch.tracking import TrialRun

__all__ = ["TrialOutcome", "reason_of"]

_MAX_REASON = 500


@dataclass
class TrialOutcome:
    """What one trial produced. ``state`` is COMPLETE, PRUNED or FAIL."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None = None
    #: A multi-objective study's values, one per objective in order (``value`` is the first's); ``None`` otherwise.
    values: list[float] | None = None
    epochs_trained: int = 0
    best_epoch: int | None = None
    resumed_from_epoch: int = 0
    reason: str | None = None
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    run: TrialRun | None = None
    checkpoints: TrialCheckpoints | None = None
    model_error: str | None = None  #: why the best checkpoint is not stored as the trial's model
    pending_upload: str | None = None  #: why files stayed in the checkpoint folder (MLflow refused them)

    def best_row(self) -> dict[str, float] | None:
        """The epoch logs of ``best_epoch`` (``None`` without one)."""
        return next((r for r in self.history if int(r["epoch"]) == self.best_epoch), None)


def reason_of(error: BaseException) -> str:
    """``error`` as the one-line reason stored with a trial (its first line, at most 500 characters)."""
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:_MAX_REASON]
