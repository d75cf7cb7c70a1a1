"""Open a study: create it, or load it and check it is the same study (settings, data, seed).

The seed, the identity (everything that makes two trials comparable), the data fingerprint and
the stored configuration are recorded with a new study and checked, before anything is written,
when it is opened again. :func:`load_study` gives read-only commands and workers the stored
configuration; a worker's has its choices in the order the study's trials recorded.
"""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.storages import BaseStorage

from hpsearch._errors import RuntimeFailure, UsageError, did_you_mean
from hpsearch._locations import Locations, redact
from hpsearch.config import StudyConfig, parse_study_dict
from hpsearch.space._sample import align_choices
from hpsearch.study._storage import canonical
from hpsearch.study._data_record import check_same_data, record_fingerprint
from hpsearch.study._strategies import make_pruner, make_sampler
from hpsearch.study._storage import open_storage, parse_storage_url
from hpsearch.keys import StudyAttr

__all__ = ["open_study", "load_study", "unknown_study", "seed_of", "stored_seed", "stored_config", "fresh_seed", "check_seed", "target_trials"]


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if old == new else [f"{path} (was {json.dumps(old)}, now {json.dumps(new)})"]


def _recorded_choices(study: optuna.Study) -> dict[str, tuple[Any, ...]]:
    """Parameter name -> the choices its categorical distribution had in the study's trials."""
    recorded: dict[str, tuple[Any, ...]] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                recorded.setdefault(name, dist.choices)
    return recorded


def _aligned(config: StudyConfig, study: optuna.Study) -> tuple[StudyConfig, list[str]]:
    """``config`` with its choices in the order the study's trials recorded (see
    :func:`~hpsearch.space._sample.align_choices`), and the parameters that cannot be aligned."""
    space, conflicts = align_choices(config.search_space, _recorded_choices(study))
    return (config if space == config.search_space else config.model_copy(update={"search_space": space})), conflicts


def _conflict_message(name: str, conflicts: list[str]) -> str:
    return (
        f"Study {name!r} cannot be continued with these choices: {'; '.join(conflicts)}. Optuna refuses a "
        "parameter whose choices change within a study. Re-run with --fresh to replace it, or --study-name NEW "
        "to start another study."
    )


def _storage_for(config: StudyConfig, locations: Locations, *, create: bool = True) -> BaseStorage:
    spec = parse_storage_url(locations.storage_url)
    hb = config.heartbeat
    if not spec.supports_heartbeat:
        return open_storage(locations.storage_url, create=create)
    return open_storage(locations.storage_url, heartbeat_interval=hb.interval, grace_period=hb.grace_period, create=create)


