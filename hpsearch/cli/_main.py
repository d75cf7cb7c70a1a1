"""The ``hpsearch`` command line: thin click commands over the library.

Commands that do not train (``--help``, ``list``, ``show``, ``space``, ``check``) never import
TensorFlow: every heavy import happens inside the command that needs it.

Errors meant for the user (:class:`~hpsearch._errors.HPSearchError`) print one line and exit with
2 (usage / configuration) or 1 (runtime); click's own usage errors exit 2 as usual.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from hpsearch import __version__

F = TypeVar("F", bound=Callable[..., Any])

#: True when the CLI owns the process (console script, ``python -m hpsearch``): only then may a
#: worker replace itself with a fresh copy to return memory. Never under click's CliRunner.
_OWNS_PROCESS = False

_EPILOG = (
    "\b\nEnvironment:\n"
    "  HPSEARCH_HOME        folder of the local stores, checkpoints and artifacts (default ./mlruns)\n"
    "  HPSEARCH_STORAGE     Optuna storage URL (same as --storage)\n"
    "  MLFLOW_TRACKING_URI  MLflow tracking URI (same as --tracking-uri)\n"
    "  HPSEARCH_VERBOSE=1   show third-party warnings and log lines on the terminal\n\n"
    "Docs: README.md. Every command that reads a study takes --storage / --tracking-uri."
)


#: Third-party warnings and log lines go here, not to the terminal (``HPSEARCH_VERBOSE=1`` keeps
#: them on the terminal): ``<HPSEARCH_HOME>/hpsearch.log``, created when the first one comes.
LOG_NAME = "hpsearch.log"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # hpsearch/, not hpsearch/cli/
#: Warnings of the MLflow server that ``ui`` / ``server`` run (a ``PYTHONWARNINGS`` value).
_SERVER_WARNINGS = "ignore::DeprecationWarning,ignore::FutureWarning,ignore:starlette."


def _verbose() -> bool:
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


def _third_party_log() -> logging.Logger:
    """The logger whose records go to the log file only (never the terminal)."""
    logger = logging.getLogger("hpsearch.third_party")
    for old in logger.handlers:
        old.close()
    logger.handlers = [_LogFile(_log_path())]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` of the CLI: hpsearch's own warnings are one line on stderr, other
    libraries' warnings (PED-ANOVA, Keras, Optuna's experimental features) go to the log file."""
    if category.__module__ == "builtins" and os.path.abspath(filename).startswith(_PACKAGE_DIR):
        click.echo(f"Warning: {message}", err=True)
        return
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger("hpsearch.third_party").warning(text)


