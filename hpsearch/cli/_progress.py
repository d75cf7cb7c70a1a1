"""Progress on the terminal: a bar over finished trials, a line per finished trial.

The bar's postfix follows the running trial epoch by epoch; each finished trial prints one line
(number, state, value, epochs, duration, key params) above the bar.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from optuna.trial import FrozenTrial
from tqdm import tqdm

from hpsearch.results._tables import epochs_trained, format_duration
from hpsearch.keys import State, TrialAttr

__all__ = ["TerminalReporter", "short_params"]

_SHORT = {
    "learning_rate": "lr",
    "batch_size": "bs",
    "batch_norm": "bn",
    "initializer": "init",
    "regularizer": "reg",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def short_params(params: Mapping[str, Any], limit: int = 8) -> str:
    """``optimizer=sgd lr=0.012 schedule=cosine ...`` (the first ``limit`` params)."""
    parts = [f"{_SHORT.get(k, k)}={_fmt(v)}" for k, v in list(params.items())[:limit]]
    return " ".join(parts)


class TerminalReporter:
    """The study's progress on ``stream`` (stderr): the reporter the run loop calls.

    A tqdm bar counts finished (COMPLETE or PRUNED) trials towards ``total``, starting at
    ``finished``; its postfix follows the running trial ("trial 7 epoch 3/20 val_accuracy=0.61").
    Every trial that ends, failed ones included, prints one line above the bar (number, state,
    value, epochs, duration, key params, and a failed trial's reason); :meth:`waiting` and
    :meth:`message` print lines too. ``bar=False`` hides the bar and keeps the lines (a study that
    already has its trials). ``label`` names what runs (``retrain of trial`` for ``hpsearch retrain``;
    its first word is the bar's unit).
    """

    def __init__(
        self,
        *,
        total: int,
        finished: int = 0,
        metric: str = "val_accuracy",
        max_epochs: int | None = None,
        stream: TextIO | None = None,
        bar: bool = True,
        label: str = "trial",
        objectives: list[str] | None = None,
    ) -> None:
        self.metric = metric
        self.objectives = objectives  #: a multi-objective study's objective names
        self.max_epochs = max_epochs
        self.stream = stream or sys.stderr
        self.label = label
        self._bar = tqdm(
            total=total,
            initial=min(finished, total),
            unit=label.split()[0],
            desc=f"{label.split()[0]}s",
            file=self.stream,
            dynamic_ncols=True,
            disable=not bar,
            leave=True,
        )

    def _write(self, text: str) -> None:
        self._bar.write(text, file=self.stream)

    def trial_started(self, number: int, params: Mapping[str, Any], retry_of: int | None) -> None:
        note = f" (retry of trial {retry_of})" if retry_of is not None else ""
        self._bar.set_postfix_str(f"{self.label} {number}{note} starting", refresh=True)

    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None:
        value = logs.get(self.metric)
        total = f"/{self.max_epochs}" if self.max_epochs else ""
        shown = f" {self.metric}={value:.4f}" if isinstance(value, (int, float)) else ""
        self._bar.set_postfix_str(f"{self.label} {number} epoch {epoch + 1}{total}{shown}", refresh=True)

    def trial_finished(self, trial: FrozenTrial | None, outcome: Any) -> None:
        if trial is None:
            return
        duration = None
        if trial.datetime_start and trial.datetime_complete:
            duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
        value = self._values(trial)
        epochs = epochs_trained(trial)
        resumed = trial.user_attrs.get(TrialAttr.RESUMED_FROM_EPOCH) or 0
        extra = f" resumed@{resumed}" if resumed else ""
        reason = trial.user_attrs.get(TrialAttr.FAIL_REASON) if trial.state.name == State.FAIL else None
        line = (
            f"trial {trial.number:>4}  {trial.state.name:<8} {value:<22} "
            f"epochs {epochs:>3}{extra}  {format_duration(duration):>8}  "
            f"{short_params(trial.params)}"
        )
        if reason:
            line += f"\n            reason: {reason}"
        self._write(line)
        if trial.state.name in (State.COMPLETE, State.PRUNED):
            self._bar.update(1)
        self._bar.set_postfix_str("", refresh=True)

    def advance(self) -> None:
        """One more finished item on the bar (``hpsearch retrain``: its one run, when it ends)."""
        self._bar.update(1)
        self._bar.set_postfix_str("", refresh=True)

    def _values(self, trial: FrozenTrial) -> str:
        """``val_accuracy=0.6120``; a multi-objective trial's every value (``params=1.2e+05 ...``)."""
        if not trial.values:
            return ""
        if len(trial.values) == 1:
            return f"{self.metric}={trial.values[0]:.4f}"
        names = self.objectives or [f"value_{i}" for i in range(len(trial.values))]
        return " ".join(f"{n}={int(v) if n == 'params' else f'{v:.4g}'}" for n, v in zip(names, trial.values))

    def waiting(self, running: int) -> None:
        self._write(f"waiting for {running} trial(s) still running in other workers...")

    def message(self, text: str) -> None:
        self._write(text)

    def status(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self._bar.close()
