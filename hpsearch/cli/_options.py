"""What every command shares: ``--storage`` / ``--tracking-uri``, ``--wide``, and the error handling
that turns an :class:`~hpsearch._errors.HPSearchError` into one line and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hpsearch.cli._noise import route_noise

__all__ = ["WIDE", "friendly", "hidden_note", "recorded_data_options", "storage_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``--wide`` of the commands that print a table fitted to the terminal.
WIDE = click.option("--wide", is_flag=True, help="Every column, however wide (default: fit the terminal).")


def storage_options(func: F) -> F:
    """``--storage`` and ``--tracking-uri``, shared by every command that reads a study."""
    func = click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        default=None,
        metavar="URI",
        help="MLflow tracking URI [env MLFLOW_TRACKING_URI; default sqlite:///$HPSEARCH_HOME/mlflow.db, HPSEARCH_HOME=./mlruns].",
    )(func)
    func = click.option(
        "--storage",
        envvar="HPSEARCH_STORAGE",
        default=None,
        metavar="URL",
        help="Optuna storage URL [env HPSEARCH_STORAGE; default sqlite:///$HPSEARCH_HOME/optuna.db, HPSEARCH_HOME=./mlruns].",
    )(func)
    return func


def recorded_data_options(func: F) -> F:
    """``--data-dir``, ``--dataset`` and ``--test`` of the commands that reload a study's own data
    (``export``, ``retrain``): where it is on this machine when it moved since the study ran."""
    func = click.option("--test", metavar="FILE.csv", help="Path to the study's test table, if it had one (default: where it was).")(func)
    func = click.option("--dataset", metavar="PATH", help="Path to the study's folder, .csv or .npz (default: where the study's data came from).")(func)
    func = click.option(
        "--data-dir", metavar="DIR", help="Folder with the files of the study's dataset by name (default: where the study's data came from)."
    )(func)
    return func


def friendly(func: F) -> F:
    """Turn HPSearchError into ``Error: <message>`` + its exit code, without a traceback; route
    third-party noise away from the terminal first (:func:`~hpsearch.cli._noise.route_noise`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hpsearch._errors import HPSearchError

        route_noise()
        try:
            return func(*args, **kwargs)
        except HPSearchError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper  # type: ignore[return-value]


def hidden_note(hidden: list[str], how: str) -> str:
    """``(+N columns: a, b, c, ...; <how>)`` for columns left out to fit the terminal."""
    if not hidden:
        return ""
    names = ", ".join(hidden[:4]) + (", ..." if len(hidden) > 4 else "")
    return f"(+{len(hidden)} column{'s' if len(hidden) > 1 else ''} not shown to fit the terminal: {names}; {how})"
