"""The model: every option builds and trains; schedules compute what they claim."""

from __future__ import annotations

import inspect
import math
from typing import Any

import keras
import numpy as np
import pytest

from hpsearch.catalog import BATCH_NORM_MODES, CONDITIONAL_ROLES, INITIALIZERS, MODELS, OPTIMIZERS, REGULARIZERS, SCHEDULES
from hpsearch.config import Choice, Fixed, load_study_config
from hpsearch._errors import UsageError
from hpsearch.models._cnn import build_model
from hpsearch.models._schedules import NaturalExpDecay, Plateau, build_learning_rate


def params(**changes: Any) -> dict[str, Any]:
    """Complete params: the defaults of every chosen branch, with ``changes`` applied."""
    p: dict[str, Any] = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "schedule": "none",
        "regularizer": "none",
        "initializer": "glorot_uniform",
        "batch_norm": "none",
        "dropout": 0.25,
        "batch_size": 8,
    }
    p.update({k: v for k, v in changes.items() if k in p})
    for role, (table, _) in CONDITIONAL_ROLES.items():
        for knob, spec in table[p[role]].items():
            p[f"{p[role]}.{knob}"] = spec.default
    p.update(changes)
    return p


CASES = (
    [("optimizer", o) for o in OPTIMIZERS]
    + [("schedule", s) for s in SCHEDULES]
    + [("regularizer", r) for r in REGULARIZERS]
    + [("initializer", i) for i in INITIALIZERS]
    + [("batch_norm", b) for b in BATCH_NORM_MODES]
)


#: The default run builds the first option of each role; the slow run builds every one.
_FIRST_OF_ROLE = {role: value for role, value in reversed(CASES)}


@pytest.mark.parametrize(
    ("role", "value"),
    [pytest.param(r, v, id=f"{r}={v}", marks=[] if _FIRST_OF_ROLE[r] == v else [pytest.mark.slow]) for r, v in CASES],
)
def test_every_option_builds_and_trains_one_step(role: str, value: str) -> None:
    p = params(**{role: value})
    model, plan = build_model(p, input_shape=(16, 16, 3), num_classes=4, input_scale=1 / 255, steps_per_epoch=2, max_epochs=3)
    x = np.random.default_rng(0).integers(0, 255, size=(8, 16, 16, 3)).astype("float32")
    y = np.arange(8) % 4
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert math.isfinite(logs["loss"])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "weights did not move"
    assert model.output_shape == (None, 4)
    assert (plan.plateau is not None) == (p["schedule"] == "reduce_on_plateau")
    if role == "regularizer":
        assert (len(model.losses) > 0) == (value != "none")
    if role == "batch_norm":
        names = [layer.name for layer in model.layers]
        if value == "none":
            assert not any(n.endswith("_bn") for n in names)
        else:
            bn, relu = names.index("conv1a_bn"), names.index("conv1a_relu")
            assert (bn < relu) == (value == "before_activation")
    keras.backend.clear_session()


def test_images_too_small_for_the_model_are_a_usage_error() -> None:
    build_model(params(), input_shape=(10, 10, 1), num_classes=2, input_scale=1.0, steps_per_epoch=1, max_epochs=1)
    too_small = (
        "Images of 8x12 are too small for the cifar_cnn model (at least 10x10); resize them to 10x10 or more, "
        "or use model: cnn with architecture padding: same (it fits images down to 4x4)."
    )
    for build in (
        lambda: build_model(params(), input_shape=(8, 12, 3), num_classes=2, input_scale=1.0, steps_per_epoch=1, max_epochs=1),
        lambda: MODELS.build("cifar_cnn", input_shape=(8, 12, 3), num_classes=2, input_scale=1.0, initializer="he_normal",
                             regularizer=None, batch_norm="none", dropout=0.0),
    ):  # fmt: skip
        with pytest.raises(UsageError) as error:
            build()
        assert str(error.value) == too_small
    keras.backend.clear_session()


def _arguments(builder: object) -> set[str]:
    return set(inspect.signature(builder).parameters)  # type: ignore[arg-type]


def test_every_builder_takes_the_knobs_its_entry_declares() -> None:
    """A knob is declared once, in the catalog: the builder the entry names takes exactly it."""
    for name in OPTIMIZERS:  # Keras classes: the knob names are their argument names
        assert set(OPTIMIZERS[name]) | {"learning_rate"} <= _arguments(OPTIMIZERS.builder(name)), name
    for name in REGULARIZERS:
        builder = REGULARIZERS.builder(name)
        assert (builder is None) == (name == "none")
        assert builder is None or set(REGULARIZERS[name]) <= _arguments(builder), name
    for catalog in (SCHEDULES, MODELS):
        for name in catalog:
            parameters = inspect.signature(catalog.builder(name)).parameters  # type: ignore[arg-type]
            required = {p for p, v in parameters.items() if v.default is inspect.Parameter.empty}
            assert required == set(catalog.context) | set(catalog[name]) <= set(parameters), name  # others: defaulted (cnn's name)


