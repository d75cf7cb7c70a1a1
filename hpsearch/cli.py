"""The ``hpsearch`` command line: thin click commands over the library.

Commands that do not train (``--help``, ``list``, ``show``, ``space``, ``check``) never import
TensorFlow: every heavy import happens inside the command that needs it.

Errors meant for the user (:class:`~hpsearch._errors.HPSearchError`) print one line and exit with
2 (usage / configuration) or 1 (runtime); click's own usage errors exit 2 as usual.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hpsearch import __version__

F = TypeVar("F", bound=Callable[..., Any])

#: True when the CLI owns the process (console script, ``python -m hpsearch``): only then may a
#: worker replace itself with a fresh copy to return memory. Never under click's CliRunner.
_OWNS_PROCESS = False

_EPILOG = "Docs: README.md. Every command takes --storage / --tracking-uri (or HPSEARCH_STORAGE / MLFLOW_TRACKING_URI)."


def _friendly(func: F) -> F:
    """Turn HPSearchError into ``Error: <message>`` + its exit code, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hpsearch._errors import HPSearchError

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
    if os.environ.get("HPSEARCH_VERBOSE"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
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
        help="MLflow tracking URI [env MLFLOW_TRACKING_URI; default sqlite:///./mlruns/mlflow.db].",
    )(func)
    func = click.option(
        "--storage",
        envvar="HPSEARCH_STORAGE",
        default=None,
        metavar="URL",
        help="Optuna storage URL [env HPSEARCH_STORAGE; default sqlite:///./mlruns/optuna.db].",
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


def _summary_table(summary: Any) -> str:
    from hpsearch._results import format_duration, trials_frame

    frame = trials_frame(summary.study, top=10)
    if frame.empty:
        return "(no trials)"
    searched = [c for c in summary.config.search_space.searched() if c in frame.columns]
    frame = frame.assign(duration=frame["duration_s"].map(format_duration))
    cols = ["number", "state", "value", "epochs", "duration", *searched]
    return frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")


def _print_summary(summary: Any) -> None:
    from hpsearch._progress import short_params

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


def _resume_hint() -> str:
    """The command that was run, passwords redacted (then say where to put them instead)."""
    from hpsearch._locations import redact

    args = [redact(a) for a in sys.argv[1:]]
    hint = shlex.join(["hpsearch", *args])
    if args != sys.argv[1:]:
        hint += "\n  (password hidden: put the URL in HPSEARCH_STORAGE / MLFLOW_TRACKING_URI rather than on the command line)"
    return hint


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
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), help="Seed for the split, sampler and weights.")
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
    from hpsearch._workers import install_sigterm_handler, parse_gpus

    gpus = parse_gpus(options.pop("gpus"))
    if gpus and options["workers"] == 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[0]  # before TensorFlow is imported
    _quiet_tensorflow()
    install_sigterm_handler()
    from hpsearch._progress import TerminalReporter
    from hpsearch._session import StudyRequest, run_study

    request = StudyRequest(
        study=study, gpus=tuple(gpus) if gpus else None, deadline=_deadline(options["timeout"]), recycle=_OWNS_PROCESS, **options
    )
    reporters: list[Any] = []

    def reporter(config: Any, target: int, finished: int) -> Any:
        r = TerminalReporter(total=target, finished=finished, metric=config.objective.metric, max_epochs=config.training.max_epochs)
        reporters.append(r)
        return r

    def ready(config: Any, locations: Any, study_obj: Any, tracking: Any) -> None:
        if os.environ.get("HPSEARCH_RESTARTS"):
            return  # a restarted worker: the header is already on screen
        where = locations.describe()
        click.echo(
            f"Study {config.name}: target {config.budget.trials} finished trials, up to "
            f"{config.training.max_epochs} epochs each; {len(study_obj.trials)} trial(s) so far.\n"
            f"  storage  {where['storage']}\n  tracking {where['tracking']}",
            err=True,
        )

    try:
        summary = run_study(request, reporter_factory=reporter, on_ready=ready)
    except KeyboardInterrupt as stop:
        for r in reporters:
            r.close()
        click.echo(
            f"\nStopped ({stop or 'Ctrl-C'}). The running trial was marked FAIL (interrupted) and queued to resume "
            f"from its last completed epoch; its MLflow run is KILLED.\nResume with:\n  {_resume_hint()}",
            err=True,
        )
        sys.exit(130)
    finally:
        for r in reporters:
            r.close()
    if summary.stop_reason == "recycle":
        _restart(summary.deadline)
    _print_summary(summary)
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
    from hpsearch._workers import gpu_for_rank, install_sigterm_handler, parse_gpus

    gpu = gpu_for_rank(parse_gpus(gpus), options["rank"])
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _quiet_tensorflow()
    install_sigterm_handler()
    from hpsearch._progress import TerminalReporter
    from hpsearch._session import WorkerRequest, run_worker_process

    reporters: list[Any] = []

    def reporter(config: Any, target: int, finished: int) -> Any:
        r = TerminalReporter(
            total=target, finished=finished, metric=config.objective.metric, max_epochs=config.training.max_epochs, bar=not quiet
        )
        reporters.append(r)
        return r

    deadline = _deadline(options.pop("timeout"))
    request = WorkerRequest(study_name=name, finalize=not no_finalize, deadline=deadline, recycle=_OWNS_PROCESS, **options)
    try:
        result = run_worker_process(request, reporter_factory=None if quiet else reporter)
    except KeyboardInterrupt:
        click.echo(f"\nWorker {options['rank']} stopped; its trial was queued to resume.", err=True)
        sys.exit(130)
    finally:
        for r in reporters:
            r.close()
    if result.reason == "recycle":
        _restart(deadline)
    if not quiet:
        click.echo(f"Worker {options['rank']} done ({result.reason}): ran {result.trials_run} trial(s).")


