"""``hpsearch lr-find``: the LR range test of a study (see :mod:`hpsearch.study._lr_find`)."""

from __future__ import annotations

from typing import Any

import click

from hpsearch.cli._options import friendly, storage_options

__all__ = ["lr_find"]


@click.command("lr-find")
@click.argument("study")
@click.option("--optimizer", metavar="NAME", help="Optimizer to test, one of the study's (default: the first it declares).")
@click.option("--steps", type=click.IntRange(min=5), default=100, show_default=True, help="Batches of the test (at most two epochs' worth).")
@click.option("--start-lr", type=click.FloatRange(min=0, min_open=True), metavar="LR", help="First rate (default: the study's learning_rate low / 100, else 1e-7).")
@click.option("--end-lr", type=click.FloatRange(min=0, min_open=True), metavar="LR", help="Last rate (default: the study's learning_rate high * 100, else 10).")
@click.option("--subset", type=click.IntRange(min=2), metavar="N", help="Use only the first N training images.")
@click.option("--dataset", metavar="NAME|PATH", help="The dataset (overrides the study file's dataset:).")
@click.option("--data-dir", metavar="DIR", help="Folder with the files Keras would download for a dataset by name (no download).")
@click.option("--target", metavar="COLUMN", help="CSV: the target column.")
@click.option("--test", metavar="FILE.csv", help="CSV: a test table.")
@storage_options
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), help="Seed for the split and weights (default: the study's, else 0).")
@click.option("--study-name", metavar="NAME", help="Name of the study, whose MLflow experiment gets the run (default: the file's name).")
@click.option("--plot", metavar="FILE.png", help="Where the plot goes (default: $HPSEARCH_HOME/lr_find/NAME/OPTIMIZER.png).")
@click.option("--apply", "apply_", is_flag=True, help="Write a copy of the study file with learning_rate narrowed to the suggested bounds.")
@click.option("-o", "--output", metavar="FILE.yaml", help="Where --apply writes the copy (default: NAME.lr.yaml next to the study file).")
@friendly
def lr_find(apply_: bool, output: str | None, **options: Any) -> None:
    """Estimate a good learning-rate range for STUDY (a name or a YAML path) with an LR range test.

    Trains the study's model once, for --steps batches, at a typical point of its search space
    (printed) with the learning rate growing exponentially per batch, and stops when the loss
    diverges. Prints the suggested bounds, draws loss vs rate to a PNG and records an MLflow run
    (role lr_find) in the study's experiment. No Optuna trial is written.
    """
    from hpsearch.cli._noise import quiet_optuna, quiet_tensorflow

    quiet_tensorflow()
    quiet_optuna()
    from hpsearch.study._lr_find import LRFindRequest, apply_bounds, lr_find as run_lr_find

    result = run_lr_find(LRFindRequest(**options))
    for line in describe(result):
        click.echo(line)
    if apply_ or output:
        assert result.bounds is not None
        path, builder = apply_bounds(result.config, result.bounds, output)
        click.echo(f"\nWrote {path} (learning_rate: [{result.bounds.low:g}, {result.bounds.high:g}], log)")
        if builder is not None:
            click.echo(f"Copied the study's model builder to {builder} (the copy names it relative to its folder)")


def describe(result: Any) -> list[str]:
    """The test and its suggestion, as printed."""
    b = result.bounds
    n = len(result.rates)
    if result.diverged_at is not None:
        ended = f"stopped at batch {result.diverged_at + 1}: the loss diverged at learning rate {result.rates[result.diverged_at]:.3g}"
    else:
        ended = "ran every batch without diverging"
    limited = f" (--steps {result.limited_from} is more than two epochs give)" if result.limited_from else ""
    lines = [
        f"LR range test of {result.config.name}: {result.steps} batches{limited}, learning rate {result.start_lr:.3g} -> {result.end_lr:.3g}; {ended} ({n} batches run).",
        "  model at: " + ", ".join(f"{name}={_show(value)} ({why})" for name, value, why in result.chosen) + ", schedule='none' (the test sets the rate)",
        "",
        f"Suggested learning_rate bounds for {result.optimizer}:",
        f"  low   {b.low:.3g}   (steepest fall of the loss at {b.steepest:.3g}, / 10)",
        f"  high  {b.high:.3g}   (lowest loss at {b.lowest:.3g}, / 3)",
        "  in a study file:",
        f"    learning_rate: {{low: {b.low!r}, high: {b.high!r}, log: true}}",
        "",
        f"Plot:       {result.plot}",
        f"MLflow run: {result.run_id} (experiment {result.config.name!r}, role lr_find)",
    ]
    return lines


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
