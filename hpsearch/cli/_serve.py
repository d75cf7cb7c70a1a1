"""Commands that start a server in place of this process: ``ui`` (the MLflow UI on the study
store), ``server`` (an MLflow tracking server that workers share) and ``tensorboard``; and
:func:`serve_wsgi`, which serves ``dashboard``'s app in this process.

Each checks its port before anything starts and warns when it listens beyond this machine.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

import click

from hpsearch.cli._noise import quiet_server
from hpsearch.cli._options import friendly, storage_options
from hpsearch.cli._process import become

__all__ = ["check_port_free", "is_loopback", "serve_wsgi", "server", "tensorboard_", "ui"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def serve_wsgi(app: Callable[..., Any], host: str, port: int) -> None:
    """Serve the WSGI ``app`` on ``host:port`` in this process until Ctrl-C or SIGTERM.

    The signal asks the server to stop once the request in hand is answered. (A KeyboardInterrupt
    raised inside a request would be swallowed by wsgiref's handler, which catches everything, and
    the server would go on serving: with a browser polling, Ctrl-C often did nothing.)
    """
    import signal
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # no line per request
            pass

    httpd = make_server(host, port, app, handler_class=_Quiet)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()  # shutdown() waits for the loop

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        httpd.server_close()


def check_port_free(host: str, port: int) -> None:
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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@storage_options
@friendly
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
    check_port_free(host, port)
    uri = normalize_tracking_uri(loc.tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--default-artifact-root", loc.artifact_root, "--host", host, "--port", str(port)]
    if not is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read and change your runs.", err=True)
    shown = "localhost" if is_loopback(host) else host
    click.echo(f"MLflow UI for {redact(loc.tracking_uri)} on http://{shown}:{port}  (Ctrl-C to stop)")
    for name, experiment_id, view in study_experiments(loc.tracking_uri):
        click.echo(f"  study {name}: http://{shown}:{port}/{ui_path(experiment_id, view=view)}")
    click.echo("Same as: " + shlex.join(["mlflow", *cmd[3:]]), err=True)
    quiet_server()
    become(cmd)


@click.command(name="tensorboard")
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True)
@click.option("--logdir", metavar="DIR", help="Where to gather the logs (default: $HPSEARCH_HOME/tensorboard/NAME).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Start TensorBoard, or only gather the logs and print the command.")
@storage_options
@friendly
def tensorboard_(name: str, host: str, port: int, logdir: str | None, serve: bool, storage: str | None, tracking_uri: str | None) -> None:
    """Open TensorBoard on every trial of study NAME (per-epoch scalars, gathered from MLflow)."""
    import importlib.util

    from hpsearch._errors import UsageError
    from hpsearch.results._read import gather_tensorboard_logs

    folder, count = gather_tensorboard_logs(name, storage, tracking_uri, logdir)
    plain = shlex.join(["tensorboard", "--logdir", str(folder), "--host", host, "--port", str(port)])
    click.echo(f"TensorBoard logs of {count} trial(s) of study {name} in {folder}")
    if not serve:
        click.echo(f"Open them with: {plain}")
        return
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError(f"TensorBoard is not installed: pip install 'hpsearch[tensorboard]', then run: {plain}")
    if not is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read these logs.", err=True)
    click.echo(f"TensorBoard on http://{'localhost' if is_loopback(host) else host}:{port}  (Ctrl-C to stop)")
    click.echo(f"Same as: {plain}", err=True)
    become([sys.executable, "-m", "tensorboard.main", "--logdir", str(folder), "--host", host, "--port", str(port)])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 to serve other machines.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--backend-store-uri", metavar="URI", help="Runs database (default sqlite:///./mlruns/mlflow.db); postgresql://... for a shared one.")
@click.option("--artifacts-destination", metavar="URI", help="Where the server keeps artifacts (default ./mlruns/artifacts).")
@click.option("--allowed-hosts", metavar="HOSTS", help="Host names clients use to reach the server (MLflow rejects unknown ones).")
@friendly
def server(host: str, port: int, backend_store_uri: str | None, artifacts_destination: str | None, allowed_hosts: str | None) -> None:
    """Serve an MLflow tracking server (runs + artifacts) that workers on other machines share."""
    from hpsearch._locations import redact, resolve_locations
    from hpsearch.tracking import check_tracking_uri, normalize_tracking_uri

    loc = resolve_locations(None, None)
    backend = backend_store_uri or f"sqlite:///{loc.home / 'mlflow.db'}"
    if backend_store_uri is None:
        loc.home.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(backend)
    check_port_free(host, port)
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
    if not is_loopback(host):
        click.echo(f"Warning: serving on {host}:{port}: anyone who can reach it can read and change runs; keep it on a private network.", err=True)
    click.echo(f"MLflow tracking server on http://{'localhost' if is_loopback(host) else host}:{port}  (runs: {redact(backend)}; artifacts: {artifacts})")
    click.echo("Workers: hpsearch worker NAME --storage <database URL> --tracking-uri http://<this machine>:" + str(port), err=True)
    click.echo("Same as: " + redact(shlex.join(["mlflow", *cmd[3:]])), err=True)
    quiet_server()
    become(cmd)
