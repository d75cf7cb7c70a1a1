"""hpsearch: hyperparameter search for tf.keras models, tracked in MLflow.

The public API (everything else is private and may change)::

    import hpsearch

    config = hpsearch.load_study_config("cifar10")                # a shipped study, or a path to a YAML file
    summary = hpsearch.run_study(hpsearch.StudyRequest(study="cifar10", trials=5))
    study, config = hpsearch.open_results("cifar10")              # read-only: an optuna.Study and its config
    hpsearch.trials_frame(study)                                  # one row per trial, best first
    hpsearch.best_trial(study)                                    # None until a trial has completed
    hpsearch.pareto_front(study.trials, study.directions)         # a multi-objective study's front
    data = hpsearch.load_data(config)                             # the checked, split Dataset a study trains on

Names are loaded on first use, so ``import hpsearch`` imports neither TensorFlow nor MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hpsearch.config import StudyConfig, load_study_config, parse_study_dict
    from hpsearch.data import Dataset, Pipelines, Split
    from hpsearch.results._read import export_study, open_results, report_study
    from hpsearch.results._retrain import retrain_study
    from hpsearch.results._tables import studies_frame, trials_frame
    from hpsearch.study._data_record import load_data
    from hpsearch.study._ranking import best_trial, pareto_front
    from hpsearch.study._reporter import NullReporter, Reporter
    from hpsearch.study._session import (
        StudyRequest,
        StudySummary,
        WorkerRequest,
        run_study,
        run_worker_process,
    )

#: public name -> the module that defines it
_WHERE = {
    # study files -> a validated, frozen configuration
    "StudyConfig": "hpsearch.config",
    "load_study_config": "hpsearch.config",
    "parse_study_dict": "hpsearch.config",
    # running a study (in this process, or as one worker of a shared study)
    "StudyRequest": "hpsearch.study._session",
    "StudySummary": "hpsearch.study._session",
    "run_study": "hpsearch.study._session",
    "WorkerRequest": "hpsearch.study._session",
    "run_worker_process": "hpsearch.study._session",
    # progress events of run_study / run_worker_process (subclass NullReporter, override what you need)
    "Reporter": "hpsearch.study._reporter",
    "NullReporter": "hpsearch.study._reporter",
    # reading results
    "open_results": "hpsearch.results._read",
    "trials_frame": "hpsearch.results._tables",
    "studies_frame": "hpsearch.results._tables",
    "best_trial": "hpsearch.study._ranking",
    "pareto_front": "hpsearch.study._ranking",
    "report_study": "hpsearch.results._read",
    "export_study": "hpsearch.results._read",
    # the best params trained on training + validation data, tested, recorded (``hpsearch retrain``)
    "retrain_study": "hpsearch.results._retrain",
    # data, for scripts that feed their own arrays
    "Dataset": "hpsearch.data",
    "Split": "hpsearch.data",
    "Pipelines": "hpsearch.data",
    "load_data": "hpsearch.study._data_record",
}

__all__ = [
    "Dataset",
    "NullReporter",
    "Pipelines",
    "Reporter",
    "Split",
    "StudyConfig",
    "StudyRequest",
    "StudySummary",
    "WorkerRequest",
    "best_trial",
    "export_study",
    "load_data",
    "load_study_config",
    "open_results",
    "parse_study_dict",
    "pareto_front",
    "report_study",
    "retrain_study",
    "run_study",
    "run_worker_process",
    "studies_frame",
    "trials_frame",
]


__getattr__, __dir__ = lazy_exports(globals(), _WHERE)
