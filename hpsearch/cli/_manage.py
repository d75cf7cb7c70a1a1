"""Commands that manage a study without training it: ``enqueue`` (param sets to run first),
``delete`` (the study and everything it left) and ``dashboard`` (optuna-dashboard on its storage).

None of them imports TensorFlow.
"""

from __future__ import annotations

import click

from hpsearch.cli._options import friendly, storage_options

__all__ = ["dashboard", "delete", "enqueue"]


@click.command()
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@storage_options
@friendly
def enqueue(name: str, file: str, storage: str | None, tracking_uri: str | None) -> None:
    """Queue the param sets of FILE.yaml to run first in study NAME.

    FILE holds one set or a list of them, each written like a study file's search_space with
    fixed values (what `hpsearch show NAME --best --format yaml` prints) or with the flat names
    `show` uses (sgd.momentum: 0.9). Parameters a set leaves out are sampled as usual. Every
    value is checked against the study's search space before anything is queued.
    """
    from hpsearch.results._params import enqueue_param_sets, read_param_sets
    from hpsearch.results._read import open_read_only

    study_obj, config, _ = open_read_only(name, storage)
    sets = read_param_sets(file, config)
    queued, skipped = enqueue_param_sets(study_obj, sets, file)
    note = f" ({skipped} already queued or run, skipped)" if skipped else ""
    click.echo(f"Queued {queued} param set(s) in study {name}{note}; they run first when the study or a worker runs next.")


@click.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking (scripts).")
@storage_options
@friendly
def delete(name: str, yes: bool, storage: str | None, tracking_uri: str | None) -> None:
    """Delete study NAME for good: its Optuna study, its MLflow experiment with every run,
    logged model and artifact, its registered model versions, its resume checkpoints and
    gathered TensorBoard logs, the plots lr-find drew. Other studies are not touched. A name
    with no Optuna study deletes what lr-find left for it (when its MLflow runs are all LR
    range tests).

    Lists what goes and asks first (--yes skips the question; answering no exits 1 with
    "Aborted!" and changes nothing). A study with a live worker is refused.
    """
    from hpsearch.study._delete import delete_study, plan_deletion

    plan = plan_deletion(name, storage, tracking_uri)
    click.echo(f"Deleting study {name} removes, for good:")
    for line in plan.lines():
        click.echo(f"  {line}")
    for note in plan.notes:
        click.echo(f"Note: {note}")
    if not yes:
        click.confirm(f"Delete study {name}?", abort=True)
    delete_study(plan)
    click.echo(plan.summary())


@click.command()
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@storage_options
@friendly
def dashboard(name: str, host: str, port: int, storage: str | None, tracking_uri: str | None) -> None:
    """Start optuna-dashboard on study NAME's storage: history, importances, slices, updated live
    while workers run (needs the optional extra: pip install "hpsearch[dashboard]")."""
    import importlib.util

    from hpsearch._errors import UsageError
    from hpsearch._locations import redact
    from hpsearch.cli._serve import check_port_free, is_loopback, serve_wsgi
    from hpsearch.results._read import open_read_only

    if importlib.util.find_spec("optuna_dashboard") is None:
        raise UsageError('optuna-dashboard is not installed; run pip install "hpsearch[dashboard]".')
    study_obj, _, locations = open_read_only(name, storage)
    check_port_free(host, port)
    if not is_loopback(host):
        click.echo(f"Warning: binding to {host}: anyone who can reach this machine on port {port} can read and change your studies.", err=True)
    shown = "localhost" if is_loopback(host) else host
    click.echo(f"optuna-dashboard for {redact(locations.storage_url)} on http://{shown}:{port}  (Ctrl-C to stop)")
    click.echo(f"  study {name}: http://{shown}:{port}/dashboard/studies/{study_obj._study_id}")
    from optuna_dashboard import wsgi

    serve_wsgi(wsgi(locations.storage_url), host, port)
    click.echo("Dashboard stopped.")
