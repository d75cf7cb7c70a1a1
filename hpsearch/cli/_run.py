"""Commands that train: ``study`` runs (or continues) a study, ``worker`` joins one.

Both print a line per finished trial under a progress bar, say what Ctrl-C / SIGTERM stopped and
how to resume, and replace their process with a fresh copy when memory grew too much.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from hpsearch.cli._messages import nothing_to_run, print_summary, resume_hint, signal_name, stopped_message, study_header
from hpsearch.cli._noise import quiet_optuna, quiet_tensorflow
from hpsearch.cli._options import friendly, storage_options
from hpsearch.cli._process import deadline, owns_process, restart
from hpsearch.keys import StudyAttr

__all__ = ["study", "worker"]


@click.command()
@click.argument("study")
@click.option("--trials", type=click.IntRange(min=1), help="Finished trials wanted in total (overrides budget.trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SEC", help="Stop starting trials after SEC seconds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Max epochs per trial (overrides training.max_epochs).")
@click.option("--subset", type=click.IntRange(min=2), metavar="N", help="Use only the first N training images (quick runs).")
@click.option("--dataset", metavar="NAME|PATH", help="cifar10, cifar100, mnist, fashion_mnist, a folder of class sub-folders of images, a FILE.csv or a FILE.npz (overrides dataset:).")
@click.option("--data-dir", metavar="DIR", help="Folder with the files Keras would download for a dataset by name (no download).")
@click.option("--target", metavar="COLUMN", help="CSV: the target column (default: data.target, else the last column).")
@click.option("--test", metavar="FILE.csv", help="CSV: a test table (default: data.test, else carved from the table).")
@storage_options
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), help="Seed for the split, sampler and weights (default: the study file's, else a fresh one; a resumed study keeps its own).")
@click.option("--study-name", metavar="NAME", help="Name of the study (default: the study file's name).")
@click.option("--fresh", is_flag=True, help="Replace an existing study of this name (its MLflow runs are kept, renamed).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes on this machine.")
@click.option("--gpus", metavar="IDS", help="GPU indices for the workers, round-robin (e.g. 0,1).")
@click.option("--enqueue", "enqueue_file", type=click.Path(dir_okay=False), metavar="FILE.yaml", help="Param sets to run first (see hpsearch enqueue).")
@friendly
def study(study: str, enqueue_file: str | None, **options: Any) -> None:
    """Run (or continue) the study STUDY: a name (studies/NAME.yaml, built-in) or a YAML path.

    Running the same command again continues the study; --trials counts finished trials in
    total. Ctrl-C stops cleanly and prints the command that resumes.
    """
    from hpsearch.study._workers import parse_gpus

    gpus = parse_gpus(options.pop("gpus"))
    _prepare_process(gpus[0] if gpus and options["workers"] == 1 else None)
    from hpsearch.study._session import StudyRequest, run_study

    request = StudyRequest(
        study=study, gpus=tuple(gpus) if gpus else None, deadline=deadline(options["timeout"]), recycle=owns_process(), **options
    )
    queue = _read_queue(enqueue_file, request)  # checked before anything is written
    already_done: list[tuple[str, str]] = []  # what to say when the study has its trials already
    opened: dict[str, Any] = {}
    reporters = _Reporters(bar=lambda: not already_done)
    started = datetime.datetime.now()

    def ready(config: Any, locations: Any, study_obj: Any, tracking: Any) -> None:
        from hpsearch.study._loop import count_trials
        from hpsearch.study._strategies import sampler_warnings

        opened.update(study=study_obj, config=config, locations=locations)
        if queue and not os.environ.get("HPSEARCH_RESTARTS"):
            from hpsearch.results._params import enqueue_param_sets

            queued, skipped = enqueue_param_sets(study_obj, queue, str(enqueue_file))
            click.echo(f"Queued {queued} param set(s) from {enqueue_file}" + (f" ({skipped} already queued or run)" if skipped else ""), err=True)
        counts = count_trials(study_obj)
        if counts.finished >= config.budget.trials and not counts.waiting:
            already_done.append(nothing_to_run(config, study_obj, counts))
        if os.environ.get("HPSEARCH_RESTARTS"):
            return  # a restarted worker: the header is already on screen
        click.echo(study_header(config, locations, counts), err=True)
        _echo_data(study_obj)
        for line in sampler_warnings(config):
            click.echo(f"Warning: {line}.", err=True)
        if already_done:
            click.echo(already_done[0][0])

    try:
        summary = run_study(request, reporter_factory=reporters.new, on_ready=ready)
    except KeyboardInterrupt as stop:
        reporters.close()
        click.echo("\n" + stopped_message(stop, opened.get("study"), opened.get("config"), opened.get("locations"), started), err=True)
        sys.exit(130)
    finally:
        reporters.close()
    if summary.stop_reason == "recycle":
        restart(summary.deadline)
    print_summary(summary)
    if already_done:
        click.echo("\n" + already_done[0][1])
    if summary.pending:
        click.echo(f"Error: {summary.pending}", err=True)
        sys.exit(1)
    if summary.stop_reason == "workers stopped":
        click.echo(
            "Error: the worker processes stopped before the budget was met (see their messages above); "
            f"run the same command to continue:\n  {resume_hint()}",
            err=True,
        )
        sys.exit(1)


@click.command()
@click.argument("name")
@storage_options
@click.option("--data-dir", metavar="DIR", help="This machine's folder with the files of the study's dataset by name.")
@click.option("--dataset", metavar="PATH", help="This machine's path to the study's folder, .csv or .npz.")
@click.option("--test", metavar="FILE.csv", help="This machine's path to the study's test table (CSV).")
@click.option("--gpus", metavar="IDS", help="GPU for this worker: the --rank'th of these (round-robin).")
@click.option("--rank", type=click.IntRange(min=0), default=0, show_default=True, help="Worker index (seeds, GPU choice).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SEC", help="Stop starting trials after SEC seconds.")
@click.option("--max-trials", type=click.IntRange(min=1), help="Leave after running this many trials.")
@click.option("--no-finalize", is_flag=True, hidden=True, help="Leave the final test evaluation to the coordinator.")
@click.option("--quiet", is_flag=True, hidden=True, help="No progress bar (worker started by `study --workers`).")
@friendly
def worker(name: str, gpus: str | None, no_finalize: bool, quiet: bool, **options: Any) -> None:
    """Join study NAME (created by `hpsearch study`) and run its trials until its budget is met.

    The study's configuration comes from the storage; this machine brings only its data.
    """
    from hpsearch.study._workers import gpu_for_rank, parse_gpus

    _prepare_process(gpu_for_rank(parse_gpus(gpus), options["rank"]))
    from hpsearch.study._session import WorkerRequest, run_worker_process

    reporters = _Reporters(bar=lambda: not quiet)
    stop_at = deadline(options.pop("timeout"))
    request = WorkerRequest(study_name=name, finalize=not no_finalize, deadline=stop_at, recycle=owns_process(), **options)
    started = datetime.datetime.now()
    try:
        result = run_worker_process(request, reporter_factory=None if quiet else reporters.new)
    except KeyboardInterrupt as stop:
        if quiet:  # started by `hpsearch study --workers`, which reports for all its workers
            click.echo(f"\nWorker {options['rank']} stopped by {signal_name(stop)}; its trial was queued to resume.", err=True)
            sys.exit(130)
        reporters.close()
        click.echo(f"\nWorker {options['rank']}: " + _worker_stopped(stop, name, options["storage"], started), err=True)
        sys.exit(130)
    finally:
        reporters.close()
    if result.reason == "recycle":
        restart(stop_at)
    if not quiet:
        click.echo(f"Worker {options['rank']} done ({result.reason}): ran {result.trials_run} trial(s).")


def _read_queue(path: str | None, request: Any) -> list[dict[str, Any]]:
    """``study --enqueue FILE``: its param sets, checked against the study file's space."""
    if path is None:
        return []
    from hpsearch.results._params import read_param_sets
    from hpsearch.study._session import resolve_config

    return read_param_sets(path, resolve_config(request))


