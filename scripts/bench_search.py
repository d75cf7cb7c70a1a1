"""hpsearch's shipped image-study defaults against Keras Tuner and a plain Optuna script, per wall-second.

scikit-learn's ``load_digits`` (1,797 8x8 digits; offline) is upscaled to 28x28 (bilinear) and
written as Keras's own ``mnist.npz`` (``x_train, y_train, x_test, y_test``; a seeded, stratified 30%
test split) in a temporary folder. Four arms then search the same model family over the same space
at the same wall-clock budget, once per seed, the arms' order rotated from seed to seed so that
the load of a shared machine falls on all of them alike:

* ``hpsearch``: the shipped study (``studies/mnist.yaml`` by default) run through the public API
  with ``data_dir`` on that folder and ``timeout`` = the budget -- its sampler, pruner, epochs and
  space exactly as shipped; the test accuracy is the study's own test evaluation of its best trial.
* ``kt_random``, ``kt_hyperband``: Keras Tuner's RandomSearch and Hyperband. The hypermodel draws
  its params through hpsearch's own sampling code from the study's search space (every Optuna
  ``suggest_*`` call becomes the matching ``hp.Choice/Int/Float``), and builds them with hpsearch's
  model builder (the same CNN, augmentation and learning-rate schedule); EarlyStopping with the
  study's patience, restoring the best weights, as hpsearch's trials do.
* ``optuna``: a plain Optuna script -- ``TPESampler(seed)``, the default ``MedianPruner`` and
  ``optuna_integration.TFKerasPruningCallback`` -- on the same space, model and early stopping.

Every arm stops starting trials once the budget has passed (a running trial finishes, as with
``hpsearch study --timeout``); its best model by validation accuracy is then evaluated on the test
images. The peers carve a seeded, stratified 10% validation set from the training images (the
study's ``validation_fraction``). Wall time is the arm's whole process: imports, data, search and
test evaluation.

    python scripts/bench_search.py                                     # 3 seeds x 4 arms x 150 s
    python scripts/bench_search.py --seeds 0 --budget-s 20 --arms hpsearch optuna   # a quick look

Needs the ``bench`` extra (keras-tuner, optuna-integration): ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ARMS = ("hpsearch", "kt_random", "kt_hyperband", "optuna")
UNLIMITED_TRIALS = 100_000  #: the wall-clock budget, not a trial count, ends every arm


# ----------------------------------------------------------------------------- data


def write_digits_mnist(folder: Path, *, size: int = 28, test_fraction: float = 0.3, seed: int = 0) -> dict[str, int]:
    """``load_digits`` upscaled to ``size`` x ``size`` uint8 pixels, as ``folder/mnist.npz``."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = zoom(digits.images, (1, size / 8, size / 8), order=1)  # bilinear; 0..16 -> 0..255
    pixels = np.clip(np.rint(images * (255 / 16)), 0, 255).astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, digits.target.astype(np.uint8), test_size=test_fraction, stratify=digits.target, random_state=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return {"train": len(y_train), "test": len(y_test)}


def _arrays(data_dir: Path, validation_fraction: float, seed: int) -> tuple[tuple[np.ndarray, ...], ...]:
    from sklearn.model_selection import train_test_split

    with np.load(data_dir / "mnist.npz") as f:
        x, y, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=validation_fraction, stratify=y, random_state=seed)
    return (x_fit[..., None], y_fit), (x_val[..., None], y_val), (x_test[..., None], y_test)


# ----------------------------------------------------------------------------- the peers' shared model


class _Study:
    """What the peers take from the study file: its space, epochs, patience, validation fraction."""

    def __init__(self, study: str) -> None:
        import hpsearch

        self.config = hpsearch.load_study_config(study)
        self.max_epochs = int(self.config.training.max_epochs)
        self.patience = int(self.config.training.early_stopping_patience)

    def sample(self, trial: Any) -> dict[str, Any]:
        """One point of the study's space, through hpsearch's own sampling code."""
        from hpsearch.space._sample import sample

        return sample(trial, self.config.search_space)

    def build(self, params: dict[str, Any], *, n_fit: int, seed: int, epochs: int | None = None) -> Any:
        """hpsearch's model for ``params``: the CNN, its augmentation, compiled with the schedule."""
        from hpsearch.models._augment import build_augmentation, with_augmentation
        from hpsearch.models._cnn import build_model
        from hpsearch.models._trial_model import augmentation_settings

        steps = math.ceil(n_fit / int(params["batch_size"]))
        model, plan = build_model(params, input_shape=(28, 28, 1), num_classes=10, input_scale=1 / 255,
                                  steps_per_epoch=steps, max_epochs=epochs or self.max_epochs, model=self.config.model)
        if plan.plateau is not None:
            raise SystemExit("bench_search: reduce_on_plateau is not mirrored in the peers; drop it from the study's space.")
        settings = augmentation_settings(params)
        if settings:
            net = with_augmentation(model, build_augmentation(settings, seed=seed))
            net.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
            return net
        return model

    def early_stopping(self) -> Any:
        import keras

        return keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=self.patience, restore_best_weights=True)


