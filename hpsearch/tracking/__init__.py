"""MLflow: the only code that imports ``mlflow`` (besides :mod:`hpsearch.results._export`).

Modules, lower first (stored names live in :mod:`hpsearch.keys`): ``_uris`` (tracking URIs and
UI routes, no ``mlflow``), ``_runs`` (one trial's run), ``_tracking`` (the URI check, one study's
experiment, parent run and trial runs), ``_retrain`` (the runs of ``hpsearch retrain``),
``_registry`` (registering an exported model).

Names are loaded on first access, so ``from hpsearch.tracking import normalize_tracking_uri``
does not import ``mlflow``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports

if TYPE_CHECKING:
    from hpsearch.tracking._retrain import RetrainRun, newest_retrain_run, retrain_runs, start_retrain_run
    from hpsearch.tracking._runs import RunSummary, TrialRun
    from hpsearch.tracking._tracking import StudyTracking, check_tracking_uri, study_experiments
    from hpsearch.tracking._uris import normalize_tracking_uri, ui_path

_WHERE = {
    **dict.fromkeys(("normalize_tracking_uri", "ui_path"), "._uris"),
    **dict.fromkeys(("RunSummary", "TrialRun"), "._runs"),
    **dict.fromkeys(("RetrainRun", "newest_retrain_run", "retrain_runs", "start_retrain_run"), "._retrain"),
    **dict.fromkeys(("StudyTracking", "check_tracking_uri", "study_experiments"), "._tracking"),
}

__all__ = [
    "RetrainRun",
    "RunSummary",
    "StudyTracking",
    "TrialRun",
    "check_tracking_uri",
    "newest_retrain_run",
    "normalize_tracking_uri",
    "retrain_runs",
    "start_retrain_run",
    "study_experiments",
    "ui_path",
]


__getattr__, __dir__ = lazy_exports(globals(), _WHERE)
