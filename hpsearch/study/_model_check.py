"""The study's model, checked on its data before any trial is written; the builder recorded with the study.

* ``cnn``: the searched architecture must fit the data's images at its worst point
  (:func:`~hpsearch.catalog.space_problem`): refused up front, never skipped per trial.
* a builder you write: its file imports, the function exists and takes ``hp``, a dry build at
  one point of the space (:func:`~hpsearch.space._sample.first_point`) on the data's shape gives
  the output the task needs and saves and loads back in Keras safe mode
  (:func:`~hpsearch.models._user.validate_builder`).

A builder is recorded with its study (:attr:`~hpsearch.keys.StudyAttr.MODEL_BUILDER`): the
reference as written, the absolute source file and the study file's folder (a worker reads a relative
``file.py`` from that folder when it exists on its machine, else from its current directory) and its digest (an edit between two runs of the study is reported). The study's
identity holds the reference; the digest only warns -- editing a builder is how one develops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from hpsearch._errors import UsageError
from hpsearch.catalog import MODELS, space_problem
from hpsearch.config import Choice, Fixed, Group, StudyConfig
from hpsearch.keys import StudyAttr

__all__ = ["check_model", "import_builder", "builder_record", "record_builder", "recorded_model_dir"]


def _as_collections(group: Group) -> dict[str, Any]:
    """A group's knobs as :func:`~hpsearch.catalog.space_problem` takes them: a value, or the values it can take."""
    out: dict[str, Any] = {}
    for knob, spec in group.knobs:
        if isinstance(spec, Fixed):
            out[knob] = spec.value
        elif isinstance(spec, Choice):
            out[knob] = list(spec.choices)
        else:
            out[knob] = [spec.low, spec.high] if not spec.integer else [int(spec.low), int(spec.high)]
    return out


def _family_problem(config: StudyConfig, input_shape: tuple[int, ...]) -> str | None:
    if config.model not in MODELS:  # a table model (the MLP) takes any rows of features
        return None
    role = getattr(MODELS.option(config.model), "role", "")
    group = getattr(config.search_space, role, None) if role else None
    if group is None:
        return None
    problem = space_problem(_as_collections(group), input_shape)
    return f"{config.source}: search_space.{role}: {problem}." if problem else None


def check_model(config: StudyConfig, dataset: Any) -> dict[str, str] | None:
    """Check the study's model can be built for ``dataset``; return the builder's record (or ``None`` for a family).

    Raises:
        UsageError: one line naming the problem (nothing has been written).
    """
    from hpsearch.models._build import DataSpec
    from hpsearch.space._sample import first_point, last_point
    from hpsearch.tasks._plan import plan_for

    head = plan_for(config, dataset).head(first_point(config.search_space))  # what a trial asks of the model
    activation = None if head.activation == "linear" else head.activation
    data = DataSpec(tuple(dataset.input_shape), head.units, float(dataset.input_scale), activation)
    ref = config.builder_ref()
    if ref is None:
        problem = _family_problem(config, data.input_shape)
        if problem:
            raise UsageError(problem)
        return None
    from hpsearch.models._build import ModelFactory
    from hpsearch.models._user import validate_builder

    factory = ModelFactory(config)  # imports the builder: a bad file or function is reported here
    validate_builder(
        ref, factory.hp(first_point(config.search_space), data), searched=config.search_space.searched(),
        other_end=factory.hp(last_point(config.search_space), data),
    )
    return builder_record(config)


def import_builder(config: StudyConfig) -> None:
    """Import the study's builder, if you wrote one, before one of its checkpoints is loaded: the
    custom layers its file registers must be known to Keras's safe mode."""
    if config.builder_ref() is not None:
        from hpsearch.models._build import ModelFactory

        ModelFactory(config)


def builder_record(config: StudyConfig) -> dict[str, str]:
    """``{"reference", "path", "digest"}`` of the study's builder (its file, or its module's
    source), and ``model_dir`` (the study file's folder) for a file."""
    import importlib.util

    from hpsearch.models._user import builder_digest

    ref = config.builder_ref()
    assert ref is not None
    if ref.file is not None:
        path = str(ref.file.resolve())
        return {"reference": ref.text, "path": path, "digest": builder_digest(ref), "model_dir": str(config.model_dir or Path.cwd())}
    spec = importlib.util.find_spec(str(ref.module))
    path = str(Path(spec.origin).resolve()) if spec is not None and spec.origin else str(ref.module)
    return {"reference": ref.text, "path": path, "digest": builder_digest(ref)}


def record_builder(study: optuna.Study, config: StudyConfig, record: Mapping[str, str] | None, *, write: bool = True) -> str | None:
    """Record the builder with ``study`` (unless not ``write``: a worker joining it); the warning
    to show if its source differs from the one recorded (see
    :func:`~hpsearch.models._user.digest_warning`), else ``None``."""
    if record is None:
        return None
    from hpsearch.models._user import digest_warning

    ref = config.builder_ref()
    assert ref is not None
    stored = study.user_attrs.get(StudyAttr.MODEL_BUILDER) or {}
    warning = digest_warning(stored.get("digest"), record["digest"], ref)
    if write and dict(stored) != dict(record):
        study.set_user_attr(StudyAttr.MODEL_BUILDER, dict(record))
    return warning


def recorded_model_dir(user_attrs: Mapping[str, Any]) -> str | None:
    """The folder a stored study's relative ``model: file.py:function`` is read from: the study
    file's folder recorded when it last ran, when it is on this machine; else the current directory."""
    folder = (user_attrs.get(StudyAttr.MODEL_BUILDER) or {}).get("model_dir")
    if not folder:
        return None
    return folder if Path(folder).is_dir() else str(Path.cwd())
