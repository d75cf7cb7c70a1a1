"""``hpsearch lr-find``: the LR range test (callback, suggestion, study-file copy, command)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from hpsearch._errors import RuntimeFailure
from hpsearch.cli._app import main
from hpsearch.config import Range, builtin_studies, load_study_config, parse_study_dict
from hpsearch.config._edit import with_learning_rate_range
from hpsearch.keys import LR_FIND_PLOT, LRFindMetric, Role, Tag
from hpsearch.space._sample import representative_point
from hpsearch.study._lr_bounds import suggest_bounds
from hpsearch.trial.callbacks import LearningRateRangeTest, default_beta, range_test_rate

from conftest import write_cifar10, write_study


def tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model


def tiny_data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    return rng.normal(size=(n, 4)).astype("float32") + y[:, None], y


class RateSeen(keras.callbacks.Callback):
    """The optimizer's rate while each batch trains (read after the batch, before the next is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


# -- the callback ------------------------------------------------------------------------------


def test_the_rate_grows_exactly_exponentially_per_batch_across_epochs() -> None:
    keras.utils.set_random_seed(0)
    test, seen = LearningRateRangeTest(start_lr=1e-4, end_lr=1e-1, steps=12), RateSeen()
    x, y = tiny_data()
    tiny_model().fit(x, y, batch_size=8, epochs=5, callbacks=[test, seen], verbose=0)  # 8 batches per epoch
    expected = [1e-4 * 1000 ** (i / 11) for i in range(12)]
    assert len(test.rates) == len(seen.rates) == 12  # stopped after its steps, in the second epoch
    assert test.rates == pytest.approx(expected, rel=1e-12)
    assert seen.rates == pytest.approx(expected, rel=1e-6)  # float32 in the optimizer
    assert test.rates[0] == 1e-4 and test.rates[-1] == pytest.approx(1e-1, rel=1e-12)
    assert test.diverged_at is None and len(test.losses) == len(test.smoothed) == 12


def test_each_batch_loss_is_recorded_not_the_running_mean_of_the_epoch() -> None:
    keras.utils.set_random_seed(0)
    model = tiny_model()
    test = LearningRateRangeTest(start_lr=1e-12, end_lr=1e-11, steps=8)  # weights do not move
    x, y = tiny_data()
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[test], verbose=0, shuffle=False)
    direct = [float(model.evaluate(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8], verbose=0)) for i in range(8)]
    assert test.losses == pytest.approx(direct, rel=1e-5)


def test_smoothing_is_fastais_bias_corrected_average() -> None:
    test = LearningRateRangeTest(start_lr=1e-3, end_lr=1.0, steps=10, beta=0.5)
    for loss in (4.0, 2.0, 1.0):
        test.record(loss)
    # avg: 2, 2, 1.5 -> / (1 - 0.5**k): 4, 2.6667, 1.7143
    assert test.smoothed == pytest.approx([4.0, 2.0 / 0.75, 1.5 / 0.875])


@pytest.mark.parametrize("last", [100.0, math.nan, math.inf])
def test_divergence_stops_training(last: float) -> None:
    model = tiny_model()
    test = LearningRateRangeTest(start_lr=1e-3, end_lr=1.0, steps=50, beta=0.0)  # no smoothing: the loss itself
    test.set_model(model)
    for loss in (2.0, 1.5, 1.0, 3.9):  # 3.9 < 4 x best (1.0): goes on
        test.record(loss)
    assert not model.stop_training and test.diverged_at is None
    test.record(last)
    assert model.stop_training and test.diverged_at == 4


def test_a_fit_stops_at_the_batch_where_the_loss_diverges() -> None:
    keras.utils.set_random_seed(0)
    test = LearningRateRangeTest(start_lr=1e-3, end_lr=1e6, steps=40)
    x, y = tiny_data()
    tiny_model().fit(x * 100, y, batch_size=8, epochs=5, callbacks=[test], verbose=0)
    assert test.diverged_at is not None and len(test.losses) == test.diverged_at + 1 < 40


