"""Tables: best-first ordering, state counts, and speed on a 1,000-trial study without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.results._tables import format_duration, studies_frame, trials_frame
from hpsearch.cli import main

DIST = {"learning_rate": FloatDistribution(1e-4, 1e-1, log=True), "optimizer": CategoricalDistribution(["adam", "sgd"])}


def add(study: optuna.Study, state: TrialState, value: float | None = None, **attrs) -> None:
    study.add_trial(
        create_trial(
            state=state,
            value=value,
            params={"learning_rate": 0.01, "optimizer": "adam"},
            distributions=DIST,
            user_attrs=attrs,
            intermediate_values={0: value} if state == TrialState.PRUNED else None,
        )
    )


def test_trials_are_ordered_best_first() -> None:
    study = optuna.create_study(direction="maximize")
    add(study, TrialState.COMPLETE, 0.5, epochs_trained=4)
    add(study, TrialState.PRUNED, 0.9, epochs_trained=1)
    add(study, TrialState.COMPLETE, 0.7, epochs_trained=4)
    add(study, TrialState.FAIL, None, fail_reason="diverged")
    frame = trials_frame(study)
    assert list(frame["number"]) == [2, 0, 1, 3]
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    assert frame.loc[3, "fail_reason"] == "diverged" and list(frame.columns[-2:]) == ["learning_rate", "optimizer"]
    assert list(trials_frame(study, top=2)["number"]) == [2, 0]


def mixed_study(storage: str) -> optuna.Study:
    """Trial 0: an int param the others lack and many-digit floats; trial 1: failed after
    3 reported epochs, without an ``epochs_trained`` attr (as an interrupted trial is left)."""
    study = optuna.create_study(study_name="mixed", storage=storage, direction="maximize")
    study.set_user_attr("hpsearch.config", {})
    dist = {**DIST, "sgd.momentum": FloatDistribution(0.5, 0.99), "step.every_epochs": IntDistribution(1, 10)}
    study.add_trial(
        create_trial(
            value=0.123456789012345,
            params={"learning_rate": 0.012345678901234, "optimizer": "sgd", "sgd.momentum": 0.8405315363456789, "step.every_epochs": 5},
            distributions=dist,
            user_attrs={"epochs_trained": 4},
        )
    )
    study.add_trial(
        create_trial(
            state=TrialState.FAIL,
            params={"learning_rate": 0.01, "optimizer": "adam"},
            distributions=DIST,
            user_attrs={"fail_reason": "interrupted (Ctrl-C)"},
            intermediate_values={0: 0.1, 1: 0.2, 2: 0.3},
        )
    )
    return study


def test_machine_formats_keep_full_precision_and_stored_types(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    mixed_study(storage)
    shown = CliRunner().invoke(main, ["show", "mixed", "--format", "json", "--storage", storage])
    assert shown.exit_code == 0, shown.output
    first, failed = json.loads(shown.output)
    assert first["sgd.momentum"] == 0.8405315363456789 and first["learning_rate"] == 0.012345678901234
    assert first["value"] == 0.123456789012345
    assert first["step.every_epochs"] == 5 and type(first["step.every_epochs"]) is int
    assert type(first["number"]) is int and type(first["epochs"]) is int and first["epochs"] == 4
    assert failed["step.every_epochs"] is None and failed["value"] is None
    assert failed["epochs"] == 3  # the epochs it trained before it stopped, not null

    shown = CliRunner().invoke(main, ["show", "mixed", "--format", "csv", "--storage", storage])
    assert shown.exit_code == 0, shown.output
    header, first_line, failed_line = shown.output.splitlines()
    row = dict(zip(header.split(","), first_line.split(",")))
    assert row["sgd.momentum"] == "0.8405315363456789" and row["learning_rate"] == "0.012345678901234"
    assert row["value"] == "0.123456789012345"
    assert row["step.every_epochs"] == "5" and row["epochs"] == "4"
    row = dict(zip(header.split(","), failed_line.split(",")))
    assert row["epochs"] == "3" and row["step.every_epochs"] == "" and row["fail_reason"] == "interrupted (Ctrl-C)"


def test_the_table_shows_the_epochs_a_failed_trial_trained(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    mixed_study(storage)
    shown = CliRunner().invoke(main, ["show", "mixed", "--storage", storage])
    assert shown.exit_code == 0, shown.output
    failed = next(line for line in shown.stdout.splitlines() if "FAIL" in line)
    assert " 3 " in failed and "nan" not in shown.stdout and "None" not in shown.stdout


def wide_study(storage: str, n_params: int = 14) -> None:
    study = optuna.create_study(study_name="wide", storage=storage, direction="maximize")
    study.set_user_attr("hpsearch.config", {})
    names = [f"branch{i}.a_long_parameter_name" for i in range(n_params)]
    dists = {name: FloatDistribution(0, 1) for name in names}
    for k in range(3):
        study.add_trial(
            create_trial(
                value=0.1 * k,
                params={"optimizer": "sgd", **{name: 0.123456 + k for name in names}},
                distributions={"optimizer": CategoricalDistribution(["adam", "sgd"]), **{n: FloatDistribution(0, 3) for n in dists}},
                user_attrs={"epochs_trained": 2, "mlflow_run_id": f"{k:032x}"},
            )
        )


def test_tables_fit_the_terminal_and_wide_shows_every_column(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    wide_study(storage)
    for args in (["show", "wide"], ["list"]):
        result = CliRunner().invoke(main, [*args, "--storage", storage], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(map(len, lines)) <= 80, result.stdout
    shown = CliRunner().invoke(main, ["show", "wide", "--storage", storage], env={"COLUMNS": "80"})
    header = shown.stdout.splitlines()[0].split()
    assert header[:6] == ["trial", "state", "val_accuracy", "epochs", "duration", "optimizer"]  # the top-level param first
    assert "columns not shown to fit the terminal" in shown.stderr and "--wide shows all" in shown.stderr

    wide = CliRunner().invoke(main, ["show", "wide", "--wide", "--storage", storage], env={"COLUMNS": "80"})
    assert wide.exit_code == 0, wide.output
    header = wide.stdout.splitlines()[0]
    assert {f"branch{i}.a_long_parameter_name" for i in range(14)} <= set(header.split()) and "mlflow run" in header
    assert max(map(len, wide.stdout.splitlines())) > 300 and wide.stderr == ""


def test_study_rows_count_states() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="a", storage=storage, direction="minimize")
    add(study, TrialState.COMPLETE, 0.3)
    add(study, TrialState.COMPLETE, 0.1)
    add(study, TrialState.PRUNED, 0.2)
    row = studies_frame(storage).iloc[0]
    assert (row["study"], row["complete"], row["pruned"], row["best_value"]) == ("a", 2, 1, 0.1)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 5, 75, 3725)] == ["", "5s", "1m15s", "1h02m05s"]


@pytest.mark.slow
def test_list_and_show_are_fast_on_a_thousand_trials_without_tensorflow(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="big", storage=storage, direction="maximize")
    study.set_user_attr("hpsearch.config", {"budget": {"trials": 1000}})
    rng = __import__("random").Random(0)
    study.add_trials(
        [
            create_trial(
                state=TrialState.COMPLETE,
                value=rng.random(),
                params={"learning_rate": 10 ** rng.uniform(-4, -1), "optimizer": rng.choice(["adam", "sgd"])},
                distributions=DIST,
                user_attrs={"epochs_trained": 10, "mlflow_run_id": f"{i:032x}"},
            )
            for i in range(1000)
        ]
    )
    code = (
        "import sys, time, json\n"
        "from click.testing import CliRunner\n"
        "from hpsearch.cli import main\n"
        "out = {}\n"
        "for args in (['show', 'big', '--format', 'json'], ['list'], ['show', 'big']):\n"
        f"    t = time.perf_counter(); r = CliRunner().invoke(main, args + ['--storage', {storage!r}])\n"
        "    assert r.exit_code == 0, r.output\n"
        "    out[args[0] + ('-json' if 'json' in args else '')] = (time.perf_counter() - t, len(r.output))\n"
        "out['tensorflow'] = 'tensorflow' in sys.modules; out['mlflow'] = 'mlflow' in sys.modules\n"
        "print(json.dumps(out))"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["tensorflow"] is False and out["mlflow"] is False
    assert out["show-json"][1] > 1000 * 50  # every trial is there
    assert out["show-json"][0] < 5 and out["list"][0] < 5 and out["show"][0] < 5, out
    assert time.perf_counter() - start < 30
    print(out)


# ----------------------------------------------------------------------------- the one ranking


def test_one_ranking_best_first_in_the_study_direction_and_none_without_a_completed_trial() -> None:
    from hpsearch.study._ranking import best_trial, best_value, ranked

    for direction, best in (("maximize", 0.9), ("minimize", 0.1)):
        study = optuna.create_study(direction=direction)
        assert best_trial(study) is None and best_value(study.trials, study.direction) is None
        add(study, TrialState.PRUNED, 0.95 if direction == "maximize" else 0.01)  # pruned never wins
        add(study, TrialState.FAIL)
        assert best_trial(study) is None
        for value in (0.5, 0.9, 0.1, 0.9):
            add(study, TrialState.COMPLETE, value)
        assert best_trial(study).value == best and best_trial(study).number == (3 if best == 0.9 else 4)  # ties: first trial
        assert best_trial(study).number == study.best_trial.number  # as Optuna
        assert [t.value for t in ranked(study.trials, study.direction, top=2)] == ([0.9, 0.9] if best == 0.9 else [0.1, 0.5])
        assert best_value(study.trials, study.direction) == best


def test_equal_values_rank_by_the_tie_breaker_at_the_best_epoch() -> None:
    """126 validation images give accuracy in steps of 0.8%, so several trials often share the best
    value; the one with the lower val_loss at its best epoch ranks first (none recorded: last)."""
    from hpsearch.keys import TrialAttr
    from hpsearch.study._ranking import best_trial, ranked

    study = optuna.create_study(direction="maximize")
    add(study, TrialState.COMPLETE, 1.0)  # no tie-breaker recorded (a study from before it was)
    add(study, TrialState.COMPLETE, 1.0, **{TrialAttr.TIE_BREAK: 0.30})
    add(study, TrialState.COMPLETE, 0.9, **{TrialAttr.TIE_BREAK: 0.01})  # a lower loss never beats a higher value
    add(study, TrialState.COMPLETE, 1.0, **{TrialAttr.TIE_BREAK: 0.12})
    assert [t.number for t in ranked(study.trials, study.direction)] == [3, 1, 0, 2]
    assert best_trial(study).number == 3
