"""Study files -> frozen configs: defaults, round trips, and one clear line per mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hpsearch.config import (
    Choice,
    check_schedules_act,
    Fixed,
    Range,
    builtin_studies,
    load_study_config,
    parse_study_dict,
    resolve_study_file,
    validate_study_name,
)
from hpsearch._errors import UsageError


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_cifar10_is_shipped_and_valid() -> None:
    assert "cifar10" in builtin_studies()
    config = load_study_config("cifar10")
    assert config.name == "cifar10"
    assert config.objective.metric == "val_accuracy" and config.objective.direction == "maximize"
    space = config.search_space
    assert space.optimizer.names == ("sgd", "adam", "rmsprop", "nadam", "adagrad", "adadelta")
    assert set(space.schedule.names) == {
        "none", "exponential", "natural_exp", "inverse_time", "polynomial", "cosine", "multistep", "reduce_on_plateau",
    }
    assert space.regularizer.names == ("none", "l1", "l2", "l1_l2")
    assert isinstance(space.learning_rate, Range) and space.learning_rate.log
    assert space.batch_norm == Choice(("none", "before_activation", "after_activation"))
    assert "sgd.momentum" in space.searched() and "l1_l2.l2" in space.searched()


def test_round_trip_through_dict_is_lossless() -> None:
    config = load_study_config("cifar10")
    again = parse_study_dict(config.to_dict(), name="cifar10", source=config.source)
    assert again == config


@pytest.mark.parametrize(
    "objective", ["val_mae", {"val_mae": "minimize"}, {"metric": "val_mae"}, {"metric": "val_mae", "direction": "minimize"}]
)
def test_the_objective_short_forms_mean_the_long_one(objective: object) -> None:
    """``objective: val_mae`` and ``objective: {val_mae: minimize}`` (as ``objectives:`` entries are
    written) are the same study as the long form: same stored form, same identity."""
    from hpsearch.config import parse_study_dict

    def parse(o: object):
        return parse_study_dict({"dataset": "t.csv", "objective": o}, name="t", source="t.yaml")

    long = parse({"metric": "val_mae", "direction": "minimize"})
    short = parse(objective)
    assert short.objective == long.objective and short.identity() == long.identity()
    assert short.to_dict()["objective"] == {"metric": "val_mae", "direction": "minimize"}


def test_identity_ignores_budget_but_not_search_space() -> None:
    config = load_study_config("cifar10")
    assert config.with_overrides(trials=3, timeout=60).identity() == config.identity()
    assert config.with_overrides(max_epochs=2).identity() != config.identity()
    assert config.with_overrides(subset=100).identity() != config.identity()


ENQUEUE_SPACE = """
search_space:
  optimizer:
    adam: {}
    sgd:
      momentum: {low: 0.5, high: 0.99}
  learning_rate: {low: 1.0e-4, high: 1.0e-1, log: true}