def _echo_data(study_obj: Any) -> None:
    """What the study reads (recorded by this session) under the header, and the loader's notes
    (files skipped, unseen categories), once per command."""
    from hpsearch.study._data_record import summarize_data

    description = study_obj.user_attrs.get(StudyAttr.DATA_DESCRIPTION)
    if not description:
        return
    click.echo(f"  data     {summarize_data(description)}", err=True)
    for note in description.get("notes") or []:
        click.echo(f"Note: {note}", err=True)


def _prepare_process(gpu: str | None) -> None:
    """Before any trial: pin the GPU (before TensorFlow is imported), import TensorFlow and Optuna
    quietly, and turn SIGTERM into a clean stop."""
    from hpsearch.study._workers import install_sigterm_handler

    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    quiet_tensorflow()
    quiet_optuna()
    install_sigterm_handler()


class _Reporters:
    """Makes the progress reporter of each study a command runs (``reporter_factory``), and closes
    them all when the command ends or is stopped."""

    def __init__(self, bar: Callable[[], bool]) -> None:
        self._bar = bar
        self._made: list[Any] = []

    def new(self, config: Any, target: int, finished: int) -> Any:
        from hpsearch.cli._progress import TerminalReporter

        reporter = TerminalReporter(
            total=target, finished=finished, metric=config.objective.metric, max_epochs=config.training.max_epochs, bar=self._bar(),
            objectives=[o.metric for o in config.all_objectives()] if config.multi_objective else None,
        )
        self._made.append(reporter)
        return reporter

    def close(self) -> None:
        for reporter in self._made:
            reporter.close()


def _worker_stopped(stop: BaseException, name: str, storage: str | None, started: datetime.datetime) -> str:
    """The stop message of a worker: the study is read again (the worker had no handle on it)."""
    from hpsearch.results._read import open_read_only

    try:
        study_obj, config, locations = open_read_only(name, storage)
    except Exception:  # noqa: BLE001 - stopped before the study could be read
        study_obj = config = locations = None
    return stopped_message(stop, study_obj, config, locations, started)
