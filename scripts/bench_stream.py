"""Does an image-folder study stream? Peak memory as the folder grows 10x, and images/s against
the same images held in memory.

Writes N generated PNGs (random 3-class images, ``--size`` pixels square, RGB) into class
sub-folders, then, each in a fresh Python process (so peak RSS is that run's alone), trains one
epoch of the classic CIFAR CNN (``scripts/_bare.py``: adam, batch 64, no batch norm) through the
pipelines a study uses (public API: ``hpsearch.load_data`` -> ``hpsearch.Pipelines`` -> ``model.fit``):

* ``folder``: the folder as a study reads it (streamed: paths in memory, images decoded per batch);
* ``memory``: the same images decoded into one numpy array first (an in-memory ``Split``).

It prints, per run: training images, the load/scan time, the epoch's images/s and the process's
peak RSS (``ru_maxrss``). The streaming claims: folder peak RSS at 10x the images within 20% of
the small folder's; folder images/s within 20% of memory images/s on the same images.

    python scripts/bench_stream.py                          # 2,000 and 20,000 PNGs of 32x32
    python scripts/bench_stream.py --small 500 --factor 4   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH_SIZE = 64


def write_folder(root: Path, n: int, size: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        label = i % 3
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        pixels[..., label] //= 2  # something to learn
        Image.fromarray(pixels).save(folder / f"{i:06d}.png")
    return root


def child(folder: str, mode: str) -> dict:
    """One measurement (runs in its own process)."""
    import dataclasses

    from _bare import classic_cnn

    import hpsearch

    start = time.perf_counter()
    config = hpsearch.parse_study_dict({"dataset": folder, "validation_fraction": 0.05, "test_fraction": 0.05, "seed": 0}, name="bench-stream")
    data = hpsearch.load_data(config)
    if mode == "memory":
        data = dataclasses.replace(data, **{s: hpsearch.Split(getattr(data, s).head(len(getattr(data, s))), getattr(data, s).y) for s in ("train", "validation", "test")})
    loaded = time.perf_counter() - start
    pipes = hpsearch.Pipelines(data)
    model = classic_cnn(data.input_shape, data.num_classes, input_scale=data.input_scale, dropout=0.1)
    model.fit(pipes.train(BATCH_SIZE, seed=0).take(2), epochs=1, verbose=0)  # warm-up: graph tracing, not data
    start = time.perf_counter()
    model.fit(pipes.train(BATCH_SIZE, seed=1), epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "train_images": len(data.train),
        "streamed": data.streamed,
        "load_s": round(loaded, 2),
        "images_per_s": round(len(data.train) / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure(folder: Path, mode: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, __file__, "--child", str(folder), mode], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000, help="images in the small folder")
    parser.add_argument("--factor", type=int, default=10, help="the large folder has this many times more")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-stream-") as tmp:
        small = write_folder(Path(tmp) / "small", args.small, args.size)
        large = write_folder(Path(tmp) / "large", args.small * args.factor, args.size)
        runs = {
            "folder small": measure(small, "folder"),
            "folder large": measure(large, "folder"),
            "memory large": measure(large, "memory"),
        }
    for name, run in runs.items():
        print(f"{name:13s} {json.dumps(run)}")
    rss = runs["folder large"]["peak_rss_mb"] / runs["folder small"]["peak_rss_mb"]
    speed = runs["folder large"]["images_per_s"] / runs["memory large"]["images_per_s"]
    print(f"peak RSS, folder {args.factor}x larger: x{rss:.2f} (claim: within 20%)")
    print(f"images/s, folder vs memory (same images): x{speed:.2f} (claim: within 20%)")


if __name__ == "__main__":
    main()
