"""A model you write: ``model: path/to/file.py:function`` or ``model: package.module:function``.

The contract: ``function(hp) -> keras.Model``, where ``hp`` is a
:class:`~hpsearch.models._hp.Hyperparameters` (every sampled value, the data's ``input_shape`` and
``num_outputs``, and helpers applying the searched roles). Return the model uncompiled and hpsearch
compiles it with the searched optimizer, schedule, loss and metrics; a model returned compiled is
trained as it is, so a study that searches the optimizer (or the learning rate or schedule) of such
a model is refused (:func:`compiled_model_problem`).

Before any trial is stored, :func:`validate_builder` imports the file, finds the function, checks
it can be called as ``function(hp)``, builds it once on the data's shape with one point of the space,
runs it on a zero batch and checks the output shape, and saves and loads the model back in Keras
safe mode (what checkpoints, resume and export do): custom layers must be registered with
``@keras.saving.register_keras_serializable()``. Each failure is a :class:`UsageError` of one line
that names the problem -- for code that raises: the exception's type and message and the file:line
in the user's file.

:func:`builder_digest` is a digest of the builder's source file for the study identity, and
:func:`digest_warning` the warning shown when it changed between two runs of one study.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import tempfile
import traceback
from collections.abc import Callable, Collection
from pathlib import Path
from types import ModuleType
from typing import Any

import keras
import numpy as np

from hpsearch._errors import UsageError, did_you_mean
from hpsearch.catalog import OPTIMIZERS, SCHEDULES
from hpsearch.config._model import BUILDER_FORMS, BuilderRef
from hpsearch.models._hp import Hyperparameters, declaration_yaml

__all__ = [
    "load_builder",
    "validate_builder",
    "output_problem",
    "is_compiled",
    "compiled_model_problem",
    "saving_problem",
    "builder_digest",
    "digest_warning",
]

Builder = Callable[[Hyperparameters], keras.Model]

_OPTIMIZER_ROLES = frozenset({"optimizer", "learning_rate", "schedule", *OPTIMIZERS, *SCHEDULES})


# ----------------------------------------------------------------------------- messages


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe(exc: BaseException, file: Path | None) -> str:
    """``"ValueError: boom (blocks.py:12)"``: the innermost line of ``file`` the exception passed."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_one_line(exc)} ({Path(exc.filename).name}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    if file is not None:
        mine = [f for f in frames if Path(f.filename).resolve() == file.resolve()]
        frames = mine or frames
    if not frames:
        return _one_line(exc)
    return f"{_one_line(exc)} ({Path(frames[-1].filename).name}:{frames[-1].lineno})"


# ----------------------------------------------------------------------------- loading


