"""Errors that end a command with one clear line instead of a traceback.

Two families, mirroring click's exit codes:

* :class:`UsageError` (exit 2): the user asked for something that cannot work — a bad study file,
  flag, dataset, name. Raised before anything is written to the Optuna storage or MLflow.
* :class:`RuntimeFailure` (exit 1): the request was well formed but the world said no — a storage
  server that does not answer, a study that does not exist, too many failing trials.

Every message names the problem and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["HPSearchError", "UsageError", "RuntimeFailure", "closest", "did_you_mean"]


class HPSearchError(Exception):
    """Base class: an error whose message is meant for the user, shown without a traceback."""

    exit_code = 1


class UsageError(HPSearchError):
    """Bad input: study file, CLI flag, dataset, study name. Exit code 2."""

    exit_code = 2


class RuntimeFailure(HPSearchError):
    """A well-formed request that failed at run time (storage unreachable, no such study). Exit 1."""

    exit_code = 1


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, or ``None`` if none is close enough."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` if none is close."""
    match = closest(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""
