"""What ``hpsearch study`` and ``hpsearch worker`` print: the header counts, the summary at the end,
what an interrupt stopped, and the command that resumes (passwords redacted)."""

from __future__ import annotations

import datetime
import os
import shlex
import sys
import warnings
from typing import Any

import click

from hpsearch.cli._options import hidden_note

__all__ = ["location_flags", "nothing_to_run", "print_summary", "resume_hint", "signal_name", "so_far", "stopped_message", "study_header"]


def _summary_table(summary: Any) -> str:
    from hpsearch.results._tables import render_trials, trial_table

    table = trial_table(summary.study, top=10)
    if not table.rows:
        return "(no trials)"
    text, hidden = render_trials(table, metric=summary.config.objective.metric, run_ids=False)
    note = hidden_note(hidden, f"hpsearch show {summary.config.name} --wide shows all")
    return text + (f"\n{note}" if note else "")


def _front_lines(summary: Any) -> str:
    """A multi-objective study's Pareto front: one line per trial, its values and key params."""
    from hpsearch.cli._progress import short_params
    from hpsearch.study._ranking import pareto_front

    study = summary.study
    front = pareto_front(study.get_trials(deepcopy=False), study.directions)
    names = [o.metric for o in summary.config.all_objectives()]
    wants = ", ".join(f"{o.direction[:3]} {o.metric}" for o in summary.config.all_objectives())
    lines = [f"\nPareto front ({len(front)} trial{'s' if len(front) != 1 else ''}; {wants}):"]
    for t in front:
        values = "  ".join(f"{n}={int(v) if n == 'params' else f'{v:.4g}'}" for n, v in zip(names, t.values))
        lines.append(f"  trial {t.number:>4}  {values}  {short_params(t.params, limit=4)}")
    if not front:
        lines.append("  (no completed trial yet)")
    lines.append(f"Export any of them: hpsearch export {summary.config.name} --trial N")
    return "\n".join(lines)


def print_summary(summary: Any) -> None:
    """The end of ``hpsearch study``: counts by state, the top trials, the best trial and its test
    metrics, and the commands that browse, show and export the study."""
    from hpsearch.cli._progress import short_params
    from hpsearch.study._ranking import first_value

    c = summary.counts
    metric = summary.config.objective.metric
    reasons = {"budget": "budget reached", "timeout": "timeout reached", "workers stopped": "workers stopped early"}
    click.echo(
        f"\nStudy {summary.config.name}: {c.finished}/{summary.target} finished "
        f"({c.complete} complete, {c.pruned} pruned, {c.failed} failed) - {reasons.get(summary.stop_reason, summary.stop_reason)}."
    )
    click.echo("\nTop trials:\n" + _summary_table(summary))
    if summary.config.multi_objective:
        click.echo(_front_lines(summary))
    if summary.best is not None:
        first = summary.config.all_objectives()[0].metric
        by = f" (by {first}, the first objective)" if summary.config.multi_objective else ""
        click.echo(f"\nBest trial {summary.best.number}{by}: {first} = {first_value(summary.best):.4f}")
        click.echo(f"  {short_params(summary.best.params, limit=30)}")
    test = summary.test_metrics
    if test:
        from hpsearch.results._tables import test_summary

        model = (
            f"trial {test['trial']} retrained on all training data for its best epoch count"
            if summary.config.folds
            else f"best checkpoint of trial {test['trial']}"
        )
        click.echo(f"Test set ({model}): {test_summary(test, metric)}")
    flags = location_flags(summary.locations)
    click.echo(
        f"\nBrowse:  hpsearch ui{flags}   (experiment '{summary.config.name}')\n"
        f"Table:   hpsearch show {summary.config.name}{flags}\n"
        f"Export:  hpsearch export {summary.config.name}{flags}"
    )


def location_flags(locations: Any) -> str:
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


def resume_hint(trials: int | None = None) -> str:
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


def so_far(counts: Any) -> str:
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


def study_header(config: Any, locations: Any, counts: Any) -> str:
    """The lines ``hpsearch study`` starts with: target, trials so far, where it is stored, its seed."""
    where = locations.describe()
    return (
        f"Study {config.name}: target {config.budget.trials} finished trials, up to "
        f"{config.training.max_epochs} epochs each; {so_far(counts)}.\n"
        f"  storage  {where['storage']}\n  tracking {where['tracking']}\n  seed     {config.seed} (--seed {config.seed} reproduces this study)"
    )


def nothing_to_run(config: Any, study_obj: Any, counts: Any) -> tuple[str, str]:
    """What to say when a study already has its finished trials: that, its best, how to add more."""
    from hpsearch.study._ranking import best_trial, first_value

    best = best_trial(study_obj)
    first = config.all_objectives()[0].metric
    shown = f" Best: trial {best.number}, {first} = {first_value(best):.4f}." if best is not None else ""
    more = max(10, counts.finished // 2)
    return (
        f"Study {config.name} already has {counts.finished} finished trials (target {config.budget.trials}): nothing to run.{shown}",
        f"To run {more} more trials, raise the total with --trials:\n  {resume_hint(trials=counts.finished + more)}",
    )


def signal_name(stop: BaseException) -> str:
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


def stopped_message(stop: BaseException, study_obj: Any, config: Any, locations: Any, since: datetime.datetime) -> str:
    """What an interrupt stopped (the study, each trial and its epoch), what became of it, and the
    command that resumes."""
    from hpsearch.results._tables import interrupted_since
    from hpsearch.study._loop import count_trials
    from hpsearch.study._open import target_trials

    what = signal_name(stop)
    resume = f"Resume with:\n  {resume_hint()}"
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
    lines.append(f"Study {name}: {so_far(counts)} (target {target_trials(study_obj, config)}).")
    return "\n".join([*lines, resume])