"""


def test_enqueue_sets_are_checked_against_the_space_and_are_not_the_study_identity(tmp_path: Path) -> None:
    text = ENQUEUE_SPACE + "enqueue:\n  - {optimizer: adam, learning_rate: 1.0e-3}\n  - optimizer: {sgd: {momentum: 0.9}}\n"
    config = load_study_config(str(write(tmp_path, text)))
    assert config.queued_params() == [{"optimizer": "adam", "learning_rate": 0.001}, {"optimizer": "sgd", "sgd.momentum": 0.9}]
    assert parse_study_dict(config.to_dict(), name=config.name, source=config.source) == config  # stored and read back
    plain = load_study_config(str(write(tmp_path, ENQUEUE_SPACE)))
    assert "enqueue" not in plain.to_dict() and plain.identity() == config.identity()  # the list may change between runs


@pytest.mark.parametrize(
    ("enqueue", "message"),
    [
        ("3", "enqueue: expected a list of param sets ({parameter: value} mappings), got 3."),
        ("[{learning_rate: 1.0}]", "enqueue: set 1: learning_rate: 1.0 is outside the study's range [0.0001, 0.1]."),
        ("[{optimizer: adam}, {lr: 0.1}]", "enqueue: set 2: lr: not a parameter of the search space (parameters: optimizer, learning_rate,"),
        ("[{optimizer: {sgd: {momentum: 0.1}}}]", "enqueue: set 1: sgd.momentum: 0.1 is outside the study's range [0.5, 0.99]."),
    ],
)
def test_a_bad_enqueue_set_is_one_line(tmp_path: Path, enqueue: str, message: str) -> None:
    path = write(tmp_path, ENQUEUE_SPACE + f"enqueue: {enqueue}\n")
    with pytest.raises(UsageError) as raised:
        load_study_config(str(path))
    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_omitted_entries_are_fixed_at_defaults(tmp_path: Path) -> None:
    config = load_study_config(str(write(tmp_path, "search_space:\n  learning_rate: {low: 1e-4, high: 1e-2, log: true}\n")))
    space = config.search_space
    assert space.searched() == ["learning_rate"]
    assert space.optimizer.names == ("adam",)
    assert dict(space.optimizer.branch("adam").knobs)["beta_1"] == Fixed(0.9)
    assert space.dropout == Fixed(0.25)
    # `1e-4` without a dot is a float here (plain YAML 1.1 would read a string).
    assert space.learning_rate == Range(1e-4, 1e-2, log=True)


def test_narrow_fix_and_remove(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        search_space:
          optimizer:
            sgd: {momentum: 0.95, nesterov: [true, false]}
            adam: {}
          schedule: cosine
          batch_size: [64]
          dropout: {low: 0.1, high: 0.2, step: 0.05}
        """,
    )
    space = load_study_config(str(path)).search_space
    assert dict(space.optimizer.branch("sgd").knobs) == {"momentum": Fixed(0.95), "nesterov": Choice((True, False))}
    assert space.schedule.names == ("cosine",)
    assert space.batch_size == Fixed(64)
    assert space.dropout == Range(0.1, 0.2, step=0.05)
    assert "sgd.momentum" not in space.searched() and "sgd.nesterov" in space.searched()


def test_hyphenated_names_are_accepted(tmp_path: Path) -> None:
    space = load_study_config(str(write(tmp_path, "search_space:\n  schedule: [natural-exp, inverse-time]\n"))).search_space
    assert space.schedule.names == ("natural_exp", "inverse_time")