def test_the_smoothing_remembers_a_tenth_of_the_test() -> None:
    assert default_beta(100) == pytest.approx(0.9) and default_beta(40) == pytest.approx(0.75)
    assert default_beta(5) == 0.5 and default_beta(1000) == 0.98  # fastai's 0.98 at most
    assert LearningRateRangeTest(start_lr=1e-3, end_lr=1.0, steps=100).beta == pytest.approx(0.9)


def test_the_callback_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        LearningRateRangeTest(start_lr=1.0, end_lr=0.1, steps=10)
    with pytest.raises(ValueError, match="steps >= 2"):
        range_test_rate(0, start_lr=1e-3, end_lr=1.0, steps=1)


# -- the suggestion ----------------------------------------------------------------------------


def curve(n: int = 100) -> tuple[list[float], list[float]]:
    """A textbook curve: flat, a fall centred on 1e-3, the minimum at 1e-1, then a climb."""
    rates = list(np.logspace(-6, 1, n))
    loss = [2.3 - 1.5 / (1 + math.exp(-3 * (math.log10(r) + 3))) + max(0.0, math.log10(r) + 1) ** 2 * 3 for r in rates]
    return rates, loss


def test_bounds_are_a_decade_below_the_steepest_fall_and_below_the_lowest_loss() -> None:
    rates, loss = curve()
    b = suggest_bounds(rates, loss)
    assert b.steepest == pytest.approx(1e-3, rel=0.2)
    assert b.lowest == pytest.approx(1e-1, rel=0.2)
    assert b.low == pytest.approx(b.steepest / 10, rel=0.01) and b.high == pytest.approx(b.lowest / 3, rel=0.01)
    assert 1e-6 < b.low < b.high < 10
    assert f"{b.low:.3g}" == repr(b.low) or float(f"{b.low:.3g}") == b.low  # 3 significant digits


def test_a_curve_that_never_falls_or_is_too_short_gives_no_suggestion() -> None:
    with pytest.raises(RuntimeFailure, match="did not fall"):
        suggest_bounds(list(np.logspace(-5, 0, 20)), list(np.linspace(1.0, 3.0, 20)))
    noise = 2.3 + 0.005 * np.random.default_rng(0).standard_normal(50)  # flat, batch noise of a few tenths of a percent
    with pytest.raises(RuntimeFailure, match="did not fall"):
        suggest_bounds(list(np.logspace(-5, 0, 50)), list(noise))
    with pytest.raises(RuntimeFailure, match="only 3 finite losses"):
        suggest_bounds([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.0, 0.5, math.nan])


# -- the point of the space ------------------------------------------------------------------


def test_the_representative_point_is_first_choices_and_middles() -> None:
    config = parse_study_dict(
        {
            "dataset": "cifar10",
            "search_space": {
                "optimizer": {"adam": {}, "sgd": {"momentum": {"low": 0.81, "high": 0.99}}},
                "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                "batch_size": {"low": 16, "high": 128, "step": 16},
                "dropout": {"low": 0.0, "high": 0.5},
                "initializer": ["he_normal", "glorot_uniform"],
                "schedule": {"cosine": {}, "none": {}},
            },
        },
        name="p",
    )
    params, notes = representative_point(config.search_space, {"optimizer": "sgd", "schedule": "none"})
    assert params["optimizer"] == "sgd" and params["sgd.momentum"] == pytest.approx(math.sqrt(0.81 * 0.99))
    assert params["learning_rate"] == pytest.approx(1e-3)
    assert params["batch_size"] == 48 and isinstance(params["batch_size"], int)  # sqrt(16*128)=45.3 -> on the grid
    assert params["dropout"] == 0.25 and params["schedule"] == "none" and params["initializer"] == "he_normal"
    why = {name: reason for name, _, reason in notes}
    assert why["optimizer"] == "asked for" and why["dropout"] == "middle of the range"
    assert why["batch_size"] == "geometric middle of the range"
    first, _ = representative_point(config.search_space)
    assert first["optimizer"] == "adam" and first["schedule"] == "cosine"


# -- the study-file copy -----------------------------------------------------------------------