def _route_noise() -> None:
    """Keep third-party noise out of the terminal; the CLI's entry point does this for every
    command before it runs (importing hpsearch changes nothing). ``HPSEARCH_VERBOSE=1`` skips it.

    * Python warnings of other libraries -> the log file (:func:`_show_warning`);
    * MLflow logs only warnings and draws no download progress bars; TensorFlow's C++ logging
      shows only errors (environment variables, read when those libraries are imported);
    * Optuna's warning that heartbeats are meant for ``Study.optimize`` is dropped: hpsearch runs
      its own heartbeat around ask/tell on purpose.
    """
    if _verbose():
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _third_party_log()
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def _quiet_optuna() -> None:
    """Optuna's own log lines ("Trial 3 finished ...", "A new study created ...") go to the log
    file at WARNING and above; hpsearch prints its own line per trial."""
    if _verbose():
        return
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.get_logger("optuna").handlers = list(logging.getLogger("hpsearch.third_party").handlers)


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Point file descriptor 2, where C/C++ libraries write (TFLite's "Created TensorFlow Lite
    XNNPACK delegate" line, TensorFlow's runtime), at the log file while Python's ``sys.stderr``
    (hpsearch's messages, errors, tracebacks) stays on the terminal."""
    from hpsearch._locations import redact

    if _verbose():
        yield
        return
    try:
        python_uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        python_uses_fd2 = False  # click's test runner: sys.stderr is a buffer already
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


def _friendly(func: F) -> F:
    """Turn HPSearchError into ``Error: <message>`` + its exit code, without a traceback; route
    third-party noise away from the terminal first (:func:`_route_noise`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hpsearch._errors import HPSearchError

        _route_noise()
        try:
            return func(*args, **kwargs)
        except HPSearchError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper  # type: ignore[return-value]


def _quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up chatter (``HPSEARCH_VERBOSE=1`` keeps it).

    TF 2.21 logs through absl before ``TF_CPP_MIN_LOG_LEVEL`` applies, straight to file
    descriptor 2, so the import runs with that descriptor pointed at /dev/null. Python errors
    are exceptions, not writes, and still surface.
    """
    if _verbose():
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=_EPILOG)
@click.version_option(__version__, prog_name="hpsearch")
def main() -> None:
    """Hyperparameter search for tf.keras CNNs: Optuna trials, MLflow tracking, resumable studies.

    \b
    Quick start (CIFAR-10, a few minutes on a laptop CPU):
      hpsearch study cifar10 --trials 3 --epochs 2 --subset 2000 --study-name quick
      hpsearch show quick
      hpsearch ui
    """


# ----------------------------------------------------------------------------- study


def _hidden_note(hidden: list[str], how: str) -> str:
    """``(+N columns: a, b, c, ...; <how>)`` for columns left out to fit the terminal."""
    if not hidden:
        return ""
    names = ", ".join(hidden[:4]) + (", ..." if len(hidden) > 4 else "")
    return f"(+{len(hidden)} column{'s' if len(hidden) > 1 else ''} not shown to fit the terminal: {names}; {how})"


def _summary_table(summary: Any) -> str:
    from hpsearch.results._tables import render_trials, trial_table

    table = trial_table(summary.study, top=10)
    if not table.rows:
        return "(no trials)"
    text, hidden = render_trials(table, metric=summary.config.objective.metric, run_ids=False)
    note = _hidden_note(hidden, f"hpsearch show {summary.config.name} --wide shows all")
    return text + (f"\n{note}" if note else "")


def _print_summary(summary: Any) -> None:
    from hpsearch.cli._progress import short_params

    c = summary.counts
    metric = summary.config.objective.metric
    reasons = {"budget": "budget reached", "timeout": "timeout reached", "workers stopped": "workers stopped early"}
    click.echo(
        f"\nStudy {summary.config.name}: {c.finished}/{summary.target} finished "
        f"({c.complete} complete, {c.pruned} pruned, {c.failed} failed) - {reasons.get(summary.stop_reason, summary.stop_reason)}."
    )
    click.echo("\nTop trials:\n" + _summary_table(summary))
    if summary.best is not None:
        click.echo(f"\nBest trial {summary.best.number}: {metric} = {summary.best.value:.4f}")
        click.echo(f"  {short_params(summary.best.params, limit=30)}")
    test = summary.test_metrics
    if test:
        acc = test.get("test_accuracy")
        click.echo(
            f"Test set (best checkpoint of trial {test['trial']}): accuracy = {acc:.4f}, loss = {test['test_loss']:.4f}"
            if acc is not None
            else f"Test loss of trial {test['trial']}: {test['test_loss']:.4f}"
        )
    flags = _location_flags(summary.locations)
    click.echo(
        f"\nBrowse:  hpsearch ui{flags}   (experiment '{summary.config.name}')\n"
        f"Table:   hpsearch show {summary.config.name}{flags}\n"
        f"Export:  hpsearch export {summary.config.name}{flags}"
    )


def _location_flags(locations: Any) -> str:
    """The --storage/--tracking-uri flags a follow-up command needs (passwords redacted)."""
    from hpsearch._locations import redact

    flags = ""
    if not locations.storage_is_default and "HPSEARCH_STORAGE" not in os.environ:
        flags += f" --storage {shlex.quote(redact(locations.storage_url))}"
    if not locations.tracking_is_default and "MLFLOW_TRACKING_URI" not in os.environ:
        flags += f" --tracking-uri {shlex.quote(redact(locations.tracking_uri))}"
    return flags


def _without_option(args: list[str], option: str) -> list[str]:
    """``args`` without ``option VALUE`` / ``option=VALUE``."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def _resume_hint(trials: int | None = None) -> str:
    """The command that was run, passwords redacted (then say where to put them instead), with
    ``--trials`` set to ``trials`` when given."""
    from hpsearch._locations import redact

    original = sys.argv[1:]
    if trials is not None:
        original = [*_without_option(original, "--trials"), "--trials", str(trials)]
    args = [redact(a) for a in original]
    hint = shlex.join(["hpsearch", *args])
    if args != original:
        hint += "\n  (password hidden: put the URL in HPSEARCH_STORAGE / MLFLOW_TRACKING_URI rather than on the command line)"
    return hint


def _so_far(counts: Any) -> str:
    """``finished so far: 4 (3 complete, 1 pruned); also 2 failed, 1 queued to resume``."""
    if not (counts.finished or counts.failed or counts.running or counts.waiting):
        return "no trials yet"
    text = f"finished so far: {counts.finished} ({counts.complete} complete, {counts.pruned} pruned)"
    others = [
        f"{n} {label}"
        for n, label in ((counts.failed, "failed"), (counts.waiting, "queued to resume"), (counts.running, "running"))
        if n
    ]
    return text + (f"; also {', '.join(others)}" if others else "")


def _nothing_to_run(config: Any, study_obj: Any, counts: Any) -> tuple[str, str]:
    """What to say when a study already has its finished trials: that, its best, how to add more."""
    metric = config.objective.metric
    try:
        best = study_obj.best_trial
        shown = f" Best: trial {best.number}, {metric} = {best.value:.4f}."
    except ValueError:
        shown = ""
    more = max(10, counts.finished // 2)
    return (
        f"Study {config.name} already has {counts.finished} finished trials (target {config.budget.trials}): nothing to run.{shown}",
        f"To run {more} more trials, raise the total with --trials:\n  {_resume_hint(trials=counts.finished + more)}",
    )


def _signal_name(stop: BaseException) -> str:
    """``Ctrl-C`` for a plain KeyboardInterrupt, ``SIGTERM`` for hpsearch's ``Terminated``."""
    return str(stop).removeprefix("signal ") or "Ctrl-C"


def _epochs_saved(trial: Any, config: Any, locations: Any) -> int:
    """Epochs an interrupted ``trial`` completed: its resume state's count (what the retry continues
    from; saved just before the epoch is reported to Optuna), else the epochs it reported."""
    from hpsearch.trial._checkpoints import TrialCheckpoints
    from hpsearch.study._loop import first_attempt

    reported = len(trial.intermediate_values)
    if locations is None:
        return reported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = TrialCheckpoints.of_trial(locations.checkpoint_root / config.name, first_attempt(trial)).load()
    return max(reported, state.epochs_done if state is not None else 0)


def _stopped_message(stop: BaseException, study_obj: Any, config: Any, locations: Any, since: datetime.datetime) -> str:
    """What an interrupt stopped (the study, each trial and its epoch), what became of it, and the
    command that resumes."""
    from hpsearch.results._tables import interrupted_since
    from hpsearch.study._loop import count_trials, target_trials

    what = _signal_name(stop)
    resume = f"Resume with:\n  {_resume_hint()}"
    if study_obj is None or config is None:
        return f"Stopped by {what} before the first trial started.\n{resume}"
    name, max_epochs = config.name, config.training.max_epochs
    try:
        stopped = interrupted_since(study_obj, since)
        counts = count_trials(study_obj)
    except Exception:  # noqa: BLE001 - the storage went away too: say what we know
        return f"Stopped by {what}: study {name}. Its running trial is retried with the same params when the study runs again.\n{resume}"
    lines = []
    for trial, retry in stopped:
        done = _epochs_saved(trial, config, locations)
        where = f"in epoch {done + 1}/{max_epochs}" if done < max_epochs else f"after its last epoch ({max_epochs})"
        saved = f"{done} epoch{'s' if done != 1 else ''} done and saved" if done else "no epoch done yet"
        lines.append(f"Stopped by {what}: study {name}, trial {trial.number} {where}; {saved}.")
        how = "to continue from its last saved epoch" if done else "to start again"
        queued = (
            f"queued as trial {retry.number} {how} with the same params"
            if retry is not None
            else "retried with the same params when the study runs again"
        )
        lines.append(f"  Trial {trial.number} is marked FAIL (interrupted) and {queued}; its MLflow run is KILLED.")
    if not stopped:
        lines.append(f"Stopped by {what}: study {name}, no trial was running.")
    lines.append(f"Study {name}: {_so_far(counts)} (target {target_trials(study_obj, config)}).")
    return "\n".join([*lines, resume])


def _deadline(timeout: float | None) -> float | None:
    """Absolute deadline: inherited across restarts (HPSEARCH_DEADLINE), else now + timeout."""
    inherited = os.environ.get("HPSEARCH_DEADLINE")
    if inherited:
        return float(inherited)
    return time.time() + timeout if timeout else None


def _restart(deadline: float | None) -> None:
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
    _become([sys.executable, "-m", "hpsearch", *sys.argv[1:]])


@main.command()
@click.argument("study")
@click.option("--trials", type=click.IntRange(min=1), help="Finished trials wanted in total (overrides budget.trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SEC", help="Stop starting trials after SEC seconds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Max epochs per trial (overrides training.max_epochs).")
@click.option("--subset", type=click.IntRange(min=2), metavar="N", help="Use only the first N training images (quick runs).")
@click.option("--data-dir", metavar="DIR", help="Folder with cifar-10-python.tar.gz or cifar-10-batches-py/ (no download).")
@click.option("--dataset", metavar="PATH|NAME", help="cifar10, or an .npz with x_train, y_train, x_test, y_test.")
@storage_options
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), help="Seed for the split, sampler and weights (default: the study file's, else a fresh one; a resumed study keeps its own).")
@click.option("--study-name", metavar="NAME", help="Name of the study (default: the study file's name).")
@click.option("--fresh", is_flag=True, help="Replace an existing study of this name (its MLflow runs are kept, renamed).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes on this machine.")
@click.option("--gpus", metavar="IDS", help="GPU indices for the workers, round-robin (e.g. 0,1).")
@_friendly
def study(study: str, **options: Any) -> None:
    """Run (or continue) the study STUDY: a name (studies/NAME.yaml, built-in) or a YAML path.

    Running the same command again continues the study; --trials counts finished trials in
    total. Ctrl-C stops cleanly and prints the command that resumes.
    """
    from hpsearch.study._workers import install_sigterm_handler, parse_gpus

    gpus = parse_gpus(options.pop("gpus"))
    if gpus and options["workers"] == 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[0]  # before TensorFlow is imported
    _quiet_tensorflow()
    _quiet_optuna()
    install_sigterm_handler()
    from hpsearch.cli._progress import TerminalReporter
    from hpsearch.study._session import StudyRequest, run_study

    request = StudyRequest(
        study=study, gpus=tuple(gpus) if gpus else None, deadline=_deadline(options["timeout"]), recycle=_OWNS_PROCESS, **options
    )
    reporters: list[Any] = []
    nothing_to_run: list[tuple[str, str]] = []
    opened: dict[str, Any] = {}
    started = datetime.datetime.now()

    def reporter(config: Any, target: int, finished: int) -> Any:
        r = TerminalReporter(
            total=target, finished=finished, metric=config.objective.metric, max_epochs=config.training.max_epochs, bar=not nothing_to_run
        )
        reporters.append(r)
        return r

    def ready(config: Any, locations: Any, study_obj: Any, tracking: Any) -> None:
        from hpsearch.study._loop import count_trials

        opened.update(study=study_obj, config=config, locations=locations)
        counts = count_trials(study_obj)
        if counts.finished >= config.budget.trials and not counts.waiting:
            nothing_to_run.append(_nothing_to_run(config, study_obj, counts))
        if os.environ.get("HPSEARCH_RESTARTS"):
            return  # a restarted worker: the header is already on screen
        where = locations.describe()
        click.echo(
            f"Study {config.name}: target {config.budget.trials} finished trials, up to "
            f"{config.training.max_epochs} epochs each; {_so_far(counts)}.\n"
            f"  storage  {where['storage']}\n  tracking {where['tracking']}\n  seed     {config.seed} (--seed {config.seed} reproduces this study)",
            err=True,
        )
        if nothing_to_run:
            click.echo(nothing_to_run[0][0])

    try:
        summary = run_study(request, reporter_factory=reporter, on_ready=ready)
    except KeyboardInterrupt as stop:
        for r in reporters:
            r.close()
        click.echo("\n" + _stopped_message(stop, opened.get("study"), opened.get("config"), opened.get("locations"), started), err=True)
        sys.exit(130)
    finally:
        for r in reporters:
            r.close()
    if summary.stop_reason == "recycle":
        _restart(summary.deadline)
    _print_summary(summary)
    if nothing_to_run:
        click.echo("\n" + nothing_to_run[0][1])
    if summary.pending:
        click.echo(f"Error: {summary.pending}", err=True)
        sys.exit(1)
    if summary.stop_reason == "workers stopped":
        click.echo(
            "Error: the worker processes stopped before the budget was met (see their messages above); "
            f"run the same command to continue:\n  {_resume_hint()}",
            err=True,
        )
        sys.exit(1)