def _existing_names(storage: BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def unknown_study(name: str, names: list[str], storage_url: str) -> str:
    """``No study named 'x' (did you mean 'y'?). Studies in URL: ...`` for a name not in ``names``."""
    known = f" Studies in {redact(storage_url)}: {', '.join(sorted(names))}." if names else f" {redact(storage_url)} has no studies yet."
    return f"No study named {name!r}{did_you_mean(name, names)}.{known}"


def seed_of(user_attrs: Mapping[str, Any]) -> int | None:
    """The seed a study was created with: recorded since hpsearch draws fresh seeds; before, it
    was the stored configuration's ``seed`` (42 unless the study file said otherwise)."""
    seed = user_attrs.get(StudyAttr.SEED)
    if seed is None:
        seed = (user_attrs.get(StudyAttr.CONFIG) or {}).get("seed")
    return None if seed is None else int(seed)


def _stored_attrs(name: str, locations: Locations) -> dict[str, Any] | None:
    """The user attributes of the existing study ``name``, or ``None`` when there is none. Reads
    only; storage problems (unreachable, empty) are left for :func:`open_study` to report."""
    spec = parse_storage_url(locations.storage_url)
    if spec.path is not None and not spec.path.is_file():
        return None
    try:
        storage = open_storage(locations.storage_url, create=False)
        if name not in _existing_names(storage):
            return None
        return storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except Exception:  # noqa: BLE001 - unreachable or empty storage: no study to read
        return None


def stored_seed(name: str, locations: Locations) -> int | None:
    """The seed of the existing study ``name``, or ``None`` when there is none. Reads only.

    The seed splits the data, so a session needs it before it loads the data and opens (or
    creates) the study.
    """
    attrs = _stored_attrs(name, locations)
    return None if attrs is None else seed_of(attrs)


def stored_config(name: str, locations: Locations) -> StudyConfig | None:
    """The configuration the existing study ``name`` was created with, or ``None``. Reads only."""
    raw = (_stored_attrs(name, locations) or {}).get(StudyAttr.CONFIG)
    return None if raw is None else parse_study_dict(raw, name=name, source=f"study {name!r} in storage", stored=True)


def fresh_seed() -> int:
    """A new study's seed when neither the study file nor --seed fixes one."""
    return secrets.randbelow(2**31)


def check_seed(name: str, recorded: int, config: StudyConfig, *, flag: str = "--seed / the study file's `seed:`") -> None:
    """A study keeps its seed: it fixed the validation split its trials were scored on."""
    if config.seed is not None and config.seed != recorded:
        raise UsageError(
            f"Study {name!r} was created with seed {recorded}, and {flag} asks for {config.seed}: another seed "
            f"would change its validation split. Drop it (or pass --seed {recorded}) to continue the study, or "
            "--fresh / --study-name NEW to start over with the new seed."
        )


def open_study(
    config: StudyConfig,
    locations: Locations,
    *,
    data_fingerprint: Mapping[str, Any],
    fresh: bool = False,
    rank: int = 0,
) -> tuple[optuna.Study, StudyConfig]:
    """Create the study, or load it and check it is the same study.

    Returns:
        ``(study, config)``: ``config`` is the one the study runs with -- its seed
        settled (the study's own, or a fresh one for a new study without ``seed``) and its
        choices in the order the study's trials recorded.

    Raises:
        UsageError: the stored study has another search space / data / objective / seed (unless
            ``fresh``, which deletes it and starts over).
    """
    storage = _storage_for(config, locations)
    name = config.name
    exists = name in _existing_names(storage)
    if exists and fresh:
        optuna.delete_study(study_name=name, storage=storage)
        exists = False
    if exists:
        study = optuna.load_study(study_name=name, storage=storage)
        # Check everything before writing anything.
        recorded = seed_of(study.user_attrs)
        if recorded is not None:
            check_seed(name, recorded, config)
            config = config.with_overrides(seed=recorded)
        elif config.seed is None:
            config = config.with_overrides(seed=fresh_seed())
        config, conflicts = _aligned(config, study)
        identity = canonical(config.identity())
        stored = study.user_attrs.get(StudyAttr.IDENTITY)
        if stored is not None and stored != identity:
            changes = _diff(stored, identity)
            shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
            raise UsageError(
                f"Study {name!r} already exists with different settings: {shown}. Trials of the two "
                "would not be comparable. Re-run with --fresh to replace it, or --study-name NEW to start another study."
            )
        if conflicts:
            raise UsageError(_conflict_message(name, conflicts))
        check_same_data(study, data_fingerprint, fix="pass the same dataset, or --fresh / --study-name NEW.")
        n_existing = storage.get_n_trials(storage.get_study_id_from_name(name))
        study.sampler = make_sampler(config, rank=rank, n_existing=n_existing)
        study.pruner = make_pruner(config)
    else:
        if config.seed is None:
            config = config.with_overrides(seed=fresh_seed())
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=[o.direction for o in config.all_objectives()],
            sampler=make_sampler(config, rank=rank),
            pruner=make_pruner(config),
        )
        if config.multi_objective:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([o.metric for o in config.all_objectives()])  # show/report name the columns
        study.set_user_attr(StudyAttr.IDENTITY, canonical(config.identity()))
        record_fingerprint(study, data_fingerprint)
    study.set_user_attr(StudyAttr.SEED, config.seed)
    study.set_user_attr(StudyAttr.CONFIG, canonical(config.to_dict()))
    study.set_user_attr(StudyAttr.TARGET, config.budget.trials)
    return study, config


def load_study(name: str, locations: Locations, *, rank: int = 0, for_worker: bool = False) -> tuple[optuna.Study, StudyConfig]:
    """Load an existing study and the config it was created with.

    A worker (``for_worker``) gets the config with its choices in the order the study's trials
    recorded, so that it samples exactly the distributions every other process samples.

    Raises:
        UsageError: no such study (with the names that do exist; exit 2, as every command that
            names a study gives), or (worker) the study's stored choices do not match its trials.
    """
    spec = parse_storage_url(locations.storage_url)
    probe = open_storage(locations.storage_url, create=False)
    names = _existing_names(probe)
    if name not in names:
        raise UsageError(unknown_study(name, names, locations.storage_url))
    attrs = optuna.load_study(study_name=name, storage=probe).user_attrs
    raw = attrs.get(StudyAttr.CONFIG)
    if raw is None:
        raise RuntimeFailure(f"Study {name!r} was not created by hpsearch (it has no stored configuration).")
    from hpsearch.study._model_check import recorded_model_dir

    config = parse_study_dict(raw, name=name, source=f"study {name!r} in storage", stored=True, model_dir=recorded_model_dir(attrs))
    if config.seed is None:
        config = config.with_overrides(seed=seed_of(attrs))
    if not for_worker:
        return optuna.load_study(study_name=name, storage=probe), config
    storage = _storage_for(config, locations) if spec.supports_heartbeat else probe
    study = optuna.load_study(study_name=name, storage=storage)
    config, conflicts = _aligned(config, study)
    if conflicts:
        raise UsageError(_conflict_message(name, conflicts))
    study.sampler = make_sampler(config, rank=rank, n_existing=storage.get_n_trials(storage.get_study_id_from_name(name)))
    study.pruner = make_pruner(config)
    return study, config


def target_trials(study: optuna.Study, config: StudyConfig) -> int:
    return int(study.user_attrs.get(StudyAttr.TARGET, config.budget.trials))
