"""Small Keras callbacks, one concern each, used by the trial runner.

Order matters and is set by :mod:`hpsearch.trial._runner`: the callbacks that *add* to the epoch logs
(:class:`EpochTimer`, :class:`LearningRateLogger`) run before the ones that read them; the resume
checkpoint is written before metrics leave the process, so a killed trial never has a logged
epoch that its checkpoint lacks.

None of these raise to stop training: they set ``model.stop_training`` and record why, so
``on_train_end`` still runs (EarlyStopping restores the best weights) and the trial runner
decides the outcome after ``fit`` returns. The one error they raise is
:class:`MissingMetricError`: the monitored metric is not in the epoch logs (its message lists
the metrics that are), which fails the trial.

:class:`LearningRateRangeTest` is not a trial's: ``hpsearch lr-find`` fits a model with it alone.

Epoch numbers that leave these callbacks (history rows, MLflow steps, Optuna steps) are 1-based,
as Keras prints them: epoch 1 is the first epoch. Keras hands callbacks a 0-based index; the
conversion happens here, once.
"""

from hpsearch.trial.callbacks._best import BestCheckpoint
from hpsearch.trial.callbacks._early_stop import ResumableEarlyStopping
from hpsearch.trial.callbacks._history import HistoryRecorder
from hpsearch.trial.callbacks._learning_rate import LearningRateLogger, LearningRateReplay, ResumableReduceLROnPlateau
from hpsearch.trial.callbacks._lr_range import LearningRateRangeTest, default_beta, range_test_rate
from hpsearch.trial.callbacks._logging import EpochCSVLogger, TensorBoardScalars
from hpsearch.trial.callbacks._metrics import EpochHook, MetricsSink
from hpsearch.trial.callbacks._monitor import MissingMetricError, monitored_value
from hpsearch.trial.callbacks._nan import NaNGuard
from hpsearch.trial.callbacks._pruning import PruningReporter
from hpsearch.trial.callbacks._resume import RemoteResumeSync, ResumeCheckpoint
from hpsearch.trial.callbacks._state import Resumable
from hpsearch.trial.callbacks._steps import StepCounter
from hpsearch.trial.callbacks._timing import EpochTimer

__all__ = [
    "EpochTimer",
    "LearningRateLogger",
    "LearningRateReplay",
    "StepCounter",
    "LearningRateRangeTest",
    "range_test_rate",
    "default_beta",
    "NaNGuard",
    "HistoryRecorder",
    "BestCheckpoint",
    "ResumableEarlyStopping",
    "ResumableReduceLROnPlateau",
    "ResumeCheckpoint",
    "RemoteResumeSync",
    "MetricsSink",
    "EpochCSVLogger",
    "TensorBoardScalars",
    "PruningReporter",
    "EpochHook",
    "Resumable",
    "MissingMetricError",
    "monitored_value",
]