@main.command()
@click.argument("name")
@storage_options
@click.option("--data-dir", metavar="DIR", help="This machine's folder with the CIFAR-10 files.")
@click.option("--dataset", metavar="PATH", help="This machine's path to the study's .npz dataset.")
@click.option("--gpus", metavar="IDS", help="GPU for this worker: the --rank'th of these (round-robin).")
@click.option("--rank", type=click.IntRange(min=0), default=0, show_default=True, help="Worker index (seeds, GPU choice).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SEC", help="Stop starting trials after SEC seconds.")
@click.option("--max-trials", type=click.IntRange(min=1), help="Leave after running this many trials.")
@click.option("--no-finalize", is_flag=True, hidden=True, help="Leave the final test evaluation to the coordinator.")
@click.option("--quiet", is_flag=True, hidden=True, help="No progress bar (worker started by `study --workers`).")
@_friendly
def worker(name: str, gpus: str | None, no_finalize: bool, quiet: bool, **options: Any) -> None:
    """Join study NAME (created by `hpsearch study`) and run its trials until its budget is met.

    The study's configuration comes from the storage; this machine brings only its data.
    """
    from hpsearch.study._workers import gpu_for_rank, install_sigterm_handler, parse_gpus

    gpu = gpu_for_rank(parse_gpus(gpus), options["rank"])
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _quiet_tensorflow()
    _quiet_optuna()
    install_sigterm_handler()
    from hpsearch.cli._progress import TerminalReporter
    from hpsearch.study._session import WorkerRequest, run_worker_process

    reporters: list[Any] = []

    def reporter(config: Any, target: int, finished: int) -> Any:
        r = TerminalReporter(
            total=target, finished=finished, metric=config.objective.metric, max_epochs=config.training.max_epochs, bar=not quiet
        )
        reporters.append(r)
        return r

    deadline = _deadline(options.pop("timeout"))
    request = WorkerRequest(study_name=name, finalize=not no_finalize, deadline=deadline, recycle=_OWNS_PROCESS, **options)
    started = datetime.datetime.now()
    try:
        result = run_worker_process(request, reporter_factory=None if quiet else reporter)
    except KeyboardInterrupt as stop:
        if quiet:  # started by `hpsearch study --workers`, which reports for all its workers
            click.echo(f"\nWorker {options['rank']} stopped by {_signal_name(stop)}; its trial was queued to resume.", err=True)
            sys.exit(130)
        for r in reporters:
            r.close()
        from hpsearch.study._session import open_read_only

        try:
            study_obj, config, locations = open_read_only(name, options["storage"])
        except Exception:  # noqa: BLE001 - stopped before the study could be read
            study_obj = config = locations = None
        click.echo(f"\nWorker {options['rank']}: " + _stopped_message(stop, study_obj, config, locations, started), err=True)
        sys.exit(130)
    finally:
        for r in reporters:
            r.close()
    if result.reason == "recycle":
        _restart(deadline)
    if not quiet:
        click.echo(f"Worker {options['rank']} done ({result.reason}): ran {result.trials_run} trial(s).")


