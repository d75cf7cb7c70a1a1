"""Search strategies: samplers (what to try next) and pruners (when to stop a trial early).

Builders import Optuna when called, so that reading the catalog stays cheap. A sampler is built
from its knobs, the study's ``seed`` and the searched ``params`` (:class:`SearchedParam`, one per
parameter that varies, every branch's included): the grid sampler builds its grid from them, and
a sampler whose entry says ``space_problem`` refuses a space it cannot search (checked when the
study file is read). ``shared_seed`` samplers (QMC, grid) get the study's seed unchanged in every
worker -- distributed QMC and grid search need one sequence -- the others a seed per worker.

Trials report epoch ``e`` (1-based) as step ``e``. A study file's ``n_warmup_steps: N`` means
"never prune a trial's first N epochs"; Optuna prunes from ``step == n_warmup_steps`` on, so it
gets ``N + 1``. ``min_resource`` is in epochs as it is (the first rung is at epoch
``min_resource``), and Hyperband's ``max_resource`` is the study's ``max_epochs``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch._errors import UsageError
from hpsearch.catalog._knob import Knob, unit
from hpsearch.catalog._option import Catalog, Option

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler
    from optuna.study import Study
    from optuna.trial import FrozenTrial

__all__ = ["SAMPLERS", "PRUNERS", "SearchedParam", "SamplerOption", "grid_size"]


@dataclass(frozen=True)
class SearchedParam:
    """A parameter that varies, as a sampler sees it.

    ``values`` lists every value it can take (choices, or the points of an integer / stepped
    range), ``None`` for a continuous range; ``conditional`` is true for a branch's knob
    (``sgd.momentum``), which exists only in trials that picked its branch.
    """

    name: str
    values: tuple[Any, ...] | None
    categorical: bool = False
    conditional: bool = False


#: ``(searched params) -> why this sampler cannot search them, or None``.
SpaceCheck = Callable[[Sequence[SearchedParam]], "str | None"]


@dataclass(frozen=True, kw_only=True)
class SamplerOption(Option):
    """A sampler entry: what it refuses (``space_problem``) or warns about (``space_warning``) in a
    search space, whether every worker must share one seed (``shared_seed``), and whether Optuna's
    sampler can search a study with several objectives (``multi_objective``)."""

    space_problem: SpaceCheck | None = None
    space_warning: SpaceCheck | None = None
    shared_seed: bool = False
    multi_objective: bool = True


def _needs(module: str, sampler: str, extra: str) -> None:
    """Refuse, in one line, a sampler whose optional dependency is not installed."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"The {sampler} sampler needs the `{module}` package, which is not installed; "
            f'run pip install "hpsearch[{extra}]", or pick another sampler.'
        )


def _tpe(*, seed: int | None, params: Sequence[SearchedParam], n_startup_trials: int, multivariate: bool) -> BaseSampler:
    from optuna.samplers import TPESampler

    return TPESampler(
        seed=seed,
        n_startup_trials=n_startup_trials,
        multivariate=multivariate,
        group=multivariate,  # conditional params: model each branch separately
        constant_liar=True,  # parallel workers: avoid suggesting what a running trial is testing
    )


def _random(*, seed: int | None, params: Sequence[SearchedParam]) -> BaseSampler:
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)


def _gp(*, seed: int | None, params: Sequence[SearchedParam], n_startup_trials: int, deterministic_objective: bool) -> BaseSampler:
    _needs("torch", "gp", "gp")
    from optuna.samplers import GPSampler

    return GPSampler(seed=seed, n_startup_trials=n_startup_trials, deterministic_objective=deterministic_objective)


def _fallback(name: str, seed: int | None) -> BaseSampler:
    from optuna.samplers import RandomSampler, TPESampler

    return TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True) if name == "tpe" else RandomSampler(seed=seed)


def _cmaes(
    *,
    seed: int | None,
    params: Sequence[SearchedParam],
    n_startup_trials: int,
    sigma0: float | None,
    popsize: int | None,
    use_separable_cma: bool,
    with_margin: bool,
    fallback: str,
) -> BaseSampler:
    _needs("cmaes", "cmaes", "cmaes")
    from optuna.samplers import CmaEsSampler

    return CmaEsSampler(
        seed=seed,
        n_startup_trials=n_startup_trials,
        sigma0=sigma0,
        popsize=popsize,
        use_separable_cma=use_separable_cma,
        with_margin=with_margin,
        # CMA-ES samples numbers only: categorical and conditional parameters are sampled by
        # this sampler instead (Optuna's documented fallback), one by one.
        independent_sampler=_fallback(fallback, seed),
        warn_independent_sampling=False,  # hpsearch says it once, at the start (_mostly_not_cmaes)
    )


def _mostly_not_cmaes(params: Sequence[SearchedParam]) -> str | None:
    """CMA-ES models only numeric parameters present in every trial; warn when most are not."""
    aside = [p.name for p in params if p.categorical or p.conditional]
    if params and len(aside) * 2 > len(params):
        return (
            f"cmaes: {len(aside)} of the {len(params)} searched parameters are categorical or conditional "
            f"({', '.join(aside[:4])}{', ...' if len(aside) > 4 else ''}); CMA-ES leaves those to its fallback "
            "sampler, so tpe is likely the better choice for this space"
        )
    return None


def _qmc(*, seed: int | None, params: Sequence[SearchedParam], qmc_type: str, scramble: bool) -> BaseSampler:
    from optuna.samplers import QMCSampler, RandomSampler

    return QMCSampler(
        qmc_type=qmc_type,
        scramble=scramble,
        seed=seed,  # the study's seed in every worker: one shared sequence
        independent_sampler=RandomSampler(seed=seed),  # conditional knobs (not in every trial)
        warn_independent_sampling=False,
    )


