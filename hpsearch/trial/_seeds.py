"""Seeding a trial's process-wide random state."""

from __future__ import annotations

import keras

__all__ = ["SEED_RANGE", "seed_everything"]

#: ``keras.utils.set_random_seed`` seeds numpy's legacy generator, which takes ``0..2**32 - 1``.
SEED_RANGE = 2**32


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the backend with ``seed`` wrapped into :data:`SEED_RANGE`.

    A trial's seed is the study's plus its number (and a fold's, that times 100 plus the fold), so
    it can leave the range a study seed is drawn from; wrapping keeps every such seed usable and
    leaves seeds inside the range as they are.
    """
    keras.utils.set_random_seed(int(seed) % SEED_RANGE)