# ----------------------------------------------------------------------------- inspection


_WIDE = click.option("--wide", is_flag=True, help="Every column, however wide (default: fit the terminal).")


@main.command(name="list")
@_WIDE
@storage_options
@_friendly
def list_(wide: bool, storage: str | None, tracking_uri: str | None) -> None:
    """Every study in the storage: trials by state, best value, last activity."""
    import pandas as pd

    from hpsearch.results._tables import render_table, studies_frame
    from hpsearch.study._session import storage_read_only

    store, _ = storage_read_only(storage)
    frame = studies_frame(store)
    if frame.empty:
        click.echo("No studies yet. Start one with: hpsearch study cifar10")
        return
    columns = list(frame.columns)
    priority = ["study", "best_value", "trials", "complete", "pruned", "fail", "running", "waiting", "seed", "last_activity", "direction"]
    rows = [{k: None if v is pd.NA else v for k, v in row.items()} for row in frame.to_dict("records")]  # a study without a seed
    text, hidden = render_table(rows, columns, priority=priority, wide=wide)
    click.echo(text)
    if hidden:
        click.echo(_hidden_note(hidden, "--wide shows all"), err=True)


@main.command()
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), help="Only the K best trials.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@_WIDE
@storage_options
@_friendly
def show(name: str, top: int | None, fmt: str, wide: bool, storage: str | None, tracking_uri: str | None) -> None:
    """One row per trial of study NAME, best first (state, value, duration, epochs, run id, params).

    The table fits the terminal, leaving out the least important columns (--wide shows all) and
    rounding floats; csv and json carry every column, every digit and the stored types.
    """
    from hpsearch.results._tables import render_trials, to_csv, to_json, trial_table
    from hpsearch.study._session import open_read_only

    study_obj, config, _ = open_read_only(name, storage)
    table = trial_table(study_obj, top=top)
    if fmt == "csv":
        click.echo(to_csv(table), nl=False)
    elif fmt == "json":
        click.echo(to_json(table))
    elif not table.rows:
        click.echo(f"Study {name} has no trials yet.")
    else:
        text, hidden = render_trials(table, metric=config.objective.metric, wide=wide)
        click.echo(text)
        if hidden:
            click.echo(_hidden_note(hidden, "--wide shows all, --format csv has every digit"), err=True)


