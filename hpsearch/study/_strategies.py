"""The study's sampler and pruner, built from its configuration."""

from __future__ import annotations

import hashlib

import optuna

from hpsearch.config._study_config import StudyConfig

__all__ = ["make_sampler", "make_pruner"]


def _mixed_seed(*parts: int) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def make_sampler(config: StudyConfig, *, rank: int = 0, n_existing: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded from (seed, worker rank, trials so far).

    Mixing in the number of existing trials matters: re-seeding a resumed study with the same
    seed would replay the first random suggestions and repeat earlier param sets.
    """
    seed = _mixed_seed(config.seed, rank, n_existing)
    opts = dict(config.sampler.options)
    if config.sampler.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=opts.get("n_startup_trials", 10),
        multivariate=opts.get("multivariate", True),
        group=opts.get("multivariate", True),  # conditional params: model each branch separately
        constant_liar=True,  # parallel workers: avoid suggesting what a running trial is testing
    )


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """The study's pruner. Trials report epoch ``e`` (1-based) as step ``e``.

    A study file's ``n_warmup_steps: N`` means "never prune a trial's first N epochs"; Optuna
    prunes from ``step == n_warmup_steps`` on, so it gets ``N + 1``. ``min_resource`` is in
    epochs as it is (the first rung is at epoch ``min_resource``).
    """
    opts = dict(config.pruner.options)
    if "n_warmup_steps" in opts:
        opts["n_warmup_steps"] = int(opts["n_warmup_steps"]) + 1
    name = config.pruner.name
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(**opts)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(**opts)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**opts)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(max_resource=config.training.max_epochs, **opts)
    if name == "threshold":
        return optuna.pruners.ThresholdPruner(**opts)
    raise ValueError(f"Unknown pruner {name!r}.")