def _lr(plan: Any, step: int) -> float:
    return float(plan.learning_rate(step)) if callable(plan.learning_rate) else float(plan.learning_rate)


def test_schedules_follow_their_formulas() -> None:
    spe, epochs = 10, 8
    plan = build_learning_rate(params(schedule="natural_exp", learning_rate=0.1, **{"natural_exp.decay_rate": 0.5}), steps_per_epoch=spe, max_epochs=epochs)
    assert _lr(plan, 3 * spe) == pytest.approx(0.1 * math.exp(-0.5 * 3), rel=1e-5)
    plan = build_learning_rate(params(schedule="exponential", learning_rate=0.1, **{"exponential.decay_rate": 0.5}), steps_per_epoch=spe, max_epochs=epochs)
    assert _lr(plan, 2 * spe) == pytest.approx(0.1 * 0.25, rel=1e-5)
    plan = build_learning_rate(params(schedule="inverse_time", learning_rate=0.1, **{"inverse_time.decay_rate": 1.0}), steps_per_epoch=spe, max_epochs=epochs)
    assert _lr(plan, 3 * spe) == pytest.approx(0.1 / 4, rel=1e-5)
    plan = build_learning_rate(params(schedule="polynomial", learning_rate=0.1, **{"polynomial.end_fraction": 0.01}), steps_per_epoch=spe, max_epochs=epochs)
    assert _lr(plan, 0) == pytest.approx(0.1) and _lr(plan, epochs * spe) == pytest.approx(0.001, rel=1e-4)
    plan = build_learning_rate(params(schedule="cosine", learning_rate=0.1, **{"cosine.alpha": 0.1}), steps_per_epoch=spe, max_epochs=epochs)
    assert _lr(plan, epochs * spe) == pytest.approx(0.01, rel=1e-4)
    plan = build_learning_rate(params(schedule="step", learning_rate=0.1, **{"step.drop": 0.5, "step.every_epochs": 3}), steps_per_epoch=spe, max_epochs=epochs)
    assert [round(_lr(plan, e * spe + 1), 6) for e in range(epochs)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]
    plan = build_learning_rate(params(schedule="step", **{"step.every_epochs": 20}), steps_per_epoch=spe, max_epochs=epochs)
    assert plan.learning_rate == pytest.approx(1e-3)  # no drop before the last epoch: constant
    plan = build_learning_rate(params(schedule="multistep", learning_rate=0.1, **{"multistep.drop": 0.1, "multistep.drops": 2}), steps_per_epoch=spe, max_epochs=3)
    assert [round(_lr(plan, s), 7) for s in (0, 10, 11, 20, 21, 29)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]  # at 1/3 and 2/3
    plan = build_learning_rate(params(schedule="multistep", learning_rate=0.1, **{"multistep.drop": 0.5, "multistep.drops": 3}), steps_per_epoch=spe, max_epochs=1)
    assert [round(_lr(plan, s), 7) for s in (1, 3, 6, 9)] == [0.1, 0.05, 0.025, 0.0125]  # inside a single epoch
    plan = build_learning_rate(params(schedule="reduce_on_plateau", **{"reduce_on_plateau.factor": 0.2, "reduce_on_plateau.patience": 1}), steps_per_epoch=spe, max_epochs=epochs)
    assert plan.plateau == Plateau(0.2, 1) and plan.learning_rate == pytest.approx(1e-3)


def test_natural_exp_schedule_survives_a_keras_file(tmp_path) -> None:
    p = params(schedule="natural_exp")
    model, _ = build_model(p, input_shape=(16, 16, 3), num_classes=3, input_scale=1.0, steps_per_epoch=4, max_epochs=2)
    model.train_on_batch(np.zeros((4, 16, 16, 3), "float32"), np.arange(4) % 3)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, NaturalExpDecay)
    assert int(loaded.optimizer.iterations) == 1
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))


@pytest.mark.parametrize("epochs", [2, 3])
def test_every_schedule_of_the_flagship_acts_within_a_short_trial(epochs: int) -> None:
    """`hpsearch study cifar10 --epochs 3`: a schedule whose horizon outlasts the trial would train at a
    constant rate while being recorded as a schedule. Each knob at its lowest and at its highest value."""
    space = load_study_config("cifar10").search_space
    spe = 5
    for branch in space.schedule.branches:
        if branch.name in ("none", "reduce_on_plateau"):  # constant by definition / reacts to stalls
            continue
        for corner in (min, max):
            knobs = {}
            for knob, spec in branch.knobs:
                values = [spec.value] if isinstance(spec, Fixed) else list(spec.choices) if isinstance(spec, Choice) else [spec.low, spec.high]
                knobs[f"{branch.name}.{knob}"] = corner(values)
            plan = build_learning_rate(params(schedule=branch.name, learning_rate=0.1, **knobs), steps_per_epoch=spe, max_epochs=epochs)
            assert _lr(plan, epochs * spe - 1) < 0.1 * (1 - 1e-6), (branch.name, knobs)