BAD_FILES = [
    ("search_space: [unclosed\n", "invalid YAML"),
    ("trails: 3\n", "trails: unknown key (did you mean 'budget.trials'?)"),
    ("max_epoch: 3\n", "max_epoch: unknown key (did you mean 'training.max_epochs'?)"),
    ("budget:\n  trails: 3\n", "budget.trails: unknown key (did you mean 'trials'?)"),
    ("budget:\n  trials: three\n", "budget.trials: expected an integer in [1, inf], got 'three'"),
    ("training:\n  max_epochs: 0\n", "training.max_epochs: expected an integer in [1, inf], got 0"),
    ("search_space:\n  learning_rate: {low: 0.1, high: 0.001}\n", "`low <= high` must hold, but got (low=0.1, high=0.001)"),
    ("search_space:\n  dropout: {low: 0.0, high: 0.5, log: true}\n", "`low > 0` must hold for a log range, but got (low=0.0)"),
    ("search_space:\n  optimizer: [adam, sgdd]\n", "unknown choice 'sgdd' (did you mean 'sgd'?)"),
    ("search_space:\n  schedule: cosinus\n", "unknown choice 'cosinus' (did you mean 'cosine'?)"),
    ("search_space:\n  initializer: he_unifrom\n", "unknown value 'he_unifrom' (did you mean 'he_uniform'?)"),
    ("search_space:\n  regularizer: [l3]\n", "unknown choice 'l3'"),
    ("search_space:\n  batch_norm: [before]\n", "unknown value 'before'"),
    ("search_space:\n  optimizer: []\n", "empty choice list"),
    ("search_space:\n  batch_size: []\n", "empty choice list"),
    ("search_space:\n  optimizer:\n    sgd: {momentom: 0.9}\n", "search_space.optimizer.sgd.momentom: unknown key (did you mean 'momentum'?)"),
    ("search_space:\n  dropout: 1.5\n", "search_space.dropout: expected a number in [0, 1), got 1.5"),
    ("search_space:\n  batch_size: {low: 16, high: 64.5}\n", "search_space.batch_size.high: expected an integer"),
    ("search_space:\n  initializer: {low: 1, high: 2}\n", "a low/high range needs a numeric parameter"),
    ("search_space:\n  dropout: {low: 0.1, high: 0.2, step: 0.05, log: true}\n", "`step` and `log: true` cannot be combined"),
    ("search_space:\n  dropout: {low: 0.0, high: 0.5, step: 0.7}\n", "search_space.dropout: `step <= high - low` must hold, but got (step=0.7, high - low=0.5)"),
    ("search_space:\n  dropout: {low: 0.0, high: 0.5, step: 0.2}\n", "search_space.dropout: `high - low` must be a multiple of `step`, but got (low=0.0, high=0.5, step=0.2); Optuna would silently sample only up to 0.4. Use high: 0.4 or high: 0.6"),
    ("search_space:\n  batch_size: {low: 16, high: 100, step: 16}\n", "search_space.batch_size: `high - low` must be a multiple of `step`"),
    ("search_space:\n  optimizer:\n    sgd: {momentum: {low: 0.8, high: 0.9, step: 0.5}}\n", "search_space.optimizer.sgd.momentum: `step <= high - low` must hold"),
    ("objective:\n  metric: val_acc\n", "the model does not produce 'val_acc' (did you mean 'val_accuracy'?)"),
    ("objective:\n  metrc: val_loss\n", "objective.metrc: unknown key (did you mean 'metric'?)"),
    ("objective: {val_accuracy: up}\n", "objective.val_accuracy: unknown key"),
    ("objective:\n  metric: val_loss\n  direction: maximize\n", "maximize val_loss would select the worst models"),
    ("dataset: minst\n", "dataset: 'minst' is neither a known name nor an existing folder or file (did you mean 'mnist'?); use cifar10, cifar100"),
    ("dataset: t.csv\nimage_size: 8\n", "image_size: does not apply to dataset t.csv (a csv source); it is for folder sources. Remove it."),
    ("data:\n  dataset: mnist\n  colour_mode: rgb\n", "data.colour_mode: unknown key (did you mean 'color_mode'?)"),
    ("dataset: mnist\ndata:\n  dataset: cifar10\n", "data.dataset: is also set at the top level"),
    ("data:\n  dataset: digits/\n  color_mode: cmyk\n", "color_mode: expected one of rgb | grayscale, got 'cmyk'"),
    ("pruner: medain\n", "unknown choice 'medain' (did you mean 'median'?)"),
    ("pruner:\n  name: threshold\n", "the threshold pruner needs `lower`, `upper` or both"),
    ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
    ("heartbeat:\n  interval: 30\n  grace_period: 10\n", "`grace_period > interval` must hold"),
    ("- just\n- a list\n", "expected a mapping at the top level"),
    ("training: 5\n", "training: expected a mapping of keys to values, got 5"),
    ("budget:\n  trials: 0\n  trails: 1\n", "budget.trails: unknown key (did you mean 'trials'?)"),  # the likely cause first
    ("subset: 1\n", "subset: expected an integer in [2, inf], got 1"),
    ("heartbeat:\n  interval: 0\n", "heartbeat.interval: expected an integer in [1, inf], got 0"),
    ("sampler:\n  name: tpe\n  n_startup: 3\n", "sampler.n_startup: unknown key (did you mean 'n_startup_trials'?)"),
    ("pruner:\n  name: percentile\n  percentile: 101\n", "pruner.percentile: expected a number in [0, 100], got 101"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m[:40] for _, m in BAD_FILES])
def test_bad_study_files_get_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_study_config(str(path))
    text_out = str(err.value)
    assert message in text_out
    assert str(path) in text_out  # says where
    assert "\n" not in text_out  # one line
    assert err.value.exit_code == 2


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_study_file("cifar10") == builtin_studies()["cifar10"]  # built-in
    (tmp_path / "studies").mkdir()
    local = write(tmp_path / "studies", "budget: {trials: 2}\n", "cifar10.yaml")
    assert resolve_study_file("cifar10") == Path("studies/cifar10.yaml")  # studies/NAME.yaml wins
    explicit = write(tmp_path, "budget: {trials: 1}\n", "cifar10")
    assert resolve_study_file("cifar10") == Path("cifar10")  # an existing path wins
    assert local.exists() and explicit.exists()