def test_the_shipped_cifar10_file_changes_in_one_line_and_keeps_its_comment() -> None:
    source = builtin_studies()["cifar10"].read_text()
    edited = with_learning_rate_range(source, 0.000123, 0.0456)
    before, after = source.splitlines(), edited.splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert changed[0][1] == "  learning_rate: {low: 0.000123, high: 0.0456, log: true}   # spans every optimizer's sweet spot"


@pytest.mark.parametrize(
    "space, kept",
    [
        ("search_space:\n  learning_rate:\n    low: 1e-4\n    high: 0.1\n  # keep\n  dropout: 0.1\n", "  # keep\n"),
        ("search_space:\n  learning_rate: [0.01, 0.1]  # keep\n  dropout: 0.1\n", "# keep"),
        ("search_space:\n  dropout: 0.1  # keep\n", "# keep"),
        ("search_space: {dropout: 0.1}  # keep\n", "# keep"),
        ("# keep\nbudget: {trials: 2}\n", "# keep"),
    ],
)
def test_any_learning_rate_entry_becomes_the_range(tmp_path: Path, space: str, kept: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("dataset: cifar10\n" + space)
    path.write_text(with_learning_rate_range(path.read_text(), 2e-5, 0.03))
    assert kept in path.read_text()
    assert load_study_config(str(path)).search_space.learning_rate == Range(2e-5, 0.03, log=True)


def test_applying_to_a_shipped_study_writes_here_and_brings_its_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpsearch.study._lr_bounds import SuggestedBounds
    from hpsearch.study._lr_find import apply_bounds

    monkeypatch.chdir(tmp_path)
    path, builder = apply_bounds(load_study_config("resnet_small"), SuggestedBounds(1e-4, 0.02, 1e-3, 0.06))
    assert path == tmp_path / "resnet_small.lr.yaml" and builder == tmp_path / "resnet_small.py"
    assert builder.read_text() == (builtin_studies()["resnet_small"].parent / "resnet_small.py").read_text()
    copy = load_study_config(str(path))
    assert copy.search_space.learning_rate == Range(1e-4, 0.02, log=True) and copy.builder_ref().file == builder
    assert apply_bounds(copy, SuggestedBounds(2e-4, 0.03, 1e-3, 0.06), str(tmp_path / "again.yaml"))[1] is None  # already there


# -- the command -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1000 CIFAR-format images: enough batches for the CNN's loss to fall visibly in one epoch."""
    return write_cifar10(tmp_path_factory.mktemp("lr_find"), n_train=1000)


def _study(folder: Path) -> Path:
    path = write_study(
        folder / "shop.yaml",
        search_space={
            "optimizer": {"adam": {}, "sgd": {"momentum": 0.9}},
            "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
            "batch_size": [16, 64],
            "batch_norm": "none",
        },
    )
    path.write_text("# my study\n" + path.read_text().replace("  learning_rate:", "  # the rate\n  learning_rate:"))
    return path


def _printed_bounds(output: str) -> tuple[float, float]:
    line = next(line for line in output.splitlines() if line.strip().startswith("learning_rate: {low:"))
    low = float(line.split("low:")[1].split(",")[0])
    high = float(line.split("high:")[1].split(",")[0])
    return low, high


def test_lr_find_prints_bounds_draws_records_and_applies(store: Path, images: Path) -> None:
    from mlflow import MlflowClient

    study = _study(store.parent)
    result = CliRunner().invoke(main, ["lr-find", str(study), "--data-dir", str(images), "--steps", "60", "--apply"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Suggested learning_rate bounds for adam:" in out and "optimizer='adam' (first choice)" in out
    assert "batch_size=16 (first choice)" in out
    low, high = _printed_bounds(out)
    assert 1e-5 / 10 <= low < high < 1.0  # inside the span tested (the space widened 100x)

    plot = store / "lr_find" / "shop" / "adam.png"
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name("shop")
    (run,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`{Tag.ROLE}` = '{Role.LR_FIND}'")
    assert run.info.status == "FINISHED" and run.data.tags[Tag.STUDY] == "shop"
    assert run.data.params["optimizer"] == "adam" and run.data.params["steps"] == "60"
    rates = [m.value for m in sorted(client.get_metric_history(run.info.run_id, LRFindMetric.LEARNING_RATE), key=lambda m: m.step)]
    losses = client.get_metric_history(run.info.run_id, LRFindMetric.LOSS)
    assert 2 <= len(rates) <= 60 and len(losses) >= len(rates) - 1
    assert rates == pytest.approx([1e-5 * (1e5) ** (i / 59) for i in range(len(rates))], rel=1e-9)
    assert run.data.metrics[LRFindMetric.SUGGESTED_LOW] == pytest.approx(low)
    assert run.data.metrics[LRFindMetric.SUGGESTED_HIGH] == pytest.approx(high)
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == [LR_FIND_PLOT]

    copy = store.parent / "shop.lr.yaml"
    assert f"Wrote {copy}" in out
    text = copy.read_text()
    assert text.startswith("# my study\n") and "  # the rate\n  learning_rate: {low:" in text
    assert load_study_config(str(copy)).search_space.learning_rate == Range(low, high, log=True)
    assert study.read_text().count("low: 0.001") == 1  # the original is untouched
    assert not (store / "optuna.db").exists() or "shop" not in _optuna_studies(store)  # no Optuna trial, no study


def _optuna_studies(store: Path) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{store}/optuna.db")]


@pytest.mark.slow
def test_lr_find_of_a_diverging_optimizer_stops_early(store: Path, images: Path) -> None:
    from hpsearch.study._lr_find import LRFindRequest, lr_find

    study = _study(store.parent)
    result = lr_find(LRFindRequest(str(study), optimizer="sgd", steps=200, end_lr=1e4, data_dir=str(images), plot=str(store / "sgd.png")))
    assert result.optimizer == "sgd" and result.params["sgd.momentum"] == 0.9
    assert result.limited_from == 200 and result.steps == 100  # two epochs of 800 images in batches of 16
    assert result.diverged_at is not None and len(result.rates) == result.diverged_at + 1 < 100
    assert result.bounds is not None and result.start_lr <= result.bounds.low < result.bounds.high < result.rates[result.diverged_at]
    assert (store / "sgd.png").is_file()


def test_a_loss_that_does_not_fall_is_one_line_exit_1_with_its_curve(store: Path, images: Path) -> None:
    study = _study(store.parent)
    args = ["lr-find", str(study), "--data-dir", str(images), "--start-lr", "100", "--end-lr", "1e4", "--steps", "60"]
    result = CliRunner().invoke(main, args)  # rates that blow the weights up from the first batch
    assert result.exit_code == 1, result.output
    assert re.search(r"^Error: The (loss did not fall|LR range test recorded only \d finite losses)", result.output)
    assert len(result.output.strip().splitlines()) == 1 and (store / "lr_find" / "shop" / "adam.png").is_file()
    assert "Only" not in result.output  # the 60 batches asked for ran
    assert not (store / "mlflow.db").exists()  # no run for a test without a result
    capped = CliRunner().invoke(main, [*args[:-1], "500"])  # more than two epochs give: the line says how many ran
    assert capped.exit_code == 1 and len(capped.output.strip().splitlines()) == 1, capped.output
    assert " Only 100 batches ran (2 epochs of 800 examples in batches of 16); a smaller batch_size or more data gives more. The curve: " in capped.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "No study named 'nope'"),
        (["{study}", "--optimizer", "nadam"], "--optimizer 'nadam' is not one of the study's optimizers (adam, sgd)"),
        (["{study}", "--start-lr", "1", "--end-lr", "0.1"], "needs 0 < start < end"),
        (["{study}", "--subset", "20"], "the LR range test needs at least 5"),
        (["{study}", "--plot", "{blocker}/lr.png"], "Cannot write the plot"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(store: Path, cifar_dir: Path, args: list[str], message: str) -> None:
    study = _study(store.parent)
    blocker = store.parent / "blocker"
    blocker.write_text("a file where a folder should be")
    result = CliRunner().invoke(main, ["lr-find", *(a.format(study=study, blocker=blocker) for a in args), "--data-dir", str(cifar_dir)])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (store / "mlflow.db").exists() and not (store / "lr_find").exists()
    assert not (store.parent / "shop.lr.yaml").exists()
