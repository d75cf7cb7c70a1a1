"""Commands that read a study without training: ``list``, ``show``, ``space``, ``report``,
``export`` and ``check``.

``list``, ``show``, ``space`` and ``check`` never import TensorFlow; ``export`` imports it quietly.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from hpsearch.cli._noise import native_stderr_to_log, quiet_tensorflow
from hpsearch.cli._options import WIDE, friendly, hidden_note, recorded_data_options, storage_options
from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.keys import StudyAttr

__all__ = ["check", "export", "list_", "report", "show", "space"]

#: ``space``: a domain (with its condition) wider than this is not padded to line up the knob
#: docs after it.
_SPEC_COLUMN = 60


@click.command(name="list")
@click.option("--studies", "shipped", is_flag=True, help="The study files that ship with hpsearch, one line each (no storage read).")
@WIDE
@storage_options
@friendly
def list_(shipped: bool, wide: bool, storage: str | None, tracking_uri: str | None) -> None:
    """Every study in the storage: trials by state, best value, last activity (--studies: the
    study files that ship with hpsearch)."""
    if shipped:
        _list_shipped()
        return
    import pandas as pd

    from hpsearch.results._tables import render_table, studies_frame
    from hpsearch.results._read import storage_read_only

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
        click.echo(hidden_note(hidden, "--wide shows all"), err=True)


def _list_shipped() -> None:
    """``NAME  description`` of each built-in study file (its ``description:`` line)."""
    from hpsearch.config import builtin_studies, load_study_config

    studies = builtin_studies()
    width = max(map(len, studies))
    for name in sorted(studies):
        click.echo(f"{name.ljust(width)}  {load_study_config(name).description}")
    click.echo("\nRun one with: hpsearch study NAME (hpsearch space NAME shows its search space).", err=True)


@click.command()
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), help="Only the K best trials.")
@click.option("--best", is_flag=True, help="Only the best trial (--format yaml: its params as a study file's search_space).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "yaml"]), default="table", show_default=True)
@WIDE
@storage_options
@friendly
def show(name: str, top: int | None, best: bool, fmt: str, wide: bool, storage: str | None, tracking_uri: str | None) -> None:
    """One row per trial of study NAME, best first (state, value, duration, epochs, run id, params).

    The table fits the terminal, leaving out the least important columns (--wide shows all) and
    rounding floats; csv and json carry every column, every digit and the stored types.
    A multi-objective study shows one column per objective and `pareto` (* marks the Pareto
    front); its rows and its best trial rank by the first objective.
    `--best --format yaml` prints the best params in study-file syntax, to paste into a study
    file or queue with `hpsearch enqueue`.
    """
    from hpsearch.results._tables import render_trials, to_csv, to_json, trial_table
    from hpsearch.results._read import open_read_only

    if fmt == "yaml" and not best:
        raise UsageError("--format yaml prints the best trial's params in study-file syntax; add --best.")
    study_obj, config, _ = open_read_only(name, storage)
    if fmt == "yaml":
        _echo_best_yaml(name, study_obj, config)
        return
    table = trial_table(study_obj, top=1 if best else top)
    data = _data_line(study_obj)
    if fmt == "table" and data:
        click.echo(f"Data: {data}")
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
            click.echo(hidden_note(hidden, "--wide shows all, --format csv has every digit"), err=True)


def _echo_best_yaml(name: str, study_obj: Any, config: Any) -> None:
    from hpsearch.results._params import best_params_yaml
    from hpsearch.study._ranking import best_trial

    trial = best_trial(study_obj)
    if trial is None:
        raise RuntimeFailure(f"Study {name} has no completed trial yet, so no best params; see hpsearch show {name}.")
    click.echo(best_params_yaml(name, config, trial), nl=False)


def _data_line(study_obj: Any) -> str | None:
    """One line of what the study read (recorded when it ran), or where it read it (older studies)."""
    from hpsearch.study._data_record import describe_data_source, summarize_data

    description = study_obj.user_attrs.get(StudyAttr.DATA_DESCRIPTION)
    if description:
        return summarize_data(description)
    source = study_obj.user_attrs.get(StudyAttr.DATA_SOURCE)
    return describe_data_source(source) if source else None


@click.command()
@click.argument("study")
@friendly
def space(study: str) -> None:
    """Print the resolved search space of study file STUDY (defaults included), with what each
    knob means."""
    from hpsearch.config import load_study_config
    from hpsearch.space._sample import describe

    config = load_study_config(study)
    rows = describe(config.search_space)
    docs = _knob_docs()
    width = max(len(r[0]) for r in rows)
    specs = [dist + (f"    [if {cond}]" if cond else "") for _, dist, cond in rows]
    column = max((len(spec) for spec in specs if len(spec) <= _SPEC_COLUMN), default=0)
    click.echo(f"# {config.source}")
    for (name, _, _), spec in zip(rows, specs):
        doc = docs.get(name)
        click.echo(f"{name:<{width}}  {spec:<{column}}  # {doc}" if doc else f"{name:<{width}}  {spec}")


def _knob_docs() -> dict[str, str]:
    """Optuna parameter name -> what the knob means (``Knob.doc``), for every knob of the catalog."""
    from hpsearch.catalog import CONDITIONAL_ROLES, GROUP_ROLES, MODELS, OPTIONAL_CONDITIONAL_ROLES, SCALAR_ROLES, param_name

    docs = {role: knob.doc for role, knob in SCALAR_ROLES.items()}
    for name in MODELS:  # a family's knobs (architecture.conv_blocks, ...)
        role = getattr(MODELS.option(name), "role", "")
        docs.update({param_name(role, knob): spec.doc for knob, spec in MODELS[name].items() if role})
    for branches in (*(table for table, _ in CONDITIONAL_ROLES.values()), *OPTIONAL_CONDITIONAL_ROLES.values()):
        for branch, knobs in branches.items():
            docs.update({param_name(branch, name): knob.doc for name, knob in knobs.items()})
    for role, knobs in GROUP_ROLES.items():
        docs.update({param_name(role, name): knob.doc for name, knob in knobs.items()})
    return docs


@click.command()
@click.argument("name")
@click.option("--output", "-o", metavar="PATH", help="Where to write the HTML file (default NAME-report.html).")
@storage_options
@friendly
def report(name: str, output: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Write a self-contained HTML report of study NAME (opens offline); also logged to MLflow."""
    from hpsearch.results._read import report_study

    path, uri, notes = report_study(name, storage, tracking_uri, output)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(f"Report written to {path}" + (f"\nLogged to MLflow: {uri}" if uri else ""))


