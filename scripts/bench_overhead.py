"""Overhead of an hpsearch trial over a bare ``model.fit`` of the same model, data and epochs.

Both sides build the same CNN from the same params and train on the same ``tf.data`` pipeline
(CIFAR-shaped synthetic data). The hpsearch side is a full trial: sampling, MLflow run with
per-epoch metrics, resume checkpoint every epoch, best-only checkpoint, early stopping, pruning
report, learning-curve PNG and checkpoint artifacts, Optuna tell. Runs alternate in ABBA order
(bare, trial, trial, bare, ...) after one discarded warm-up pair, which cancels slow drifts of the
machine's speed, and the medians are compared. Because a 2-core machine's speed drifts by more than
the overhead between runs, the script also *accounts* for the overhead inside each trial: the
trial's time minus what the bare side also does (``build_model`` and ``fit``, less the time spent in
hpsearch's own callbacks during ``fit``).

    python scripts/bench_overhead.py                 # 10,000 images, 3 epochs, 6 repeats
    python scripts/bench_overhead.py --images 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from hpsearch.config import parse_study_dict  # noqa: E402
from hpsearch.data._datasets import Dataset, Pipelines, Split  # noqa: E402
from hpsearch.models._cnn import build_model  # noqa: E402
from hpsearch.space._sample import sample  # noqa: E402
from hpsearch.tracking._tracking import StudyTracking  # noqa: E402
from hpsearch.trial._runner import TrialRunner  # noqa: E402
from hpsearch.keys import State

PARAMS = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 64,
    "dropout": 0.25,
    "batch_norm": "none",
    "initializer": "glorot_uniform",
}


def synthetic(n_train: int, n_val: int, n_test: int) -> Dataset:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n))

    return Dataset("synthetic", split(n_train), split(n_val), split(n_test), num_classes=10, input_scale=1 / 255)


def bare_fit(pipes: Pipelines, params: dict, epochs: int) -> float:
    import keras

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    model, _ = build_model(
        params,
        input_shape=pipes.dataset.input_shape,
        num_classes=pipes.dataset.num_classes,
        input_scale=pipes.dataset.input_scale,
        steps_per_epoch=pipes.steps_per_epoch(params["batch_size"]),
        max_epochs=epochs,
    )
    model.fit(
        pipes.train(params["batch_size"], seed=0),
        validation_data=pipes.evaluation("validation", params["batch_size"]),
        epochs=epochs,
        verbose=0,
        shuffle=False,
    )
    elapsed = time.perf_counter() - start
    del model
    keras.backend.clear_session(free_memory=True)
    return elapsed


class Accounting:
    """Times, inside a trial, what the bare side also does (build_model, model.fit minus hpsearch's
    callbacks) versus what only hpsearch does (everything else). Measured within one run, so slow
    drifts of the machine's speed cancel out, unlike the A/B comparison."""

    def __init__(self) -> None:
        import keras

        import hpsearch.trial._runner as trial_module
        from hpsearch.trial import callbacks as _callbacks

        self.build = self.fit = self.callbacks = 0.0
        real_fit = keras.Model.fit
        trial_module.build_model = self._timed(trial_module.build_model, "build")
        keras.Model.fit = self._timed(real_fit, "fit")
        self._fit = (keras, real_fit)
        hooks = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_end")
        for name in _callbacks.__all__:
            cls = getattr(_callbacks, name)
            if isinstance(cls, type):
                for hook in hooks:
                    if hook in vars(cls) or any(hook in vars(b) for b in cls.__mro__[1:] if b.__module__.startswith("hpsearch")):
                        setattr(cls, hook, self._timed(getattr(cls, hook), "callbacks"))

    def _timed(self, fn, bucket: str):
        """``fn`` that adds its wall time to ``self.<bucket>``."""

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                setattr(self, bucket, getattr(self, bucket) + time.perf_counter() - t)

        return wrapper

    def restore_fit(self) -> None:
        keras, real_fit = self._fit
        keras.Model.fit = real_fit  # bare runs must not pay for the timing wrapper


def hpsearch_trial(runner: TrialRunner, study: optuna.Study) -> float:
    start = time.perf_counter()
    trial = study.ask()
    outcome = runner.run(trial)
    frozen = study.tell(trial, outcome.value) if outcome.state == State.COMPLETE else study.tell(trial, state=optuna.trial.TrialState.FAIL)
    runner.close(outcome, value=frozen.value)
    assert outcome.state == State.COMPLETE, outcome.reason
    assert outcome.epochs_trained == runner.config.training.max_epochs
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    if args.epochs < 3 or args.repeats < 1:
        parser.error("--epochs must be >= 3 and --repeats >= 1")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pipes = Pipelines(synthetic(args.images, max(1, args.images // 10), 500))
    config = parse_study_dict(
        {
            "seed": 42,  # fixed: every repeat trains the same model
            "training": {"max_epochs": args.epochs, "early_stopping_patience": args.epochs},
            "search_space": PARAMS,
            "pruner": {"name": "median"},
        },
        name="bench-overhead",
    )
    with tempfile.TemporaryDirectory() as tmp:
        tracking = StudyTracking(f"sqlite:///{tmp}/mlflow.db", config.name, Path(tmp, "artifacts").as_uri())
        tracking.open_parent(None, params={}, tags={})
        runner = TrialRunner(config, pipes, tracking, Path(tmp) / "ckpt")
        study = optuna.create_study(direction="maximize")
        params = sample(optuna.create_study().ask(), config.search_space)  # the same complete params

        print(f"{args.images} CIFAR-shaped images, {args.epochs} epochs, batch {PARAMS['batch_size']}; warm-up...", flush=True)
        bare_fit(pipes, params, args.epochs)
        hpsearch_trial(runner, study)
        bare, trial, own = [], [], []

        def run_trial() -> None:
            acct = Accounting()
            try:
                trial.append(hpsearch_trial(runner, study))
            finally:
                acct.restore_fit()
            # hpsearch-only time: the trial minus what a bare run also does
            own.append(trial[-1] - acct.build - (acct.fit - acct.callbacks))

        for i in range(args.repeats):
            # ABBA order (bare, trial / trial, bare / ...) cancels slow drifts of the machine's speed.
            if i % 2 == 0:
                bare.append(bare_fit(pipes, params, args.epochs))
                run_trial()
            else:
                run_trial()
                bare.append(bare_fit(pipes, params, args.epochs))
            print(
                f"  repeat {i + 1}: bare {bare[-1]:.2f} s   hpsearch trial {trial[-1]:.2f} s "
                f"(of which hpsearch's own work {own[-1]:.2f} s)",
                flush=True,
            )

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