def test_unknown_study_lists_what_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="No study named 'cifar11' \\(did you mean 'cifar10'\\?\\)"):
        resolve_study_file("cifar11")
    with pytest.raises(UsageError, match="does not exist"):
        resolve_study_file("missing.yaml")


@pytest.mark.parametrize("name", ["a/b", "..", "x\\y", "up/../down", "", "-dash", "x" * 200])
def test_bad_study_names(name: str) -> None:
    with pytest.raises(UsageError):
        validate_study_name(name)


def test_overrides_are_validated() -> None:
    config = load_study_config("cifar10")
    assert config.with_overrides(trials=3, max_epochs=2, subset=100, seed=7).training.max_epochs == 2
    with pytest.raises(UsageError, match="^--trials 0: expected an integer"):
        config.with_overrides(trials=0)
    with pytest.raises(UsageError) as err:
        config.with_overrides(dataset="minst")
    message = str(err.value)  # blames the flag that carried the value, not the study file
    assert message.startswith("--dataset minst: 'minst' is neither a known name nor an existing folder or file (did you mean 'mnist'?)")
    assert config.source not in message
    with pytest.raises(UsageError, match=r"^--epochs 0: expected an integer in \[1, inf\], got 0\.$"):
        config.with_overrides(max_epochs=0)
    assert config.with_overrides(dataset="data/own.npz").data.dataset == "data/own.npz"


def test_study_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: {trials: 1}\n", "wide-net.yaml")
    assert load_study_config(str(path)).name == "wide-net"
    assert load_study_config(str(path), study_name="other").name == "other"


def test_a_binary_file_or_a_folder_is_not_a_study_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "nul.yaml").write_bytes(b"budget:\n  trials: 3\x00\x01\n")
    for path, message in (("model.yaml", "model.yaml: not a text file (byte 0x89 at offset 0 is not UTF-8)"), ("nul.yaml", "nul.yaml: not a text file (character #x0000")):
        with pytest.raises(UsageError) as err:
            load_study_config(path)
        assert str(err.value).startswith(message) and "\n" not in str(err.value) and err.value.exit_code == 2

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "wide.yaml").write_text("budget: {trials: 1}\n")
    for given in ("mine", "mine/", str(tmp_path / "mine"), "mine.yaml"):
        if given == "mine.yaml":
            (tmp_path / "mine.yaml").mkdir()
        with pytest.raises(UsageError, match=f"Study file '{given}' is a directory, not a YAML file"):
            resolve_study_file(given)
    with pytest.raises(UsageError, match=r"is a directory, not a YAML file \(it holds wide.yaml\)"):
        resolve_study_file("mine")
    (tmp_path / "cifar10").mkdir()  # a data folder named like a built-in study does not hide it
    assert resolve_study_file("cifar10") == builtin_studies()["cifar10"]


def test_an_empty_study_name_is_refused_not_replaced_by_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: {trials: 1}\n", "wide-net.yaml")
    with pytest.raises(UsageError, match="The study name is empty"):
        load_study_config(str(path), study_name="")


def test_a_step_schedule_that_cannot_act_within_the_epochs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "training: {max_epochs: 20}\nsearch_space:\n  schedule:\n    step: {every_epochs: {low: 3, high: 8}}\n")
    config = load_study_config(str(path))
    check_schedules_act(config)  # 20 epochs: every drop happens
    check_schedules_act(config.with_overrides(max_epochs=9))
    with pytest.raises(UsageError) as err:
        check_schedules_act(config.with_overrides(max_epochs=8), epochs_from="--epochs")
    assert str(err.value) == (
        f"{path}: search_space.schedule.step.every_epochs: a drop every 8 epochs never happens in a trial of at most 8 "
        "epochs (--epochs 8); keep every_epochs below 8, or use the `multistep` schedule, whose drops are spread over "
        "each trial's epochs."
    )
    fixed = load_study_config(str(write(tmp_path, "training: {max_epochs: 4}\nsearch_space:\n  schedule: [none, step]\n")))
    with pytest.raises(UsageError, match="a drop every 5 epochs never happens in a trial of at most 4 epochs \\(training.max_epochs 4\\)"):
        check_schedules_act(fixed)  # every_epochs omitted: its default, 5
    check_schedules_act(load_study_config("cifar10").with_overrides(max_epochs=2))  # the flagship acts at any budget