def _continuous(params: Sequence[SearchedParam]) -> str | None:
    names = [p.name for p in params if p.values is None]
    if not names:
        return None
    return (
        f"the grid sampler needs a discrete search space, but {', '.join(names)} "
        f"{'is a continuous range' if len(names) == 1 else 'are continuous ranges'}; give "
        f"{'it' if len(names) == 1 else 'each'} a `step` or a list of choices, or pick another sampler"
    )


def grid_size(params: Sequence[SearchedParam]) -> int:
    """Number of points of the grid over ``params`` (their values' product)."""
    size = 1
    for p in params:
        size *= len(p.values or ())
    return size


def _grid(*, seed: int | None, params: Sequence[SearchedParam]) -> BaseSampler:
    problem = _continuous(params)
    if problem is not None:
        raise UsageError(problem[0].upper() + problem[1:] + ".")
    from optuna.samplers import GridSampler

    class _Grid(GridSampler):
        """Optuna's grid sampler, minus its ``study.stop()`` (only legal inside ``optimize``): the
        worker loop asks :meth:`all_points_started` and starts no trial once it is true."""

        def after_trial(self, study: Study, trial: FrozenTrial, state: Any, values: Any) -> None:
            pass

        def all_points_started(self, study: Study) -> bool:
            """Every grid point has a trial that finished or is running (so another would repeat one)."""
            started = {
                t.system_attrs["grid_id"]
                for t in study._storage.get_all_trials(study._study_id, deepcopy=False)
                if "grid_id" in t.system_attrs and self._same_search_space(t.system_attrs["search_space"])
            }
            return len(started) >= self._n_min_trials

    return _Grid({p.name: list(p.values or ()) for p in params}, seed=seed)


def _nsgaii(
    *,
    seed: int | None,
    params: Sequence[SearchedParam],
    population_size: int,
    mutation_prob: float | None,
    crossover_prob: float,
    swapping_prob: float,
) -> BaseSampler:
    from optuna.samplers import NSGAIISampler

    return NSGAIISampler(
        seed=seed,
        population_size=population_size,
        mutation_prob=mutation_prob,
        crossover_prob=crossover_prob,
        swapping_prob=swapping_prob,
    )


#: Built as ``SAMPLERS.build(name, options, seed=seed, params=searched_params)``.
SAMPLERS = Catalog(
    "sampler",
    {
        "tpe": SamplerOption(
            doc="Tree-structured Parzen Estimator",
            knobs={
                "n_startup_trials": Knob(int, 10, 0, None, doc="random trials before TPE takes over"),
                "multivariate": Knob(bool, True, doc="model parameters jointly"),
            },
            build=_tpe,
        ),
        "random": SamplerOption(doc="independent uniform draws", build=_random),
        "gp": SamplerOption(
            doc="Gaussian-process Bayesian optimisation (needs PyTorch: hpsearch[gp])",
            knobs={
                "n_startup_trials": Knob(int, 10, 0, None, doc="random trials before the Gaussian process takes over"),
                "deterministic_objective": Knob(bool, False, doc="the objective has no noise (same params, same score)"),
            },
            build=_gp,
        ),
        "cmaes": SamplerOption(
            doc="CMA-ES over the numeric parameters; categorical ones go to a fallback sampler (needs hpsearch[cmaes])",
            knobs={
                "n_startup_trials": Knob(int, 1, 0, None, doc="fallback-sampler trials before CMA-ES takes over"),
                "sigma0": Knob(float, None, 0.0, None, low_open=True, doc="initial step size (default: 1/6 of each range)"),
                "popsize": Knob(int, None, 2, None, doc="trials per generation (default: 4 + 3 ln(#params))"),
                "use_separable_cma": Knob(bool, False, doc="diagonal covariance: faster for many parameters"),
                "with_margin": Knob(bool, False, doc="CMA-ES with margin: better on integer and stepped ranges"),
                "fallback": Knob(str, "tpe", choices=("tpe", "random"), doc="sampler of categorical and conditional parameters"),
            },
            build=_cmaes,
            space_warning=_mostly_not_cmaes,
            multi_objective=False,  # CmaEsSampler raises on a study with several directions
        ),
        "qmc": SamplerOption(
            doc="quasi-Monte Carlo: an even, low-discrepancy cover of the space (one sequence shared by all workers)",
            knobs={
                "qmc_type": Knob(str, "sobol", choices=("sobol", "halton"), doc="the low-discrepancy sequence"),
                "scramble": Knob(bool, True, doc="randomise the sequence with the study's seed"),
            },
            build=_qmc,
            shared_seed=True,
        ),
        "grid": SamplerOption(
            doc="every combination of a discrete space once (ranges need a step), in a seeded random order",
            build=_grid,
            space_problem=_continuous,
            shared_seed=True,
        ),
        "nsgaii": SamplerOption(
            doc="NSGA-II genetic algorithm (meant for multi-objective studies, see `objectives:`; searches one objective too)",
            knobs={
                "population_size": Knob(int, 50, 2, None, doc="trials per generation"),
                "mutation_prob": Knob(
                    float, None, 0.0, 1.0, doc="chance to resample each parameter of a child (default: 1/#params)"
                ),
                "crossover_prob": unit(0.9, "chance that a child mixes two parents (else copies one)", high_open=False),
                "swapping_prob": unit(0.5, "chance to take each parameter from the other parent", high_open=False),
            },
            build=_nsgaii,
        ),
    },
    context=("seed", "params"),
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