class _KerasTunerTrial:
    """Optuna's ``suggest_*`` as Keras Tuner ``hp`` calls, so hpsearch's sampler code fills a hypermodel."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.hp.Choice(name, list(choices))

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return self.hp.Int(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")


# ----------------------------------------------------------------------------- arms (one per process)


def run_hpsearch(study: str, data_dir: Path, seed: int, budget_s: float, work: Path) -> dict[str, Any]:
    os.environ["HPSEARCH_HOME"] = str(work / "home")
    for key in ("HPSEARCH_STORAGE", "MLFLOW_TRACKING_URI", "HPSEARCH_CHECKPOINT_DIR"):
        os.environ.pop(key, None)
    import hpsearch

    summary = hpsearch.run_study(hpsearch.StudyRequest(
        study=study, study_name=f"bench-{seed}", data_dir=str(data_dir), timeout=budget_s, trials=UNLIMITED_TRIALS, seed=seed,
    ))
    best = summary.best
    return {
        "test_accuracy": float((summary.test_metrics or {}).get("test_accuracy", float("nan"))),
        "val_accuracy": float(best.value) if best else float("nan"),
        "trials": summary.counts.complete + summary.counts.pruned + summary.counts.failed,
        "pruned": summary.counts.pruned,
        "best_params": dict(best.params) if best else {},
    }


def run_keras_tuner(kind: str, study: str, data_dir: Path, seed: int, budget_s: float, work: Path) -> dict[str, Any]:
    import keras
    import keras_tuner

    spec = _Study(study)
    (x_fit, y_fit), val, (x_test, y_test) = _arrays(data_dir, spec.config.data.validation_fraction, seed)
    keras.utils.set_random_seed(seed)
    deadline = time.monotonic() + budget_s

    class HyperModel(keras_tuner.HyperModel):
        def build(self, hp: Any) -> Any:
            epochs = hp.values.get("tuner/epochs")  # Hyperband: the rung's epochs span the schedule
            return spec.build(spec.sample(_KerasTunerTrial(hp)), n_fit=len(y_fit), seed=seed, epochs=epochs)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            return model.fit(*args, batch_size=int(hp.get("batch_size")), **kwargs)

    options: dict[str, Any] = {"objective": "val_accuracy", "seed": seed, "directory": str(work), "project_name": kind, "overwrite": True}
    if kind == "kt_random":
        tuner = keras_tuner.RandomSearch(HyperModel(), max_trials=UNLIMITED_TRIALS, **options)
    else:
        tuner = keras_tuner.Hyperband(HyperModel(), max_epochs=spec.max_epochs, factor=3, hyperband_iterations=UNLIMITED_TRIALS, **options)

    class StopAfterBudget(keras.callbacks.Callback):
        """Once the budget has passed, the running trial finishes and no new one starts."""

        def on_train_end(self, logs: Any = None) -> None:
            if time.monotonic() >= deadline:
                tuner.oracle.max_trials = len(tuner.oracle.trials)

    tuner.search(x_fit, y_fit, validation_data=val, epochs=spec.max_epochs, verbose=0,
                 callbacks=[spec.early_stopping(), StopAfterBudget()])
    best = tuner.get_best_models(1)[0]
    best_trial = tuner.oracle.get_best_trials(1)[0]
    return {
        "test_accuracy": float(best.evaluate(x_test, y_test, verbose=0)[1]),
        "val_accuracy": float(best_trial.score),
        "trials": len(tuner.oracle.trials),
        "best_params": dict(best_trial.hyperparameters.values),
    }


def run_optuna(study: str, data_dir: Path, seed: int, budget_s: float, work: Path) -> dict[str, Any]:
    import keras
    import optuna
    from optuna_integration import TFKerasPruningCallback

    spec = _Study(study)
    (x_fit, y_fit), val, (x_test, y_test) = _arrays(data_dir, spec.config.data.validation_fraction, seed)
    keras.utils.set_random_seed(seed)
    best: dict[str, Any] = {"value": -1.0, "model": None}

    def objective(trial: optuna.Trial) -> float:
        params = spec.sample(trial)
        model = spec.build(params, n_fit=len(y_fit), seed=seed + trial.number)
        history = model.fit(x_fit, y_fit, validation_data=val, epochs=spec.max_epochs, batch_size=int(params["batch_size"]), verbose=0,
                            callbacks=[spec.early_stopping(), TFKerasPruningCallback(trial, "val_accuracy")])
        value = max(history.history["val_accuracy"])
        if value > best["value"]:
            best.update(value=value, model=model)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=optuna.pruners.MedianPruner())
    search.optimize(objective, timeout=budget_s)
    return {
        "test_accuracy": float(best["model"].evaluate(x_test, y_test, verbose=0)[1]),
        "val_accuracy": float(search.best_value),
        "trials": len(search.trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in search.trials),
        "best_params": dict(search.best_params),
    }


def run_arm(arm: str, study: str, data_dir: Path, seed: int, budget_s: float) -> dict[str, Any]:
    runners: dict[str, Callable[..., dict[str, Any]]] = {
        "hpsearch": run_hpsearch,
        "kt_random": lambda *a: run_keras_tuner("kt_random", *a),
        "kt_hyperband": lambda *a: run_keras_tuner("kt_hyperband", *a),
        "optuna": run_optuna,
    }
    with tempfile.TemporaryDirectory(prefix=f"bench-{arm}-") as work:
        return runners[arm](study, data_dir, seed, budget_s, Path(work))


# ----------------------------------------------------------------------------- the parent


def _child(arm: str, args: argparse.Namespace, data_dir: Path, seed: int, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", arm, "--study", args.study, "--data-dir", str(data_dir),
               "--seeds", str(seed), "--budget-s", str(args.budget_s), "--json", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        print(f"  {arm} seed {seed} FAILED (exit {done.returncode}): {' | '.join(tail)}", file=sys.stderr)
        return {"arm": arm, "seed": seed, "error": "\n".join(tail), "wall_s": seconds}
    return {"arm": arm, "seed": seed, **json.loads(out.read_text()), "wall_s": seconds}


def _row(arm: str, results: list[dict[str, Any]]) -> str:
    ok = [r for r in results if r["arm"] == arm and "error" not in r]
    failed = sum(r["arm"] == arm and "error" in r for r in results)
    if not ok:
        return f"| {arm} | failed ({failed}) | | | |"
    acc = [100 * r["test_accuracy"] for r in ok]
    wall = [r["wall_s"] for r in ok]
    trials = [r["trials"] for r in ok]
    note = f" ({failed} failed)" if failed else ""
    return (f"| {arm}{note} | {statistics.median(acc):.2f} ({min(acc):.2f}-{max(acc):.2f}) | "
            f"{statistics.median(wall):.0f} ({min(wall):.0f}-{max(wall):.0f}) | {statistics.median(trials):g} ({min(trials)}-{max(trials)}) | {len(ok)} |")


def table(results: list[dict[str, Any]], arms: Sequence[str]) -> str:
    lines = ["| arm | test accuracy %, median (min-max) | wall s, median (min-max) | trials, median (min-max) | seeds |",
             "|---|---|---|---|---|"]
    return "\n".join(lines + [_row(arm, results) for arm in arms])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default="mnist", help="the shipped study (or study file) hpsearch runs and the peers mirror")
    parser.add_argument("--budget-s", type=float, default=150.0, help="seconds per arm and seed (no new trial starts after)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--json", type=Path, default=Path("bench_search.json"), help="raw results (one record per arm and seed)")
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = run_arm(args.child, args.study, args.data_dir, args.seeds[0], args.budget_s)
        args.json.write_text(json.dumps(result, default=str))
        return

    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, "scripts/bench_search.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"$ {command}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-search-") as tmp:
        data_dir = Path(tmp) / "data"
        sizes = write_digits_mnist(data_dir)
        print(f"load_digits upscaled to 28x28: {sizes['train']} training, {sizes['test']} test images; "
              f"{args.budget_s:g} s per arm; seeds {args.seeds}", flush=True)
        for index, seed in enumerate(args.seeds):
            order = list(args.arms[index % len(args.arms):]) + list(args.arms[: index % len(args.arms)])  # rotated per seed
            for arm in order:
                record = _child(arm, args, data_dir, seed, Path(tmp) / f"{arm}-{seed}.json")
                results.append(record)
                if "error" not in record:
                    print(f"  seed {seed} {arm:<13} test {100 * record['test_accuracy']:.2f}%  val {100 * record['val_accuracy']:.2f}%  "
                          f"{record['trials']} trials  {record['wall_s']:.0f} s", flush=True)
    report = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "budget_s": args.budget_s, "study": args.study, "seeds": args.seeds, "results": results}
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(table(results, args.arms))
    print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
