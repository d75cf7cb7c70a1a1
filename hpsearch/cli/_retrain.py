"""``hpsearch retrain NAME``: the best trial's params trained on training + validation data, tested,
recorded as its own MLflow run (see :mod:`hpsearch.study._retrain`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from hpsearch.cli._noise import native_stderr_to_log
from hpsearch.cli._options import friendly, recorded_data_options, storage_options

__all__ = ["retrain"]

#: How the epoch count was chosen, as the header says it.
_EPOCHS_FROM = {
    "best_epoch": "its best epoch",
    "epochs_trained": "the epochs it trained",
    "max_epochs": "the study's training.max_epochs",
    "--epochs": "--epochs",
}


@click.command()
@click.argument("name")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs to train (default: the trial's best epoch).")
@click.option("--trial", type=click.IntRange(min=0), help="Retrain this completed trial instead of the best (e.g. another Pareto-optimal one).")
@recorded_data_options
@storage_options
@friendly
@native_stderr_to_log()
def retrain(name: str, epochs: int | None, trial: int | None, data_dir: str | None, dataset: str | None, test: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Train the best params of study NAME (or --trial N's) on training + validation data, test it,
    record it in MLflow.

    It trains for the epochs the trial needed (its best epoch; --epochs overrides) with the
    trial's seed and no early stopping (no validation data is left), evaluates on the test set and
    logs a run tagged hpsearch.role=retrain under the study. Each retrain is a new run;
    `hpsearch export NAME --retrained` exports the newest.
    """
    from hpsearch.cli._noise import quiet_optuna, quiet_tensorflow
    from hpsearch.study._workers import install_sigterm_handler

    quiet_tensorflow()
    quiet_optuna()
    install_sigterm_handler()
    from hpsearch.results._retrain import open_retrain, run_retrain
    from hpsearch.study._workers import configure_gpus

    plan = open_retrain(name, storage=storage, tracking_uri=tracking_uri, data_dir=data_dir, dataset=dataset, test=test, epochs=epochs, trial=trial)
    if plan.data_note:
        click.echo(f"Note: {plan.data_note}", err=True)
    click.echo(
        f"Retraining trial {plan.trial.number} of study {name} ({_best_value(plan)}) on training + validation data: "
        f"{plan.examples} examples, {_epochs(plan.epochs)} ({_EPOCHS_FROM.get(plan.epochs_from, plan.epochs_from)}), "
        f"seed {plan.config.seed}.",
        err=True,
    )
    configure_gpus()
    reporter = _reporter(plan)
    try:
        result = run_retrain(plan, reporter)
        reporter.advance()
    except KeyboardInterrupt as stop:
        from hpsearch.cli._messages import signal_name

        reporter.close()
        click.echo(
            f"\nRetrain stopped by {signal_name(stop)}: its MLflow run, if it had started, is marked KILLED "
            "(export --retrained skips it). Run the same command to retrain.",
            err=True,
        )
        sys.exit(130)
    finally:
        reporter.close()
    _print_result(name, plan, result, storage, tracking_uri)


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _best_value(plan: Any) -> str:
    """``val_accuracy = 0.8125``; a multi-objective study's first objective (by which it is best),
    a count as an integer: ``params = 8434, the first objective``."""
    from hpsearch.catalog import MEASURED

    metric, value = plan.config.all_objectives()[0].metric, plan.trial.values[0]
    shown = f"{value:.6g}" if metric in MEASURED else f"{value:.4f}"
    return f"{metric} = {shown}" + (", the first objective" if plan.config.multi_objective else "")


def _reporter(plan: Any) -> Any:
    from hpsearch.cli._progress import TerminalReporter

    train_metric = plan.config.objective.metric.removeprefix("val_")  # no validation data: its training twin
    return TerminalReporter(total=1, metric=train_metric, max_epochs=plan.epochs, label="retrain of trial")


def _print_result(name: str, plan: Any, result: Any, storage: str | None, tracking_uri: str | None) -> None:
    from hpsearch._locations import resolve_locations
    from hpsearch.cli._messages import location_flags
    from hpsearch.results._tables import test_summary

    metric = plan.config.objective.metric
    click.echo(
        f"Retrained trial {result.source_trial}: {_epochs(result.epochs)} on {result.examples} examples "
        f"({result.steps_per_epoch} steps per epoch); test {test_summary(result.test_metrics, metric)}"
    )
    if result.search_test:
        searched = (
            "the study's model of it, trained the same way when the search ended"
            if plan.config.folds
            else "its best checkpoint from the search, trained on the training split only"
        )
        click.echo(f"  ({searched}: test {test_summary(result.search_test, metric)})")
    click.echo(f"MLflow run {result.run_id} in experiment '{name}' (tag hpsearch.role=retrain)")
    if result.earlier_runs:
        click.echo(f"Note: {result.earlier_runs} earlier retrain run(s) of this study are kept; export --retrained uses the newest (this one).", err=True)
    flags = location_flags(resolve_locations(storage, tracking_uri))
    click.echo(f"Export:  hpsearch export {name} --retrained{flags}")