@main.command()
@click.argument("study")
@_friendly
def space(study: str) -> None:
    """Print the resolved search space of study file STUDY (defaults included)."""
    from hpsearch.config._study_config import load_study_config
    from hpsearch.space._sample import describe

    config = load_study_config(study)
    rows = describe(config.search_space)
    width = max(len(r[0]) for r in rows)
    click.echo(f"# {config.source}")
    for name, dist, cond in rows:
        click.echo(f"{name:<{width}}  {dist}" + (f"    [if {cond}]" if cond else ""))


def entry() -> None:
    """Console-script entry point: the CLI owns this process."""
    global _OWNS_PROCESS
    _OWNS_PROCESS = True
    main()


# ----------------------------------------------------------------------------- report, export, ui


@main.command()
@click.argument("name")
@click.option("--output", "-o", metavar="PATH", help="Where to write the HTML file (default NAME-report.html).")
@storage_options
@_friendly
def report(name: str, output: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Write a self-contained HTML report of study NAME (opens offline); also logged to MLflow."""
    from hpsearch.study._session import report_study

    path, uri, notes = report_study(name, storage, tracking_uri, output)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(f"Report written to {path}" + (f"\nLogged to MLflow: {uri}" if uri else ""))


@main.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["keras", "saved_model", "onnx", "tflite"]), default="keras", show_default=True)
@click.option("--output", "-o", metavar="PATH", help="Output file (folder for saved_model); default exported/NAME/trial-N.*")
@click.option("--data-dir", metavar="DIR", help="Folder with the CIFAR-10 files (default: where the study's data came from).")
@click.option("--dataset", metavar="PATH", help="Path to the study's .npz dataset (default: where the study's data came from).")
@storage_options
@_friendly
@_native_stderr_to_log()
def export(name: str, fmt: str, output: str | None, data_dir: str | None, dataset: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Export the best model of study NAME, verify it with its own runtime, register it in MLflow."""
    _quiet_tensorflow()
    from hpsearch.study._session import export_study

    result = export_study(name, storage=storage, tracking_uri=tracking_uri, fmt=fmt, output=output, data_dir=data_dir, dataset=dataset)
    if result.data_note:
        click.echo(f"Note: {result.data_note}", err=True)
    m = result.test_metrics
    acc = f"accuracy {m['test_accuracy']:.4f}, " if "test_accuracy" in m else ""
    click.echo(f"Best trial {result.trial_number}: test {acc}loss {m['test_loss']:.4f}")
    click.echo(f"Wrote {result.fmt} model to {result.output}")
    click.echo(
        f"Verified: reloaded with the {result.fmt} runtime, predictions on {result.checked_images} test images "
        f"match Keras within {result.max_abs_diff:.1e}"
    )
    click.echo(f"Registered in the MLflow Model Registry as '{name}' version {result.model_version} ({result.notes[0]})")
    from hpsearch._locations import redact, resolve_locations

    store = shlex.quote(redact(resolve_locations(storage, tracking_uri).tracking_uri))
    click.echo(
        f"Load it with mlflow.pyfunc.load_model('{result.model_uri}'), or serve it:\n"
        f"  MLFLOW_TRACKING_URI={store} mlflow models serve -m {result.model_uri} --env-manager local"
    )


def _quiet_server() -> None:
    """The MLflow server we are about to become shows no deprecation warnings of its web stack
    (Starlette's, once per worker process); its own log lines stay."""
    if not _verbose():
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [_SERVER_WARNINGS, os.environ.get("PYTHONWARNINGS")]))


