"""Search strategies: samplers (what to try next) and pruners (when to stop a trial early).

Builders import Optuna when called, so that reading the catalog stays cheap. Trials report epoch
``e`` (1-based) as step ``e``. A study file's ``n_warmup_steps: N`` means "never prune a trial's
first N epochs"; Optuna prunes from ``step == n_warmup_steps`` on, so it gets ``N + 1``.
``min_resource`` is in epochs as it is (the first rung is at epoch ``min_resource``), and
Hyperband's ``max_resource`` is the study's ``max_epochs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.catalog._knob import Knob
from hpsearch.catalog._option import Catalog, Option

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

__all__ = ["SAMPLERS", "PRUNERS"]


def _tpe(*, seed: int | None, n_startup_trials: int, multivariate: bool) -> BaseSampler:
    from optuna.samplers import TPESampler

    return TPESampler(
        seed=seed,
        n_startup_trials=n_startup_trials,
        multivariate=multivariate,
        group=multivariate,  # conditional params: model each branch separately
        constant_liar=True,  # parallel workers: avoid suggesting what a running trial is testing
    )


def _random(*, seed: int | None) -> BaseSampler:
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)


#: Built as ``SAMPLERS.build(name, options, seed=seed)``.
SAMPLERS = Catalog(
    "sampler",
    {
        "tpe": Option(
            doc="Tree-structured Parzen Estimator",
            knobs={
                "n_startup_trials": Knob(int, 10, 0, None, doc="random trials before TPE takes over"),
                "multivariate": Knob(bool, True, doc="model parameters jointly"),
            },
            build=_tpe,
        ),
        "random": Option(doc="independent uniform draws", build=_random),
    },
    context=("seed",),
)


def _never_pruned(epochs: int) -> int:
    """Optuna's ``n_warmup_steps`` for "never prune a trial's first ``epochs`` epochs"."""
    return int(epochs) + 1


def _none(*, max_epochs: int) -> BasePruner:
    from optuna.pruners import NopPruner

    return NopPruner()


def _median(*, max_epochs: int, n_startup_trials: int, n_warmup_steps: int, interval_steps: int) -> BasePruner:
    from optuna.pruners import MedianPruner

    return MedianPruner(
        n_startup_trials=n_startup_trials, n_warmup_steps=_never_pruned(n_warmup_steps), interval_steps=interval_steps
    )


def _percentile(
    *, max_epochs: int, percentile: float, n_startup_trials: int, n_warmup_steps: int, interval_steps: int
) -> BasePruner:
    from optuna.pruners import PercentilePruner

    return PercentilePruner(
        percentile,
        n_startup_trials=n_startup_trials,
        n_warmup_steps=_never_pruned(n_warmup_steps),
        interval_steps=interval_steps,
    )


def _successive_halving(
    *, max_epochs: int, min_resource: int, reduction_factor: int, min_early_stopping_rate: int
) -> BasePruner:
    from optuna.pruners import SuccessiveHalvingPruner

    return SuccessiveHalvingPruner(
        min_resource=min_resource, reduction_factor=reduction_factor, min_early_stopping_rate=min_early_stopping_rate
    )


def _hyperband(*, max_epochs: int, min_resource: int, reduction_factor: int) -> BasePruner:
    from optuna.pruners import HyperbandPruner

    return HyperbandPruner(min_resource=min_resource, max_resource=max_epochs, reduction_factor=reduction_factor)


def _threshold(*, max_epochs: int, lower: float | None, upper: float | None, n_warmup_steps: int) -> BasePruner:
    from optuna.pruners import ThresholdPruner

    return ThresholdPruner(lower=lower, upper=upper, n_warmup_steps=_never_pruned(n_warmup_steps))


_WARMUP: dict[str, Knob] = {
    "n_startup_trials": Knob(int, 5, 0, None, doc="trials that are never pruned"),
    "n_warmup_steps": Knob(int, 2, 0, None, doc="epochs of each trial that are never pruned"),
    "interval_steps": Knob(int, 1, 1, None, doc="epochs between pruning checks"),
}
_RUNGS: dict[str, Knob] = {
    "min_resource": Knob(int, 1, 1, None, doc="epochs before the first rung"),
    "reduction_factor": Knob(int, 3, 2, None, doc="1/reduction_factor survive each rung"),
}

#: Built as ``PRUNERS.build(name, options, max_epochs=max_epochs)``.
PRUNERS = Catalog(
    "pruner",
    {
        "none": Option(doc="never prune", build=_none),
        "median": Option(doc="prune below the median of earlier trials at the same epoch", knobs=_WARMUP, build=_median),
        "percentile": Option(
            doc="prune below a percentile of earlier trials at the same epoch",
            knobs={"percentile": Knob(float, 25.0, 0.0, 100.0, doc="keep trials above this percentile"), **_WARMUP},
            build=_percentile,
        ),
        "successive_halving": Option(
            doc="asynchronous successive halving: keep the best 1/reduction_factor at each rung",
            knobs={**_RUNGS, "min_early_stopping_rate": Knob(int, 0, 0, None, doc="skip this many rungs")},
            build=_successive_halving,
        ),
        "hyperband": Option(doc="successive halving over several brackets, up to max_epochs", knobs=_RUNGS, build=_hyperband),
        # Deterministic: prune when the objective leaves [lower, upper] (e.g. accuracy < 0.15).
        "threshold": Option(
            doc="prune when the objective leaves [lower, upper]",
            knobs={
                "lower": Knob(float, None, doc="prune below this value"),
                "upper": Knob(float, None, doc="prune above this value"),
                "n_warmup_steps": Knob(int, 0, 0, None, doc="epochs of each trial that are never pruned"),
            },
            build=_threshold,
        ),
    },
    context=("max_epochs",),
)
