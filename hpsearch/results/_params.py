"""Param sets in study-file syntax: the best trial's, to paste into a study, and the files a user
queues to run first (``hpsearch enqueue``), checked against the study's search space
(:mod:`hpsearch.config._param_sets` says how a set is written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hpsearch._errors import UsageError
from hpsearch.catalog import param_name
from hpsearch.config import Conditional, Fixed, Group, ParamSpec, SearchSpace, StudyConfig
from hpsearch.config._param_sets import check_param_set
from hpsearch.study._queue import enqueue_param_sets
from hpsearch.study._ranking import first_value

__all__ = ["best_params_yaml", "fixed_space", "read_param_sets", "check_param_set", "enqueue_param_sets"]


# ----------------------------------------------------------------------------- best params -> YAML


def _value(params: Mapping[str, Any], name: str, spec: ParamSpec) -> Any:
    return spec.value if isinstance(spec, Fixed) else params[name]


def fixed_space(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """``search_space`` mapping fixing every role at the value of ``params`` (a trial's params)."""
    out: dict[str, Any] = {}
    for role, spec in space.roles():
        if isinstance(spec, Conditional):
            chosen = params[role] if len(spec.branches) > 1 else spec.names[0]
            knobs = spec.branch(chosen).knobs
            out[role] = {chosen: {k: _value(params, param_name(chosen, k), s) for k, s in knobs}}
        elif isinstance(spec, Group):
            out[role] = {k: _value(params, param_name(role, k), s) for k, s in spec.knobs}
        else:
            out[role] = _value(params, role, spec)
    return out


def best_params_yaml(study_name: str, config: StudyConfig, trial: Any) -> str:
    """The params of ``trial`` (a FrozenTrial) as a study file's ``search_space`` section."""
    value = first_value(trial)
    score = "" if value is None else f" ({config.all_objectives()[0].metric} {value:.6g})"
    header = (
        f"# Best trial {trial.number} of study {study_name}{score}.\n"
        "# Paste into a study file to fix these values, or queue them: hpsearch enqueue NAME FILE.yaml\n"
    )
    body = yaml.safe_dump({"search_space": fixed_space(config.search_space, trial.params)}, sort_keys=False)
    return header + body


# ----------------------------------------------------------------------------- queued sets <- YAML


def read_param_sets(path: str | Path, config: StudyConfig) -> list[dict[str, Any]]:
    """The param sets of a YAML file (one mapping, or a list of them), each checked against the
    study's search space.

    Raises:
        UsageError: unreadable file, or one line naming the first bad set, parameter and value.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise UsageError(f"Cannot read {path}: {e.strerror or e}.") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    sets: Sequence[Any] = raw if isinstance(raw, list) else [raw]
    if not sets or raw is None:
        raise UsageError(f"{path}: no param sets; write one mapping of parameter -> value, or a list of them.")
    need_all = config.sampler.name == "grid"
    return [
        check_param_set(config.search_space, s, f"{path}" + (f" [set {i + 1}]" if len(sets) > 1 else ""), need_all=need_all)
        for i, s in enumerate(sets)
    ]