def _become(cmd: list[str]) -> None:
    """Replace this process with ``cmd`` (a fresh hpsearch, the MLflow server): same PID, so
    Ctrl-C and SIGTERM reach it directly and nothing is left running when we are stopped."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line, before anything starts, when ``host:port`` cannot be listened on (the
    MLflow server would otherwise fail in its worker processes and still exit 0).

    Binds the way the server does (``SO_REUSEADDR``), so a port in TIME_WAIT is not a false alarm.
    """
    import errno
    import socket

    from hpsearch._errors import RuntimeFailure, UsageError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e.strerror}); use 127.0.0.1 or 0.0.0.0.") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise RuntimeFailure(
                    f"Port {port} on {host} is already in use (another MLflow UI or server?); stop that one, "
                    f"or pick another port with --port, e.g. --port {port + 1 if port < 65535 else 5000}."
                ) from None
            raise RuntimeFailure(f"Cannot listen on {host}:{port} ({e.strerror}); pick another --host or --port.") from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@storage_options
@_friendly
def ui(host: str, port: int, storage: str | None, tracking_uri: str | None) -> None:
    """Start the MLflow UI on the study store (experiments, trial runs, charts, artifacts)."""
    from hpsearch._errors import RuntimeFailure
    from hpsearch._locations import redact, resolve_locations
    from hpsearch.tracking import normalize_tracking_uri, study_experiments, ui_path

    loc = resolve_locations(storage, tracking_uri)
    if loc.artifact_root is None:
        click.echo(f"Your tracking server already serves the UI: open {redact(loc.tracking_uri)} in a browser.")
        return
    if loc.tracking_is_default and not (loc.home / "mlflow.db").is_file():
        raise RuntimeFailure(f"No MLflow store at {loc.home / 'mlflow.db'} yet; run `hpsearch study NAME` first (or pass --tracking-uri).")
    _check_port_free(host, port)
    uri = normalize_tracking_uri(loc.tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--default-artifact-root", loc.artifact_root, "--host", host, "--port", str(port)]
    if not _is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read and change your runs.", err=True)
    shown = "localhost" if _is_loopback(host) else host
    click.echo(f"MLflow UI for {redact(loc.tracking_uri)} on http://{shown}:{port}  (Ctrl-C to stop)")
    for name, experiment_id, view in study_experiments(loc.tracking_uri):
        click.echo(f"  study {name}: http://{shown}:{port}/{ui_path(experiment_id, view=view)}")
    click.echo("Same as: " + shlex.join(["mlflow", *cmd[3:]]), err=True)
    _quiet_server()
    _become(cmd)


@main.command(name="tensorboard")
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True)
@click.option("--logdir", metavar="DIR", help="Where to gather the logs (default: $HPSEARCH_HOME/tensorboard/NAME).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Start TensorBoard, or only gather the logs and print the command.")
@storage_options
@_friendly
def tensorboard_(name: str, host: str, port: int, logdir: str | None, serve: bool, storage: str | None, tracking_uri: str | None) -> None:
    """Open TensorBoard on every trial of study NAME (per-epoch scalars, gathered from MLflow)."""
    import importlib.util

    from hpsearch._errors import UsageError
    from hpsearch.study._session import gather_tensorboard_logs

    folder, count = gather_tensorboard_logs(name, storage, tracking_uri, logdir)
    plain = shlex.join(["tensorboard", "--logdir", str(folder), "--host", host, "--port", str(port)])
    click.echo(f"TensorBoard logs of {count} trial(s) of study {name} in {folder}")
    if not serve:
        click.echo(f"Open them with: {plain}")
        return
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError(f"TensorBoard is not installed: pip install 'hpsearch[tensorboard]', then run: {plain}")
    if not _is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read these logs.", err=True)
    click.echo(f"TensorBoard on http://{'localhost' if _is_loopback(host) else host}:{port}  (Ctrl-C to stop)")
    click.echo(f"Same as: {plain}", err=True)
    _become([sys.executable, "-m", "tensorboard.main", "--logdir", str(folder), "--host", host, "--port", str(port)])


