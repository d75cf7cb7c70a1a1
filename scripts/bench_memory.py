"""Memory of a worker over many trials: does it grow without bound?

Runs `hpsearch study` (a real subprocess) for 30 small trials of the flagship search space (every
optimizer, schedule, regularizer, initializer and batch-norm mode can come up), samples the
worker's RSS ten times a second, and prints the peak RSS until trial 5 and until trial 30 finished
(the study's closing test-set evaluation is not counted).

It does this twice: with the default `memory.max_growth: 0.05` (the worker replaces itself with a
fresh process between trials once it has grown 5% past its size after its first trial), and with
`max_growth: null` to show the TensorFlow leak that this counters.

The batch size is fixed (64) so that every trial needs the same activation memory: a searched
batch of 256 legitimately needs ~300 MB more *during* its trial, which says which configurations
the sampler drew, not whether memory is returned (`--batch-size 0` searches it anyway).

    python scripts/bench_memory.py                        # 30 trials, 1,000 images, 1 epoch each
    python scripts/bench_memory.py --trials 50 --only recycle
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

import hpsearch


def write_data(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n + 200, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=n + 200)
    np.savez(path, x_train=x[:n], y_train=y[:n], x_test=x[n:], y_test=y[n:])


def finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.Error:
        return 0


def run(workdir: Path, trials: int, max_growth: float | None, batch_size: int) -> tuple[float, float, int, float]:
    config = hpsearch.load_study_config("cifar10").to_dict()
    config.update(dataset=str(workdir / "data.npz"), validation_fraction=0.2, seed=42)  # the same draws every run
    if batch_size:
        config["search_space"]["batch_size"] = batch_size
    config["training"]["max_epochs"] = 1
    config["budget"]["trials"] = trials
    config["pruner"] = {"name": "none"}
    config["memory"] = {"max_growth": max_growth}
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # the flagship's order
    env = {**os.environ, "HPSEARCH_HOME": str(workdir / "mlruns"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("HPSEARCH_STORAGE", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(workdir / "study.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "study", "bench.yaml"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    worker = psutil.Process(proc.pid)  # restarts exec in place: the pid stays the same
    db = workdir / "mlruns" / "optuna.db"
    peak = 0.0
    peak_at: dict[int, float] = {}  # finished trials -> peak RSS until that trial finished
    while proc.poll() is None and trials not in peak_at:
        try:
            rss = worker.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        done = finished(db)
        for mark in (5, trials):
            if done >= mark and mark not in peak_at:
                peak_at[mark] = peak  # the final test evaluation after the last trial is excluded
        time.sleep(0.1)
    proc.wait()
    log.close()
    if proc.returncode != 0:
        raise SystemExit((workdir / "study.log").read_text()[-3000:])
    restarts = (workdir / "study.log").read_text().count("Restarting the worker process")
    return peak_at[5], peak_at[trials], restarts, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--only", choices=["recycle", "leak"], help="run one configuration only")
    parser.add_argument("--batch-size", type=int, default=64, help="fixed batch size; 0 searches it")
    args = parser.parse_args()
    if args.trials < 6:
        parser.error("--trials must be at least 6")
    configs = [("recycle", 0.05), ("leak", None)]
    batch = f"batch size {args.batch_size}" if args.batch_size else "batch size searched"
    print(f"{args.trials} trials of the cifar10 search space ({batch}), {args.images} CIFAR-shaped images, 1 epoch each\n")
    print(f"{'memory.max_growth':<20}{'peak RSS to trial 5':>22}{f'peak RSS to trial {args.trials}':>24}{'growth':>9}{'restarts':>10}{'wall':>8}")
    for label, growth in configs:
        if args.only and args.only != label:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            write_data(workdir / "data.npz", args.images)
            p5, pn, restarts, wall = run(workdir, args.trials, growth, args.batch_size)
        print(
            f"{str(growth):<20}{p5:>19.0f} MB{pn:>21.0f} MB{100 * (pn - p5) / p5:>+8.1f}%{restarts:>10}{wall:>7.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
