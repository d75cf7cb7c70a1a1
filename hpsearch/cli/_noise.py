"""Third-party noise stays off the terminal: warnings and log lines of other libraries go to
``$HPSEARCH_HOME/hpsearch.log``; TensorFlow's start-up chatter and C++ writes to file descriptor 2
go to that file or nowhere. ``HPSEARCH_VERBOSE=1`` keeps everything on the terminal.

Nothing here runs on import: the CLI calls these functions when a command starts.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shlex
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = [
    "LOG_NAME",
    "native_stderr_to_log",
    "quiet_optuna",
    "quiet_server",
    "quiet_tensorflow",
    "route_noise",
    "show_warning",
    "third_party_log",
    "verbose",
]

#: Third-party warnings and log lines go here, not to the terminal (``HPSEARCH_VERBOSE=1`` keeps
#: them on the terminal): ``<HPSEARCH_HOME>/hpsearch.log``, created when the first one comes.
LOG_NAME = "hpsearch.log"
#: hpsearch's own source files (warnings raised there are shown as one line on the terminal).
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1]) + os.sep
#: Warnings of the MLflow server that ``ui`` / ``server`` run (a ``PYTHONWARNINGS`` value).
_SERVER_WARNINGS = "ignore::DeprecationWarning,ignore::FutureWarning,ignore:starlette."
_THIRD_PARTY = "hpsearch.third_party"


def verbose() -> bool:
    """``HPSEARCH_VERBOSE`` is set: third-party warnings and log lines stay on the terminal."""
    return bool(os.environ.get("HPSEARCH_VERBOSE"))


def _log_path() -> Path:
    from hpsearch._locations import default_home

    return default_home() / LOG_NAME


class _LogFile(logging.FileHandler):
    """Appends to the log file, creating it (and its folder) only when a record arrives."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s pid %(process)d %(levelname)s %(name)s: %(message)s"))

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def third_party_log() -> logging.Logger:
    """The logger whose records go to the log file only (never the terminal)."""
    logger = logging.getLogger(_THIRD_PARTY)
    for old in logger.handlers:
        old.close()
    logger.handlers = [_LogFile(_log_path())]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` of the CLI: hpsearch's own warnings are one line on stderr, other
    libraries' warnings (PED-ANOVA, Keras, Optuna's experimental features) go to the log file."""
    if category.__module__ == "builtins" and os.path.abspath(filename).startswith(_PACKAGE_DIR):
        click.echo(f"Warning: {message}", err=True)
        return
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger(_THIRD_PARTY).warning(text)


def route_noise() -> None:
    """Keep third-party noise out of the terminal; the CLI does this for every command before it
    runs (importing hpsearch changes nothing). ``HPSEARCH_VERBOSE=1`` skips it.

    * Python warnings of other libraries -> the log file (:func:`show_warning`);
    * MLflow logs only warnings and draws no download progress bars; TensorFlow's C++ logging
      shows only errors (environment variables, read when those libraries are imported);
    * Optuna's warning that heartbeats are meant for ``Study.optimize`` is dropped: hpsearch runs
      its own heartbeat around ask/tell on purpose.
    """
    if verbose():
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    third_party_log()
    warnings.showwarning = show_warning
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def quiet_optuna() -> None:
    """Optuna's own log lines ("Trial 3 finished ...", "A new study created ...") go to the log
    file at WARNING and above; hpsearch prints its own line per trial."""
    if verbose():
        return
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.get_logger("optuna").handlers = list(logging.getLogger(_THIRD_PARTY).handlers)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up chatter (``HPSEARCH_VERBOSE=1`` keeps it).

    TF 2.21 logs through absl before ``TF_CPP_MIN_LOG_LEVEL`` applies, straight to file
    descriptor 2, so the import runs with that descriptor pointed at /dev/null. Python errors
    are exceptions, not writes, and still surface.
    """
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # reported with a clear message where TensorFlow is first needed
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def quiet_server() -> None:
    """The MLflow server we are about to become shows no deprecation warnings of its web stack
    (Starlette's, once per worker process); its own log lines stay."""
    if not verbose():
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [_SERVER_WARNINGS, os.environ.get("PYTHONWARNINGS")]))


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Point file descriptor 2, where C/C++ libraries write (TFLite's "Created TensorFlow Lite
    XNNPACK delegate" line, TensorFlow's runtime), at the log file while Python's ``sys.stderr``
    (hpsearch's messages, errors, tracebacks) stays on the terminal."""
    if verbose():
        yield
        return
    try:
        python_uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        python_uses_fd2 = False  # click's test runner: sys.stderr is a buffer already
    terminal = _point_fd2_at_log()
    python_stderr = sys.stderr
    if python_uses_fd2:
        sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace", closefd=False)
    try:
        yield
    finally:
        if python_uses_fd2:
            sys.stderr.flush()
            sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)


def _point_fd2_at_log() -> int:
    """Append a header naming the command to the log file, point descriptor 2 at it, and return a
    duplicate of the descriptor 2 had (the terminal)."""
    from hpsearch._locations import redact

    path = _log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(path, "ab") as log:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        command = shlex.join(["hpsearch", *map(redact, sys.argv[1:])])
        log.write(f"{stamp} pid {os.getpid()} native stderr of: {command}\n".encode())
        log.flush()
        os.dup2(log.fileno(), 2)
    return terminal