@click.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["keras", "saved_model", "onnx", "tflite"]), default="keras", show_default=True)
@click.option("--output", "-o", metavar="PATH", help="Output file (folder for saved_model); default exported/NAME/trial-N.*")
@recorded_data_options
@click.option("--retrained", is_flag=True, help="Export the model of the newest `hpsearch retrain NAME` run (trained on training + validation data).")
@click.option(
    "--trial", "trial", type=click.IntRange(min=0), metavar="N",
    help="Export trial N instead of the best (e.g. one of a multi-objective study's Pareto front, see hpsearch show NAME).",
)
@storage_options
@friendly
@native_stderr_to_log()
def export(
    name: str, fmt: str, output: str | None, data_dir: str | None, dataset: str | None, test: str | None, retrained: bool,
    trial: int | None, storage: str | None, tracking_uri: str | None,
) -> None:
    """Export the best model of study NAME (of a multi-objective study: the best by its first
    objective; --trial N: any trial), verify it with its own runtime, register it in MLflow.

    --retrained exports the model `hpsearch retrain NAME` trained instead (the newest retrain run).
    """
    quiet_tensorflow()
    from hpsearch._locations import redact, resolve_locations
    from hpsearch.results._read import export_study

    result = export_study(
        name, storage=storage, tracking_uri=tracking_uri, fmt=fmt, output=output, data_dir=data_dir, dataset=dataset, test=test,
        retrained=retrained, trial=trial,
    )
    if result.data_note:
        click.echo(f"Note: {result.data_note}", err=True)
    for note in result.retrained_notes:
        click.echo(f"Note: {note}.", err=True)
    from hpsearch.results._tables import test_summary

    if result.retrained_run:
        which = f"Retrained trial {result.trial_number} (run {result.retrained_run})"
    elif result.chosen:
        which = f"Trial {result.trial_number} (--trial)"
    else:
        which = f"Best trial {result.trial_number}"
        if result.multi_objective:
            which += f" (by {result.objective}, the first objective; --trial N exports another)"
    click.echo(f"{which}: test {test_summary(result.test_metrics, result.objective)}")
    click.echo(f"Wrote {result.fmt} model to {result.output}")
    click.echo(
        f"Verified: reloaded with the {result.fmt} runtime, predictions on {result.checked_images} test {result.checked_what} "
        f"match Keras within {result.max_abs_diff:.1e}"
    )
    click.echo(f"Registered in the MLflow Model Registry as '{name}' version {result.model_version} ({result.notes[0]})")
    store = shlex.quote(redact(resolve_locations(storage, tracking_uri).tracking_uri))
    click.echo(
        f"Load it with mlflow.pyfunc.load_model('{result.model_uri}'), or serve it:\n"
        f"  MLFLOW_TRACKING_URI={store} mlflow models serve -m {result.model_uri} --env-manager local"
    )


@click.command()
@click.argument("name")
@storage_options
@friendly
def check(name: str, storage: str | None, tracking_uri: str | None) -> None:
    """Verify that every finished trial of NAME has exactly one matching MLflow run (exit 1 if not)."""
    from hpsearch.results._read import check_study

    finished, runs, problems = check_study(name, storage, tracking_uri)
    if not problems:
        click.echo(f"Study {name}: consistent. {finished} finished trials, {runs} trial runs in MLflow; every finished trial has exactly one run with its params, state, value and model.")
        return
    click.echo(f"Study {name}: {len(problems)} problem(s) ({finished} finished trials, {runs} trial runs):")
    for problem in problems:
        click.echo(f"  {problem}")
    sys.exit(1)
