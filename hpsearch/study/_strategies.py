"""The study's sampler and pruner, built from its configuration."""

from __future__ import annotations

import hashlib

import optuna

from hpsearch.catalog import PRUNERS, SAMPLERS, SamplerOption, grid_size
from hpsearch.config import StudyConfig

__all__ = ["make_sampler", "make_pruner", "sampler_warnings", "sampler_seed"]


def _mixed_seed(*parts: int) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _option(config: StudyConfig) -> SamplerOption:
    option = SAMPLERS.option(config.sampler.name)
    assert isinstance(option, SamplerOption)
    return option


def sampler_seed(config: StudyConfig, *, rank: int = 0, n_existing: int = 0) -> int | None:
    """The seed the sampler of worker ``rank`` gets, ``n_existing`` trials into the study.

    Most samplers get one mixed from (seed, worker rank, trials so far): re-seeding a resumed
    study with the same seed would replay the first random suggestions and repeat earlier param
    sets, and two workers with one seed would suggest the same ones. QMC and grid search
    (``shared_seed``) need the *same* seed in every process -- Optuna's distributed QMC draws
    point ``i`` of one scrambled sequence, and a grid is shuffled once -- so they get the study's.
    """
    if _option(config).shared_seed:
        return config.seed
    return _mixed_seed(config.seed, rank, n_existing)


def make_sampler(config: StudyConfig, *, rank: int = 0, n_existing: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler (see :func:`sampler_seed` for its seed).

    Raises:
        UsageError: the sampler's optional dependency is missing, or it cannot search this space.
    """
    return SAMPLERS.build(
        config.sampler.name,
        dict(config.sampler.options),
        seed=sampler_seed(config, rank=rank, n_existing=n_existing),
        params=config.search_space.searched_params(),
    )


def sampler_warnings(config: StudyConfig) -> list[str]:
    """One line per thing the user should know about this sampler on this space (the CLI shows
    them once, when a study starts): CMA-ES on a mostly categorical space, a grid the budget does
    not cover, or one smaller than the budget (the study then stops when the grid is done)."""
    option = _option(config)
    params = config.search_space.searched_params()
    lines = []
    if option.space_warning is not None and (line := option.space_warning(params)) is not None:
        lines.append(line)
    if config.sampler.name == "grid":
        size, trials = grid_size(params), config.budget.trials
        if size > trials:
            lines.append(f"grid: the budget of {trials} trials covers {trials} of the {size} grid points (random order)")
        elif size < trials:
            lines.append(f"grid: the grid has {size} points; the study stops after them, short of {trials} trials")
        conditional = [p.name for p in params if p.conditional]
        if conditional:
            lines.append(
                f"grid: conditional knobs ({', '.join(conditional[:3])}{', ...' if len(conditional) > 3 else ''}) "
                "multiply the grid even where their branch is not picked; those points repeat a configuration"
            )
    return lines


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """The study's pruner (see :data:`hpsearch.catalog.PRUNERS` for how epochs map to Optuna steps)."""
    return PRUNERS.build(config.pruner.name, dict(config.pruner.options), max_epochs=config.training.max_epochs)
