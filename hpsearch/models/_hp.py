"""``hp``: what a user's model builder receives -- the trial's values and helpers applying the searched roles.

A user model is a function ``build(hp) -> keras.Model`` (see :mod:`hpsearch.models._user`).
:class:`Hyperparameters` is a read-only mapping of every sampled value (``hp["filters"]``,
``hp["dropout"]``), plus what the data says (``hp.input_shape`` without the batch dimension,
``hp.num_outputs``) and helpers that give the user's layers the searched kernel initializer,
regularizer, batch-norm placement and dropout::

    def build(hp):
        inputs = hp.input()
        x = hp.rescale(inputs)
        x = hp.activate(hp.conv2d(hp["filters"], 3)(x))        # conv -> [BN] -> relu -> [BN]
        x = hp.dropout(keras.layers.MaxPooling2D()(x))
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, hp.output(x))              # num_outputs units, the task's activation

A builder written for Keras Tuner reads its knobs with ``hp.Int``, ``hp.Float``, ``hp.Choice``,
``hp.Boolean`` and ``hp.Fixed``: each returns the value of the knob the study file declares under
``search_space.model`` (the study file is where a space lives). A knob it does not declare is a
one-line error that gives the YAML to add, written from the call's own arguments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import yaml

from hpsearch.catalog import REGULARIZERS, param_name

__all__ = ["Hyperparameters", "UndeclaredKnobError", "declaration_yaml"]


class UndeclaredKnobError(KeyError):
    """A Keras Tuner style call (``hp.Int("units", 32, 512)``) reads a knob the study file does not
    declare; the message gives the ``search_space.model`` entry to add."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


def declaration_yaml(knobs: Mapping[str, Any]) -> str:
    """``knobs`` (name -> study-file spec) as one line of YAML: ``{units: {low: 32, high: 512}}``."""
    return yaml.safe_dump(dict(knobs), default_flow_style=True, sort_keys=False, width=10**6).strip()


