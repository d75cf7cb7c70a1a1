"""Storage throughput: trials per second with 1, 2 and 4 workers on each supported storage.

Each worker is a process running hpsearch's real worker loop (budget lock, heartbeats, retries,
ask/tell) with a trivial objective (`hpsearch.testing.run_trivial_worker`, no TensorFlow), so the figure
is the coordination cost per trial that the storage imposes. Workers wait at a barrier after
start-up; the clock runs from the barrier until the last trial is told.

    python scripts/bench_storage.py                         # sqlite + journal, 60 trials per cell
    python scripts/bench_storage.py --postgres postgresql://user:pw@127.0.0.1/db
    HPSEARCH_TEST_POSTGRES_URL=postgresql://... python scripts/bench_storage.py
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import yaml

import hpsearch
import hpsearch.testing


def worker(url: str, name: str, rank: int, barrier: multiprocessing.synchronize.Barrier, done: multiprocessing.Queue) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    closed = hpsearch.testing.run_trivial_worker(url, name, rank=rank, ready=barrier.wait)
    done.put((time.time(), closed))


def measure(url: str, workers: int, trials: int, study_file: Path) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    config = hpsearch.load_study_config(str(study_file), study_name=name).with_overrides(trials=trials)
    hpsearch.testing.create_study(config, url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    done = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, name, r, barrier, done)) for r in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.time()
    results = [done.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise SystemExit(f"a worker failed (exit {p.exitcode})")
    finished = hpsearch.testing.finished_trials(url, name)
    if finished != trials or sum(n for _, n in results) != trials:
        raise SystemExit(f"expected exactly {trials} trials, got {finished} finished / {sum(n for _, n in results)} run")
    elapsed = max(t for t, _ in results) - start
    if url.startswith("postgresql"):
        import optuna

        optuna.delete_study(study_name=name, storage=url)
    return trials / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60, help="trials per measurement")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--postgres", default=os.environ.get("HPSEARCH_TEST_POSTGRES_URL"), help="PostgreSQL URL to include")
    parser.add_argument(
        "--sampler", choices=["tpe", "random"], default="tpe",
        help="tpe: the flagship study's grouped multivariate TPE (realistic); random: storage cost alone",
    )
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")  # the library leaves warning filters alone; the CLI would set these
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        study_file = tmp_path / "bench.yaml"
        config = hpsearch.load_study_config("cifar10").to_dict()
        config["seed"] = 42  # the same draws every run
        config["heartbeat"] = {"interval": 5, "grace_period": 15}
        config["sampler"] = {"name": args.sampler} if args.sampler == "random" else config["sampler"]
        study_file.write_text(yaml.safe_dump(config, sort_keys=False))  # the flagship's order
        storages = [("sqlite (WAL)", f"sqlite:///{tmp}/optuna.db"), ("journal file", f"journal:///{tmp}/optuna.log")]
        if args.postgres:
            storages.append(("postgresql", args.postgres))
        print(f"trials per second, {args.trials} trials per cell, trivial objective, {args.sampler} sampler on the cifar10 space\n")
        print(f"{'storage':<16}" + "".join(f"{f'{w} worker' + ('s' if w > 1 else ''):>12}" for w in counts))
        for label, url in storages:
            cells = []
            for w in counts:
                cells.append(f"{measure(url, w, args.trials, study_file):>12.1f}")
            print(f"{label:<16}" + "".join(cells), flush=True)
        if args.postgres:
            print(f"\npostgresql: {urlsplit(args.postgres)._replace(netloc=urlsplit(args.postgres).hostname or '').geturl()}")


if __name__ == "__main__":
    main()
