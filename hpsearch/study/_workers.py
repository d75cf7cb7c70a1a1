"""Worker processes: who runs a trial, whether it is still alive, which GPU it gets.

Every running trial records its worker's identity (host, PID namespace, PID, process start
time). A worker on the *same* machine can then prove a trial's owner is dead (its PID is gone or
belongs to a newer process) and retry the trial at once, instead of waiting for the heartbeat
grace period; trials of other machines are left to the heartbeat.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

from hpsearch._errors import UsageError
from hpsearch._interrupts import Terminated, install_signal_handlers

__all__ = [
    "worker_identity",
    "is_dead_here",
    "parse_gpus",
    "gpu_for_rank",
    "configure_gpus",
    "spawn_worker",
    "Terminated",
    "install_sigterm_handler",
]


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _host() -> str:
    """This machine's name: ``HPSEARCH_WORKER_HOST`` if set (containers sharing a hostname), else
    the hostname."""
    return os.environ.get("HPSEARCH_WORKER_HOST") or socket.gethostname()


def worker_identity() -> dict[str, Any]:
    """Identity of this process, stored on each trial it runs (and the GPU it was given)."""
    me = psutil.Process()
    return {
        "host": _host(),
        "pidns": _pid_namespace(),
        "pid": me.pid,
        "started": round(me.create_time(), 2),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def is_dead_here(identity: Mapping[str, Any] | None) -> bool:
    """True only when ``identity`` is a process of this machine (and PID namespace) that is gone."""
    if not identity:
        return False
    if identity.get("host") != _host() or identity.get("pidns") != _pid_namespace():
        return False
    try:
        proc = psutil.Process(int(identity["pid"]))
        same_process = abs(proc.create_time() - float(identity["started"])) < 1.0
        zombie = proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except (psutil.AccessDenied, KeyError, ValueError, TypeError):
        return False  # cannot prove it is dead: leave it to the heartbeat
    return zombie or not same_process


def parse_gpus(text: str | None) -> list[str] | None:
    """``"0,1"`` -> ``["0", "1"]``; ``None`` or ``""`` -> ``None`` (use what is visible)."""
    if not text:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    for gpu in ids:
        if not gpu.isdigit():
            raise UsageError(f"--gpus {text}: expected comma-separated GPU indices such as 0,1, got {gpu!r}.")
    return ids


def gpu_for_rank(gpus: Sequence[str] | None, rank: int) -> str | None:
    """Round-robin: worker ``rank`` gets ``gpus[rank % len(gpus)]``."""
    if not gpus:
        return None
    return gpus[rank % len(gpus)]


def configure_gpus() -> list[str]:
    """Turn on memory growth for every visible GPU (so several workers can share one)."""
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialized: growth must be set before first use
            pass
        names.append(gpu.name)
    return names


def spawn_worker(args: Sequence[str], *, gpu: str | None, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -m hpsearch worker ARGS`` with ``CUDA_VISIBLE_DEVICES`` set to ``gpu``."""
    child_env = dict(os.environ if env is None else env)
    if gpu is not None:
        child_env["CUDA_VISIBLE_DEVICES"] = gpu
    child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    child_env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, "-m", "hpsearch", "worker", *args], env=child_env)


def install_sigterm_handler() -> None:
    """Make SIGTERM behave like Ctrl-C (clean stop, resumable), and let neither signal land inside
    a store write (see :mod:`hpsearch._interrupts`)."""
    install_signal_handlers()