def test_a_stored_config_with_a_step_that_does_not_divide_its_range_still_loads() -> None:
    """Studies created before the step check keep working: show, report, export, workers."""
    raw = {"search_space": {"dropout": {"low": 0.0, "high": 0.5, "step": 0.2}}}
    with pytest.raises(UsageError, match="multiple of `step`"):
        parse_study_dict(raw, name="old")
    config = parse_study_dict(raw, name="old", source="study 'old' in storage", stored=True)
    assert config.search_space.dropout.step == 0.2
    assert config.with_overrides(trials=3).budget.trials == 3


def test_sections_declare_their_defaults_once_and_validate_when_built() -> None:
    from pydantic import ValidationError

    from hpsearch.config import HeartbeatConfig, ObjectiveConfig, PrunerConfig, SamplerConfig, StudyConfig, TrainingConfig

    assert StudyConfig(name="plain") == parse_study_dict({}, name="plain")  # the model's defaults are the file's
    assert parse_study_dict({"training": None, "sampler": None}, name="plain") == StudyConfig(name="plain")
    assert HeartbeatConfig.model_validate({"interval": 5}).grace_period == 15  # omitted: three intervals
    assert ObjectiveConfig.model_validate({"metric": "val_loss"}).direction == "minimize"
    # equal values are decided by val_loss, for any validation metric but val_loss itself
    tie_breaks = {m: ObjectiveConfig.model_validate({"metric": m}).tie_break for m in ("val_accuracy", "val_auc", "val_loss", "accuracy")}
    assert tie_breaks == {"val_accuracy": "val_loss", "val_auc": "val_loss", "val_loss": None, "accuracy": None}
    assert TrainingConfig(max_epochs=3.0).max_epochs == 3
    for bad in ({"max_epochs": 0}, {"max_epochs": True}, {"max_epochs": "3"}, {"epochs": 3}):
        with pytest.raises(ValidationError):
            TrainingConfig(**bad)
    with pytest.raises(UsageError, match="Invalid study name 'a/b'"):
        StudyConfig(name="a/b")
    with pytest.raises(ValidationError):
        load_study_config("cifar10").training.max_epochs = 3  # type: ignore[misc]

    sampler = SamplerConfig.model_validate({"name": "tpe", "n_startup_trials": 3})
    assert sampler.options == (("n_startup_trials", 3), ("multivariate", True))
    assert sampler.model_dump() == {"name": "tpe", "n_startup_trials": 3, "multivariate": True}  # study-file form
    assert SamplerConfig(name=sampler.name, options=sampler.options) == sampler
    assert PrunerConfig.model_validate("none") == PrunerConfig(name="none")
    with pytest.raises(ValidationError, match="the threshold pruner needs"):
        PrunerConfig(name="threshold")


def test_a_config_copy_keeps_its_validated_parts() -> None:
    config = load_study_config("cifar10")
    narrowed = parse_study_dict({"search_space": {"batch_size": 32}}, name="x").search_space
    copy = config.model_copy(update={"search_space": narrowed})
    assert copy.search_space.batch_size == Fixed(32) and copy.budget == config.budget
    assert parse_study_dict(copy.to_dict(), name="cifar10", source=config.source) == copy


def test_the_data_keys_sit_at_the_top_or_under_data_and_are_stored_at_the_top(tmp_path: Path) -> None:
    """New options are left out of the stored form when unset, so stored studies read back equal."""
    nested = write(tmp_path, "data:\n  dataset: digits/\n  image_size: 16\n  color_mode: grayscale\n  subset: 100\n")
    config = load_study_config(str(nested))
    assert config.data.image_size == (16, 16) and config.data.subset == 100
    stored = config.to_dict()
    assert "data" not in stored and stored["image_size"] == [16, 16] and "target" not in stored
    assert parse_study_dict(stored, name="s", stored=True) == config.model_copy(update={"source": "<dict>", "name": "s"})
    assert config.identity()["image_size"] == [16, 16] and "target" not in config.identity()
    table = load_study_config("cifar10").with_overrides(dataset="t.csv", target="y", test="t2.csv")
    assert (table.data.target, table.data.test) == ("y", "t2.csv")
