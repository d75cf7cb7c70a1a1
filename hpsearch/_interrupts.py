"""Ctrl-C and SIGTERM that wait for a store write to finish (base layer: no optuna, no mlflow).

Python delivers a signal between two bytecodes, so a plain ``KeyboardInterrupt`` can land inside
an Optuna or MLflow write. Both stores roll back only on ``Exception``; an interrupt is a
``BaseException``, so the transaction is left open and, on SQLite, its write lock stays held:
the closing writes of a stopped study then fail with "database is locked".

:func:`install_signal_handlers` replaces Python's SIGINT handler and adds one for SIGTERM. Outside
a store write they raise at once, as before (``KeyboardInterrupt``; :class:`Terminated` for
SIGTERM). Inside one -- code wrapped by :func:`deferred`, :func:`uninterrupted` or
:func:`signal_safe` -- the first signal is held and raised when the write returns. A second
signal while one is held raises at once, so a store that hangs can still be left.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["Terminated", "deferred", "install_signal_handlers", "signal_safe", "uninterrupted"]

_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C", bound=type)

_depth = 0
_pending: BaseException | None = None


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so termination takes the Ctrl-C path."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the block ends, then raise it (main thread only; nests)."""
    global _depth, _pending
    if not _in_main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            stop, _pending = _pending, None
            raise stop


def uninterrupted(func: _F) -> _F:
    """Decorate ``func`` so that it runs inside :func:`deferred`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with deferred():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def signal_safe(cls: _C, module: str) -> _C:
    """A subclass ``SignalSafe<cls>`` of ``cls`` whose public methods each run inside :func:`deferred`.

    Used on the store clients (Optuna's storages, MLflow's client), so ``isinstance`` checks still
    hold. Bind it to that name in ``module`` (the caller's ``__name__``) and it pickles like ``cls``.
    """
    namespace: dict[str, Any] = {"__module__": module, "__doc__": f"{cls.__name__} whose writes finish before Ctrl-C/SIGTERM is raised."}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        if inspect.isfunction(raw):  # plain instance methods only; static/class methods keep their binding
            namespace[name] = uninterrupted(raw)
    return type(f"SignalSafe{cls.__name__}", (cls,), namespace)  # type: ignore[return-value]


def _stop_for(signum: int) -> KeyboardInterrupt:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(f"signal {signal.Signals(signum).name}")


def _handle(signum: int, frame: Any) -> None:
    global _pending
    stop = _stop_for(signum)
    if _depth == 0:
        raise stop
    if _pending is not None:  # a second signal while one is held: stop now, even mid-write
        _pending = None
        raise stop
    _pending = stop


def install_signal_handlers() -> None:
    """Make Ctrl-C and SIGTERM stop the study cleanly, never in the middle of a store write."""
    global _pending
    _pending = None
    # A process started with SIGINT ignored (a background job of a non-interactive shell) keeps
    # ignoring it, as Python itself does.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
