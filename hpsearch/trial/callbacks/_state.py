"""The state a callback carries across a killed process (kept in the trial's resume state)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Resumable"]


class Resumable:
    """Mixin for callbacks whose state must survive a killed process.

    ``get_state()`` returns the attributes in ``_state_attrs``; ``set_state()`` queues them to be
    re-applied right after ``on_train_begin`` (where Keras callbacks reset themselves).
    ``state_key`` names the state in the resume state's ``callbacks``.
    """

    state_key: str = ""
    _state_attrs: tuple[str, ...] = ()
    _pending: dict[str, Any] | None = None

    def get_state(self) -> dict[str, Any]:
        out = {}
        for name in self._state_attrs:
            value = getattr(self, name)
            out[name] = float(value) if isinstance(value, (np.floating, np.integer)) else value
        return out

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._pending = dict(state)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # type: ignore[misc]
        if self._pending:
            for name in self._state_attrs:
                if name in self._pending:
                    setattr(self, name, self._pending[name])
            self._after_restore()
        self._pending = None

    def _after_restore(self) -> None:
        pass
