"""Progress events of a running study: the CLI draws them, tests record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from optuna.trial import FrozenTrial

from hpsearch.trial._outcome import TrialOutcome

__all__ = ["Reporter", "NullReporter"]


@runtime_checkable
class Reporter(Protocol):
    """Receives progress events; the CLI draws them, tests record them."""

    def trial_started(self, number: int, params: Mapping[str, Any], retry_of: int | None) -> None: ...
    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None: ...
    def trial_finished(self, trial: FrozenTrial | None, outcome: TrialOutcome | None) -> None: ...
    def waiting(self, running: int) -> None: ...
    def message(self, text: str) -> None: ...
    def status(self, text: str) -> None: ...


class NullReporter:
    """Discards every event."""

    def trial_started(self, number: int, params: Mapping[str, Any], retry_of: int | None) -> None:
        pass

    def epoch_end(self, number: int, epoch: int, logs: Mapping[str, Any]) -> None:
        pass

    def trial_finished(self, trial: FrozenTrial | None, outcome: TrialOutcome | None) -> None:
        pass

    def waiting(self, running: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def status(self, text: str) -> None:
        pass