def _import_file(ref: BuilderRef, path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(
            f"Model {ref.text!r}: no file {path} (a relative path is read from the study file's folder); check the path."
        )
    resolved = path.resolve()
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    key = hashlib.sha1(str(resolved).encode() + b"\0" + resolved.read_bytes()).hexdigest()[:12]
    name = f"hpsearch_user_model_{stem}_{key}"
    if name in sys.modules:  # imported once per process and version of the file
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UsageError(f"Model {ref.text!r}: importing {path.name} failed: {_describe(exc, resolved)}.") from None
    return module


def _import_module(ref: BuilderRef, name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(
                f"Model {ref.text!r}: no module named {exc.name!r}; install it, or name a file: {BUILDER_FORMS}."
            ) from None
        raise UsageError(f"Model {ref.text!r}: importing {name} failed: {_describe(exc, None)}.") from None
    except Exception as exc:
        raise UsageError(f"Model {ref.text!r}: importing {name} failed: {_describe(exc, None)}.") from None


def _source_file(ref: BuilderRef, module: ModuleType | None = None) -> Path | None:
    if ref.file is not None:
        return ref.file.resolve()
    origin = getattr(module, "__file__", None)
    return Path(origin).resolve() if origin else None


def _check_signature(ref: BuilderRef, function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to inspect
        return
    try:
        signature.bind(None)
    except TypeError:
        raise UsageError(
            f"Model {ref.text!r}: {ref.function}{signature} must take exactly one parameter, hp: "
            f"def {ref.function}(hp) -> keras.Model."
        ) from None


def load_builder(ref: BuilderRef) -> Builder:
    """Import the builder ``ref`` names and check it can be called as ``function(hp)``.

    Raises:
        UsageError: no such file or module, an import that raises, no such function, or a
            function that does not take exactly one parameter (one line each).
    """
    module = _import_file(ref, ref.file) if ref.file is not None else _import_module(ref, str(ref.module))
    function = getattr(module, ref.function, None)
    if function is None:
        defined = sorted(
            n for n, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_")
        )  # fmt: skip
        raise UsageError(
            f"Model {ref.text!r}: {ref.where} has no function {ref.function!r}{did_you_mean(ref.function, defined)}; "
            f"it defines {', '.join(defined) or 'no public function'}."
        )
    if not callable(function) or inspect.isclass(function):
        raise UsageError(
            f"Model {ref.text!r}: {ref.function} is a {type(function).__name__}, not a function; "
            f"write def {ref.function}(hp) -> keras.Model."
        )
    _check_signature(ref, function)
    return function


# ----------------------------------------------------------------------------- checks of a built model


def output_problem(model: keras.Model, hp: Hyperparameters) -> str | None:
    """Why ``model`` does not map a batch of ``hp.input_shape`` to ``hp.num_outputs`` values, or ``None``."""
    try:
        out = model(np.zeros((1, *hp.input_shape), dtype="float32"), training=False)
    except Exception as exc:
        return f"the model does not run on inputs of shape {hp.input_shape} (the data's, without the batch dimension): {_one_line(exc)}"
    if isinstance(out, (list, tuple, dict)):
        return f"the model has {len(out)} outputs; return a model with one output of shape ({hp.num_outputs},)"
    shape = tuple(out.shape[1:])
    if shape != (hp.num_outputs,):
        return (
            f"the model's output shape is {shape}, expected ({hp.num_outputs},) (hp.num_outputs, from the data); "
            f"end it with hp.output(x)"
        )
    return None


def is_compiled(model: keras.Model) -> bool:
    """Whether the builder returned ``model`` compiled (hpsearch then trains it as it is)."""
    return bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None


def compiled_model_problem(searched: Collection[str]) -> str | None:
    """Why a compiled model cannot be used with a study that searches ``searched``, or ``None``.

    A compiled model keeps its own optimizer, so searching the optimizer, learning rate or schedule
    (or one of their branches' knobs) would change nothing: a configuration error.
    """
    clash = [name for name in searched if name.split(".", 1)[0] in _OPTIMIZER_ROLES]
    if not clash:
        return None
    return (
        f"the builder returns a compiled model, which is trained with its own optimizer, yet the study searches "
        f"{', '.join(clash)}; return the model uncompiled (hpsearch compiles it with the searched optimizer), "
        f"or fix those parameters in search_space"
    )


def _is_keras(cls: type) -> bool:
    return cls.__module__.split(".", 1)[0] == "keras"


def saving_problem(model: keras.Model) -> str | None:
    """Why ``model`` cannot be saved and loaded back in Keras safe mode (as checkpoints, resume and
    export do), or ``None``: a ``Lambda`` layer, an unregistered custom class, or a failed round trip."""
    for layer in model._flatten_layers(include_self=True, recursive=True):
        cls = type(layer)
        if isinstance(layer, keras.layers.Lambda):
            return (
                f"layer {layer.name!r} is a Lambda, which Keras refuses to load in safe mode (checkpoints, resume, "
                f"export); write it as a layer class decorated with @keras.saving.register_keras_serializable()"
            )
        if not _is_keras(cls) and ">" not in keras.saving.get_registered_name(cls):
            return (
                f"custom class {cls.__name__} is not registered with Keras, so a saved checkpoint of the model "
                f"could not be loaded back; decorate it with @keras.saving.register_keras_serializable"
                f"(package=\"my_models\") and give it a get_config() that returns its __init__ arguments"
            )
    with tempfile.TemporaryDirectory(prefix="hpsearch-model-check-") as tmp:
        path = Path(tmp) / "model.keras"
        try:
            model.save(path)
            keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:
            return (
                f"saving the model and loading it back in Keras safe mode failed ({_one_line(exc, 200)}); a custom "
                f"layer needs a get_config() that returns its __init__ arguments"
            )
    return None


# ----------------------------------------------------------------------------- validation


def _dry_build(ref: BuilderRef, builder: Builder, hp: Hyperparameters) -> keras.Model:
    try:
        model = builder(hp)
    except Exception as exc:
        raise UsageError(
            f"Model {ref.text!r}: {ref.function}(hp) failed on a dry build (inputs {hp.input_shape}, "
            f"{hp.num_outputs} outputs): {_describe(exc, _source_file(ref, inspect.getmodule(builder)))}."
        ) from None
    if not isinstance(model, keras.Model):
        raise UsageError(
            f"Model {ref.text!r}: {ref.function}(hp) returned {type(model).__name__}, not a keras.Model; "
            f"end it with return keras.Model(inputs, outputs)."
        )
    return model


def validate_builder(
    ref: BuilderRef, hp: Hyperparameters, *, searched: Collection[str] = (), other_end: Hyperparameters | None = None
) -> Builder:
    """Check, before any trial, that ``ref`` builds a usable model at one point of the space.

    Args:
        ref: the builder. hp: one point of the space on the data's shape.
        searched: the names of the study's searched parameters (a compiled model must not have
            its optimizer searched).
        other_end: another point (the space's other end). Built only to find Keras Tuner style
            knobs that show behind a branch (``if hp.Boolean("extra"): hp.Int("units", ...)``);
            a failure there is not this check's to report.

    Returns:
        The builder, imported.

    Raises:
        UsageError: one line naming the problem (see the module's docstring).
    """
    builder = load_builder(ref)
    hp.collect_undeclared()
    model = _dry_build(ref, builder, hp)
    if other_end is not None:
        other_end.collect_undeclared(far=True)
        try:
            builder(other_end)
        except Exception:  # noqa: BLE001 - only its undeclared knobs matter here
            pass
        hp.undeclared.update({k: v for k, v in other_end.undeclared.items() if k not in hp.undeclared})
    if hp.undeclared:
        raise UsageError(
            f"Model {ref.text!r}: {ref.function}(hp) reads Keras Tuner style knobs the study file does not declare "
            f"({', '.join(hp.undeclared)}); the study file holds the space: add under search_space.model: "
            f"{declaration_yaml(hp.undeclared)}"
        )
    problem = (
        output_problem(model, hp)
        or (compiled_model_problem(searched) if is_compiled(model) else None)
        or saving_problem(model)
    )
    if problem:
        raise UsageError(f"Model {ref.text!r}: {problem}.")
    return builder


# ----------------------------------------------------------------------------- identity


def builder_digest(ref: BuilderRef) -> str:
    """``"sha256:<hex>"`` of the builder's source file, for the study identity."""
    if ref.file is not None:
        path = ref.file
    else:
        spec = importlib.util.find_spec(str(ref.module))
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise UsageError(f"Model {ref.text!r}: no source file for module {ref.module!r}; name a file: {BUILDER_FORMS}.")
        path = Path(spec.origin)
    if not path.is_file():
        raise UsageError(f"Model {ref.text!r}: no file {path}; check the path.")
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def digest_warning(stored: str | None, current: str, ref: BuilderRef) -> str | None:
    """The warning to show when a study's builder source changed since it was stored, or ``None``."""
    if stored is None or stored == current:
        return None
    return (
        f"The model builder {ref.text} changed since this study started (its source digest was "
        f"{stored[:15]}..., now {current[:15]}...): trials before and after the edit may not be comparable. "
        f"To compare like with like, start a new study: run it with --study-name NEW (or --fresh to replace this one)."
    )
