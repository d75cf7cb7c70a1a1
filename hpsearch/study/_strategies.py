"""The study's sampler and pruner, built from its configuration."""

from __future__ import annotations

import hashlib

import optuna

from hpsearch.catalog import PRUNERS, SAMPLERS
from hpsearch.config import StudyConfig

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
    return SAMPLERS.build(config.sampler.name, dict(config.sampler.options), seed=seed)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """The study's pruner (see :data:`hpsearch.catalog.PRUNERS` for how epochs map to Optuna steps)."""
    return PRUNERS.build(config.pruner.name, dict(config.pruner.options), max_epochs=config.training.max_epochs)