# ----------------------------------------------------------------------------- distributed


@main.command()
@click.argument("name")
@storage_options
@_friendly
def check(name: str, storage: str | None, tracking_uri: str | None) -> None:
    """Verify that every finished trial of NAME has exactly one matching MLflow run (exit 1 if not)."""
    from hpsearch.study._session import check_study

    finished, runs, problems = check_study(name, storage, tracking_uri)
    if not problems:
        click.echo(f"Study {name}: consistent. {finished} finished trials, {runs} trial runs in MLflow; every finished trial has exactly one run with its params, state, value and model.")
        return
    click.echo(f"Study {name}: {len(problems)} problem(s) ({finished} finished trials, {runs} trial runs):")
    for problem in problems:
        click.echo(f"  {problem}")
    sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 to serve other machines.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--backend-store-uri", metavar="URI", help="Runs database (default sqlite:///./mlruns/mlflow.db); postgresql://... for a shared one.")
@click.option("--artifacts-destination", metavar="URI", help="Where the server keeps artifacts (default ./mlruns/artifacts).")
@click.option("--allowed-hosts", metavar="HOSTS", help="Host names clients use to reach the server (MLflow rejects unknown ones).")
@_friendly
def server(host: str, port: int, backend_store_uri: str | None, artifacts_destination: str | None, allowed_hosts: str | None) -> None:
    """Serve an MLflow tracking server (runs + artifacts) that workers on other machines share."""
    from hpsearch._locations import redact, resolve_locations
    from hpsearch.tracking._tracking import check_tracking_uri, normalize_tracking_uri

    loc = resolve_locations(None, None)
    backend = backend_store_uri or f"sqlite:///{loc.home / 'mlflow.db'}"
    if backend_store_uri is None:
        loc.home.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(backend)
    _check_port_free(host, port)
    artifacts = artifacts_destination or str(loc.home / "artifacts")
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", normalize_tracking_uri(backend),
        "--artifacts-destination", artifacts,
        "--serve-artifacts",
        "--host", host,
        "--port", str(port),
    ]
    if allowed_hosts:
        cmd += ["--allowed-hosts", allowed_hosts]
    if not _is_loopback(host):
        click.echo(f"Warning: serving on {host}:{port}: anyone who can reach it can read and change runs; keep it on a private network.", err=True)
    click.echo(f"MLflow tracking server on http://{'localhost' if _is_loopback(host) else host}:{port}  (runs: {redact(backend)}; artifacts: {artifacts})")
    click.echo("Workers: hpsearch worker NAME --storage <database URL> --tracking-uri http://<this machine>:" + str(port), err=True)
    click.echo("Same as: " + redact(shlex.join(["mlflow", *cmd[3:]])), err=True)
    _quiet_server()
    _become(cmd)
