"""The process the CLI runs in: whether it owns it, replacing it (exec) with a server or a fresh
copy of itself, and the study deadline that survives such a restart."""

from __future__ import annotations

import os
import sys
import time

import click

__all__ = ["become", "claim_process", "deadline", "owns_process", "restart"]

#: True when the CLI owns the process (console script, ``python -m hpsearch``): only then may a
#: worker replace itself with a fresh copy to return memory. Never under click's CliRunner.
_OWNS_PROCESS = False


def claim_process() -> None:
    """Called by the console script's entry point: this process is the CLI's own."""
    global _OWNS_PROCESS
    _OWNS_PROCESS = True


def owns_process() -> bool:
    """Whether the CLI may replace this process (see :func:`claim_process`)."""
    return _OWNS_PROCESS


def become(cmd: list[str]) -> None:
    """Replace this process with ``cmd`` (a fresh hpsearch, the MLflow server): same PID, so
    Ctrl-C and SIGTERM reach it directly and nothing is left running when we are stopped."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def deadline(timeout: float | None) -> float | None:
    """Absolute deadline: inherited across restarts (HPSEARCH_DEADLINE), else now + timeout."""
    inherited = os.environ.get("HPSEARCH_DEADLINE")
    if inherited:
        return float(inherited)
    return time.time() + timeout if timeout else None


def restart(deadline: float | None) -> None:
    """Replace this process with a fresh copy of the same command (same PID, fresh memory).

    TensorFlow keeps ~30 MB per trained model alive for the life of a process; a worker that has
    grown past ``memory.max_growth`` is replaced between trials.
    """
    import psutil

    restarts = int(os.environ.get("HPSEARCH_RESTARTS", "0")) + 1
    rss = psutil.Process().memory_info().rss / 2**20
    click.echo(f"Restarting the worker process to return memory ({rss:.0f} MB in use; restart {restarts}).", err=True)
    os.environ["HPSEARCH_RESTARTS"] = str(restarts)
    if deadline is not None:
        os.environ["HPSEARCH_DEADLINE"] = repr(deadline)
    become([sys.executable, "-m", "hpsearch", *sys.argv[1:]])
