"""Overhead of an hpsearch trial over a bare ``model.fit`` of the same model, data and epochs.

Uses only the public API (``hpsearch.run_study``) and Keras' own public hooks. The hpsearch side is a
real study (``run_study`` on an npz file of CIFAR-shaped random images, fixed hyperparameters): per
trial the loop's budget lock and ask, sampling, an MLflow run with per-epoch metrics, a resume
checkpoint every epoch, the best checkpoint and its load check, early stopping, pruning reports, the
epoch logs, the learning-curve PNG and artifacts, Optuna tell and the run's close. A trial's time runs
from the end of the previous trial's ``Reporter.trial_finished`` event to its own. The bare side is
the same CNN written in plain Keras (``scripts/_bare.py``; the parameter counts are checked to agree)
fitted on the very ``tf.data`` pipelines the trial was given. The bare fits run between trials, inside
the reporter's ``trial_finished`` event, in ABBA order (bare, trial / trial, bare / ...) after one
discarded warm-up pair, which cancels slow drifts of the machine's speed; the medians are compared.

Because a 2-core machine's speed drifts by more than the overhead between runs, the script also
*accounts* for the overhead inside each trial: the trial's time minus what the bare side also does --
building the model (the bare build's median) and ``fit`` less the time spent in the callbacks
hpsearch passed to it (``keras.Model.fit`` is wrapped, and so is every hook those callbacks override).

    python scripts/bench_overhead.py                 # 10,000 images, 3 epochs, 6 repeats
    python scripts/bench_overhead.py --images 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import keras
import numpy as np
import optuna
import yaml
from _bare import classic_cnn

import hpsearch

PARAMS = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 64,
    "dropout": 0.25,
    "batch_norm": "none",
    "initializer": "glorot_uniform",
}
HOOKS = tuple(name for name in dir(keras.callbacks.Callback) if name.startswith("on_"))


def write_data(path: Path, n_train: int, n_val: int, n_test: int) -> float:
    """CIFAR-shaped random images; returns the validation fraction that carves ``n_val`` of them."""
    rng = np.random.default_rng(0)
    n = n_train + n_val
    x = rng.integers(0, 256, size=(n + n_test, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n + n_test) % 10  # every class in every split
    np.savez(path, x_train=x[:n], y_train=y[:n], x_test=x[n:], y_test=y[n:])
    return n_val / n


class FitMeter:
    """Wraps ``keras.Model.fit`` while ``active``: times the fit and every overridden hook of the
    callbacks passed to it, and keeps the trial's data and parameter count for the bare side."""

    def __init__(self) -> None:
        self.active = False
        self.fit = self.callbacks = 0.0
        self.data: tuple[Any, Any] | None = None
        self.params = 0
        real_fit = keras.Model.fit
        meter = self

        def fit(model: keras.Model, x: Any = None, *args: Any, **kwargs: Any) -> Any:
            if not meter.active:
                return real_fit(model, x, *args, **kwargs)
            meter.data, meter.params = (x, kwargs.get("validation_data")), model.count_params()
            start = time.perf_counter()
            with meter._timed_hooks(kwargs.get("callbacks") or []):
                try:
                    return real_fit(model, x, *args, **kwargs)
                finally:
                    meter.fit += time.perf_counter() - start

        keras.Model.fit = fit

    @contextmanager
    def _timed_hooks(self, callbacks: list[keras.callbacks.Callback]) -> Iterator[None]:
        wrapped = []
        for callback in callbacks:
            for hook in HOOKS:
                if getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook):  # overridden
                    setattr(callback, hook, self._timed(getattr(callback, hook)))
                    wrapped.append((callback, hook))
        try:
            yield
        finally:
            for callback, hook in wrapped:
                delattr(callback, hook)  # the class's method again

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.callbacks += time.perf_counter() - start

        return timed

    def take(self) -> tuple[float, float]:
        """``(fit, callbacks)`` seconds since the last call."""
        taken = (self.fit, self.callbacks)
        self.fit = self.callbacks = 0.0
        return taken