class Hyperparameters(Mapping[str, Any]):
    """The values of one point of the search space, and helpers applying its standard roles.

    Args:
        values: every sampled value by parameter name (the standard roles and the user's knobs).
        input_shape: one example's shape, no batch dimension.
        num_outputs: units of the output layer (classes, or regression targets).
        input_scale: factor that turns raw inputs into the model's scale (``1/255`` for pixels).
        output_activation: of the output layer: ``"softmax"`` for class probabilities, ``None``
            for raw values.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        input_shape: Sequence[int],
        num_outputs: int,
        input_scale: float = 1.0,
        output_activation: str | None = "softmax",
    ) -> None:
        if num_outputs < 1:
            raise ValueError(f"`num_outputs >= 1` must hold, but got ({num_outputs=}).")
        self._values = dict(values)
        self.input_shape = tuple(int(n) for n in input_shape)
        self.num_outputs = int(num_outputs)
        self.input_scale = float(input_scale)
        self.output_activation = output_activation
        self.initializer: str = self._values.get("initializer", "glorot_uniform")
        self.batch_norm: str = self._values.get("batch_norm", "none")
        self.dropout_rate = float(self._values.get("dropout", 0.0))
        self.regularizer = self._build_regularizer()
        self._collecting = self._far = False
        #: Keras Tuner style knobs read but not declared (name -> spec), while :meth:`collect_undeclared` is on.
        self.undeclared: dict[str, Any] = {}

    def collect_undeclared(self, *, far: bool = False) -> None:
        """From now on an undeclared Keras Tuner style knob is recorded in :attr:`undeclared` and
        its default returned (``far``: its other end, the maximum, last choice or ``True``)
        instead of raising: a dry build lists them all at once."""
        self._collecting, self._far = True, far

    def _build_regularizer(self) -> keras.regularizers.Regularizer | None:
        name = self._values.get("regularizer", "none")
        knobs = {knob: self._values.get(param_name(name, knob), spec.default) for knob, spec in REGULARIZERS.option(name).knobs.items()}
        return REGULARIZERS.build(name, knobs)

    # ----------------------------------------------------------------------------- the mapping

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values)) or "none"
            raise KeyError(f"hp has no parameter {name!r}; declare it under search_space.model (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Hyperparameters({self._values!r}, input_shape={self.input_shape}, num_outputs={self.num_outputs})"

    # ----------------------------------------------------------------------------- Keras Tuner's calls

    def _declared(self, call: str, name: str, spec: Any, default: Any, far: Any = None) -> Any:
        if name in self._values:
            return self._values[name]
        if self._collecting:
            self.undeclared[name] = spec
            return far if self._far and far is not None else default
        raise UndeclaredKnobError(
            f"hp.{call}({name!r}, ...) reads a knob the study file does not declare; add under search_space.model: "
            f"{declaration_yaml({name: spec})}"
        )

    @staticmethod
    def _range(low: float, high: float, step: float | None, sampling: str | None, kind: type) -> Any:
        """The study-file spec of Keras Tuner's range. A log range's ``step`` is a factor there
        (32, 64, 128 for step 2), which an Optuna range cannot say: those points become choices."""
        if sampling == "log" and step is not None and step > 1 and low > 0:
            points, value = [], float(low)
            while value <= high * (1 + 1e-9):
                points.append(kind(value))
                value *= step
            return points
        spec: dict[str, Any] = {"low": kind(low), "high": kind(high)}
        if step is not None and not (kind is int and step == 1):
            spec["step"] = kind(step)
        if sampling == "log":
            spec["log"] = True
        return spec

    def Int(  # noqa: N802 - Keras Tuner's name
        self, name: str, min_value: int, max_value: int, step: int | None = None, sampling: str = "linear",
        default: int | None = None, **_: Any,
    ) -> int:
        """Keras Tuner's ``hp.Int``: the declared knob ``name`` (a ``{low, high[, step][, log]}`` range)."""
        spec = self._range(min_value, max_value, step, sampling, int)
        return self._declared("Int", name, spec, int(min_value) if default is None else default, int(max_value))

    def Float(  # noqa: N802 - Keras Tuner's name
        self, name: str, min_value: float, max_value: float, step: float | None = None, sampling: str = "linear",
        default: float | None = None, **_: Any,
    ) -> float:
        """Keras Tuner's ``hp.Float``: the declared knob ``name`` (a ``{low, high[, step][, log]}`` range)."""
        spec = self._range(min_value, max_value, step, sampling, float)
        return self._declared("Float", name, spec, float(min_value) if default is None else default, float(max_value))

    def Choice(self, name: str, values: Sequence[Any], ordered: bool | None = None, default: Any = None, **_: Any) -> Any:  # noqa: N802
        """Keras Tuner's ``hp.Choice``: the declared knob ``name`` (a list of choices)."""
        values = list(values)
        return self._declared("Choice", name, values, values[0] if default is None else default, values[-1])

    def Boolean(self, name: str, default: bool = False, **_: Any) -> bool:  # noqa: N802 - Keras Tuner's name
        """Keras Tuner's ``hp.Boolean``: the declared knob ``name`` (``[false, true]``)."""
        return self._declared("Boolean", name, [False, True], default, True)

    def Fixed(self, name: str, value: Any, **_: Any) -> Any:  # noqa: N802 - Keras Tuner's name
        """Keras Tuner's ``hp.Fixed``: the declared knob ``name``, else a one-line error to declare it (fixed)."""
        return self._declared("Fixed", name, value, value)

    def conditional_scope(self, parent_name: str, parent_values: Any) -> contextlib.AbstractContextManager[None]:
        """Keras Tuner's scope for knobs used only for some values of another: a plain block here
        (the study file's knobs are all declared; the ones a trial does not read are still sampled)."""
        return contextlib.nullcontext()

    # ----------------------------------------------------------------------------- layers

    def _kernel(self, given: Mapping[str, Any]) -> dict[str, Any]:
        defaults = {
            "kernel_initializer": self.initializer,
            "kernel_regularizer": self.regularizer,
            "use_bias": self.batch_norm != "before_activation",  # batch norm re-centres
        }
        return {**defaults, **given}

    def input(self, name: str = "image") -> Any:
        """``keras.Input`` of one example's shape."""
        return keras.Input(shape=self.input_shape, name=name)

    def rescale(self, x: Any, name: str = "rescale") -> Any:
        """``x`` times ``input_scale`` (exported models then take raw inputs)."""
        return keras.layers.Rescaling(self.input_scale, name=name)(x)

    def conv2d(self, filters: int, kernel_size: int | tuple[int, int], **kwargs: Any) -> keras.layers.Conv2D:
        """A ``Conv2D`` (``padding="same"`` unless given) with the searched initializer and
        regularizer, and no bias when batch norm comes before the activation. No activation:
        follow it with :meth:`activate`. ``kwargs`` override any of these."""
        kwargs.setdefault("padding", "same")
        return keras.layers.Conv2D(filters, kernel_size, **self._kernel(kwargs))

    def dense(self, units: int, **kwargs: Any) -> keras.layers.Dense:
        """A ``Dense`` layer with the searched initializer and regularizer (as :meth:`conv2d`)."""
        return keras.layers.Dense(units, **self._kernel(kwargs))

    def activate(self, x: Any, activation: str = "relu", name: str | None = None) -> Any:
        """``activation`` with the searched batch-norm placement: [BN] -> activation -> [BN]."""
        if self.batch_norm == "before_activation":
            x = keras.layers.BatchNormalization(name=name and f"{name}_bn")(x)
        x = keras.layers.Activation(activation, name=name and f"{name}_{activation}")(x)
        if self.batch_norm == "after_activation":
            x = keras.layers.BatchNormalization(name=name and f"{name}_bn")(x)
        return x

    def dropout(self, x: Any, name: str | None = None) -> Any:
        """``x`` through a ``Dropout`` at the searched rate (end of a block)."""
        return keras.layers.Dropout(self.dropout_rate, name=name)(x)

    def output(self, x: Any, name: str = "outputs") -> Any:
        """The output layer: ``num_outputs`` units with the task's activation, searched initializer
        and regularizer."""
        return keras.layers.Dense(
            self.num_outputs,
            activation=self.output_activation,
            kernel_initializer=self.initializer,
            kernel_regularizer=self.regularizer,
            name=name,
        )(x)