# ----------------------------------------------------------------------------- inspection


@main.command(name="list")
@storage_options
@_friendly
def list_(storage: str | None, tracking_uri: str | None) -> None:
    """Every study in the storage: trials by state, best value, last activity."""
    from hpsearch._results import studies_frame
    from hpsearch._session import storage_read_only

    store, _ = storage_read_only(storage)
    frame = studies_frame(store)
    if frame.empty:
        click.echo("No studies yet. Start one with: hpsearch study cifar10")
        return
    click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))


@main.command()
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), help="Only the K best trials.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@storage_options
@_friendly
def show(name: str, top: int | None, fmt: str, storage: str | None, tracking_uri: str | None) -> None:
    """One row per trial of study NAME, best first (state, value, duration, epochs, run id, params)."""
    from hpsearch._results import trials_frame
    from hpsearch._session import open_read_only

    study_obj, _, _ = open_read_only(name, storage)
    frame = trials_frame(study_obj, top=top)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=1))
    elif frame.empty:
        click.echo(f"Study {name} has no trials yet.")
    else:
        click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))


@main.command()
@click.argument("study")
@_friendly
def space(study: str) -> None:
    """Print the resolved search space of study file STUDY (defaults included)."""
    from hpsearch._config import load_study_config
    from hpsearch._search_space import describe

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
    from hpsearch._session import report_study

    path, uri, notes = report_study(name, storage, tracking_uri, output)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(f"Report written to {path}" + (f"\nLogged to MLflow: {uri}" if uri else ""))


@main.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["keras", "saved_model", "onnx", "tflite"]), default="keras", show_default=True)
@click.option("--output", "-o", metavar="PATH", help="Output file (folder for saved_model); default exported/NAME/trial-N.*")
@click.option("--data-dir", metavar="DIR", help="Folder with the CIFAR-10 files (for the test-set evaluation).")
@click.option("--dataset", metavar="PATH", help="This machine's path to the study's .npz dataset.")
@storage_options
@_friendly
def export(name: str, fmt: str, output: str | None, data_dir: str | None, dataset: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Export the best model of study NAME, verify it with its own runtime, register it in MLflow."""
    _quiet_tensorflow()
    from hpsearch._session import export_study

    result = export_study(name, storage=storage, tracking_uri=tracking_uri, fmt=fmt, output=output, data_dir=data_dir, dataset=dataset)
    m = result.test_metrics
    acc = f"accuracy {m['test_accuracy']:.4f}, " if "test_accuracy" in m else ""
    click.echo(f"Best trial {result.trial_number}: test {acc}loss {m['test_loss']:.4f}")
    click.echo(f"Wrote {result.fmt} model to {result.output}")
    click.echo(
        f"Verified: reloaded with the {result.fmt} runtime, predictions on {result.checked_images} test images "
        f"match Keras within {result.max_abs_diff:.1e}"
    )
    click.echo(f"Registered in the MLflow Model Registry as '{name}' version {result.model_version} ({result.notes[0]})")


def _become(cmd: list[str]) -> None:
    """Replace this process with ``cmd`` (a fresh hpsearch, the MLflow server): same PID, so
    Ctrl-C and SIGTERM reach it directly and nothing is left running when we are stopped."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@storage_options
@_friendly
def ui(host: str, port: int, storage: str | None, tracking_uri: str | None) -> None:
    """Start the MLflow UI on the study store (experiments, trial runs, charts, artifacts)."""
    from hpsearch._errors import RuntimeFailure
    from hpsearch._locations import redact, resolve_locations
    from hpsearch._tracking import normalize_tracking_uri, study_experiments, ui_path

    loc = resolve_locations(storage, tracking_uri)
    if loc.artifact_root is None:
        click.echo(f"Your tracking server already serves the UI: open {redact(loc.tracking_uri)} in a browser.")
        return
    if loc.tracking_is_default and not (loc.home / "mlflow.db").is_file():
        raise RuntimeFailure(f"No MLflow store at {loc.home / 'mlflow.db'} yet; run `hpsearch study NAME` first (or pass --tracking-uri).")
    uri = normalize_tracking_uri(loc.tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--default-artifact-root", loc.artifact_root, "--host", host, "--port", str(port)]
    if not _is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read and change your runs.", err=True)
    shown = "localhost" if _is_loopback(host) else host
    click.echo(f"MLflow UI for {redact(loc.tracking_uri)} on http://{shown}:{port}  (Ctrl-C to stop)")
    for name, experiment_id in study_experiments(loc.tracking_uri):
        click.echo(f"  study {name}: http://{shown}:{port}/{ui_path(experiment_id)}")
    click.echo("Same as: " + shlex.join(["mlflow", *cmd[3:]]), err=True)
    _become(cmd)


# ----------------------------------------------------------------------------- distributed


@main.command()
@click.argument("name")
@storage_options
@_friendly
def check(name: str, storage: str | None, tracking_uri: str | None) -> None:
    """Verify that every finished trial of NAME has exactly one matching MLflow run (exit 1 if not)."""
    from hpsearch._session import check_study

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
    from hpsearch._tracking import check_tracking_uri, normalize_tracking_uri

    loc = resolve_locations(None, None)
    backend = backend_store_uri or f"sqlite:///{loc.home / 'mlflow.db'}"
    if backend_store_uri is None:
        loc.home.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(backend)
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
    _become(cmd)