class Bench(hpsearch.NullReporter):
    """The study's progress events: times each trial and runs the bare fits between trials."""

    def __init__(self, meter: FitMeter, repeats: int, epochs: int) -> None:
        self.meter, self.repeats, self.epochs = meter, repeats, epochs
        self.trials: list[tuple[float, float, float]] = []  # (trial, fit, callbacks) seconds
        self.bare: dict[int, tuple[float, float]] = {}  # repeat -> (build, fit) seconds
        self.since: float | None = None
        meter.active = True

    def trial_finished(self, trial: Any, outcome: Any) -> None:
        now = time.perf_counter()
        assert trial is not None and trial.state == optuna.trial.TrialState.COMPLETE, trial
        fit, callbacks = self.meter.take()
        if self.since is None:  # the first trial is the warm-up, and so is the first bare fit
            print("warm-up trial done; warm-up bare fit...", flush=True)
            self.bare_fit()
        else:
            self.trials.append((now - self.since, fit, callbacks))
        k = len(self.trials)  # trials measured so far
        # ABBA: repeat i is (bare, trial i+1) when i is even, (trial i+1, bare) when i is odd
        for i in (k - 1, k):
            if 0 <= i < self.repeats and (i % 2 == 1) == (i == k - 1):
                self.bare[i] = self.bare_fit()
        self.since = time.perf_counter()

    def bare_fit(self) -> tuple[float, float]:
        self.meter.active = False
        assert self.meter.data is not None
        train, validation = self.meter.data
        try:
            start = time.perf_counter()
            keras.utils.set_random_seed(0)
            model = classic_cnn((32, 32, 3), 10, dropout=PARAMS["dropout"], learning_rate=PARAMS["learning_rate"])
            built = time.perf_counter()
            assert model.count_params() == self.meter.params, f"bare model {model.count_params()} != trial model {self.meter.params} params"
            model.fit(train, validation_data=validation, epochs=self.epochs, verbose=0, shuffle=False)
            done = time.perf_counter()
            del model
            keras.backend.clear_session(free_memory=True)
            return built - start, done - built
        finally:
            self.meter.active = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    if args.epochs < 3 or args.repeats < 1:
        parser.error("--epochs must be >= 3 and --repeats >= 1")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")  # the library leaves warning filters alone; the CLI would set these
    with tempfile.TemporaryDirectory() as tmp:
        for variable in ("HPSEARCH_STORAGE", "MLFLOW_TRACKING_URI"):
            os.environ.pop(variable, None)
        os.environ["HPSEARCH_HOME"] = str(Path(tmp, "mlruns"))  # a fresh store, deleted afterwards
        fraction = write_data(Path(tmp, "data.npz"), args.images, max(10, args.images // 10), 500)
        study = {
            "dataset": str(Path(tmp, "data.npz")),
            "validation_fraction": fraction,
            "seed": 42,  # fixed: every repeat trains the same model
            "training": {"max_epochs": args.epochs, "early_stopping_patience": args.epochs},
            "search_space": PARAMS,
            "pruner": {"name": "median"},
            "budget": {"trials": args.repeats + 1},  # + the warm-up
        }
        Path(tmp, "bench.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
        bench = Bench(FitMeter(), args.repeats, args.epochs)
        print(f"{args.images} CIFAR-shaped images, {args.epochs} epochs, batch {PARAMS['batch_size']}; warm-up...", flush=True)
        summary = hpsearch.run_study(hpsearch.StudyRequest(study=str(Path(tmp, "bench.yaml"))), reporter_factory=lambda *_: bench)
        assert summary.counts.complete == args.repeats + 1, summary.counts

    builds = statistics.median(build for build, _ in bench.bare.values())
    bare = [build + fit for build, fit in (bench.bare[i] for i in range(args.repeats))]
    trial = [t for t, _, _ in bench.trials]
    own = [t - builds - (fit - callbacks) for t, fit, callbacks in bench.trials]  # the trial minus what a bare run also does
    for i in range(args.repeats):
        print(f"  repeat {i + 1}: bare {bare[i]:.2f} s   hpsearch trial {trial[i]:.2f} s (of which hpsearch's own work {own[i]:.2f} s)")
    b, t = statistics.median(bare), statistics.median(trial)
    print(f"\nmedian bare model.fit : {b:.2f} s  (min {min(bare):.2f}, max {max(bare):.2f})")
    print(f"median hpsearch trial : {t:.2f} s  (min {min(trial):.2f}, max {max(trial):.2f})")
    print(f"A/B overhead ratio    : {t / b:.3f}  ({(t - b):+.2f} s per trial; run-to-run spread of bare fits {100 * (max(bare) - min(bare)) / b:.0f}%)")
    o = statistics.median(own)
    ratios = [tt / (tt - oo) for tt, oo in zip(trial, own)]
    print(
        f"accounted overhead    : {o:.2f} s of hpsearch's own work per trial ({o / args.epochs:.2f} s per epoch); "
        f"ratio {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
