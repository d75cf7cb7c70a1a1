"""The MLflow runs of ``hpsearch retrain``: the best trial's params trained on training + validation
data, each its own run under the study's parent run (tag ``hpsearch.role = retrain``).

A retrain run holds its model where a trial run holds its best checkpoint (``model/best.keras``),
so what reads a trial's model reads it too. Trial-run listings
(:meth:`~hpsearch.tracking._tracking.StudyTracking.child_runs`) leave retrain runs out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Param, ViewType

from hpsearch.keys import RetrainParam, Role, RunStatus, State, Tag, param_repr
from hpsearch.tracking._runs import TrialRun
from hpsearch.tracking._tracking import StudyTracking

__all__ = ["RetrainRun", "start_retrain_run", "retrain_runs", "newest_retrain_run"]


@dataclass(frozen=True)
class RetrainRun:
    """A retrain run as read back from MLflow."""

    run_id: str
    status: str  #: MLflow's: FINISHED, FAILED, KILLED, RUNNING
    source_trial: int | None
    epochs: int | None
    start_time: int  #: milliseconds since the epoch
    has_model: bool

    @property
    def usable(self) -> bool:
        """Finished with its model stored: what ``export --retrained`` may export."""
        return self.status == RunStatus.FINISHED and self.has_model


def start_retrain_run(tracking: StudyTracking, source_trial: int, params: Mapping[str, Any], *, tags: Mapping[str, Any] | None = None) -> TrialRun:
    """Create a retrain run of trial ``source_trial`` under the study's parent run, with ``params``
    (the trial's, plus :class:`~hpsearch.keys.RetrainParam` ones)."""
    assert tracking.parent_run_id is not None, "open_parent() or attach_parent() first"
    name = f"retrain-trial-{source_trial:04d}"
    run = tracking.client.create_run(
        tracking.experiment_id,
        run_name=name,
        tags={
            Tag.PARENT: tracking.parent_run_id,
            Tag.STUDY: tracking.study_name,
            Tag.ROLE: Role.RETRAIN,
            Tag.RETRAIN_OF: str(source_trial),
            Tag.STATE: State.RUNNING,
            **{k: str(v) for k, v in (tags or {}).items()},
        },
    )
    handle = tracking.trial_run(run.info.run_id)
    handle.client.log_batch(handle.run_id, params=[Param(k, param_repr(v)) for k, v in params.items()])
    return handle


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retrain_runs(tracking: StudyTracking) -> list[RetrainRun]:
    """Every retrain run of the study, newest first."""
    found = tracking.client.search_runs(
        [tracking.experiment_id],
        filter_string=f"tags.`{Tag.ROLE}` = '{Role.RETRAIN}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    return [
        RetrainRun(
            run_id=run.info.run_id,
            status=run.info.status,
            source_trial=_int(run.data.tags.get(Tag.RETRAIN_OF)),
            epochs=_int(run.data.params.get(RetrainParam.EPOCHS)),
            start_time=int(run.info.start_time or 0),
            has_model=run.info.status == RunStatus.FINISHED and tracking.has_model(run.info.run_id),
        )
        for run in found
    ]


def newest_retrain_run(tracking: StudyTracking) -> tuple[RetrainRun | None, int]:
    """The newest usable retrain run (``None`` when there is none), and how many retrain runs there are."""
    runs = retrain_runs(tracking)
    return next((r for r in runs if r.usable), None), len(runs)
