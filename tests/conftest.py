"""Shared fixtures: tiny datasets in the official CIFAR-10 python format, isolated stores.

The images are learnable (each class has its own colour and stripe pattern plus noise), so a
trial's accuracy rises above chance within an epoch or two and tests can assert real learning.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def synthetic_images(n: int, seed: int, num_classes: int = 10, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (N, size, size, 3) whose class is visible in colour and stripes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    palette = np.random.default_rng(1234).integers(30, 225, size=(num_classes, 3))
    x = rng.normal(0, 25, size=(n, size, size, 3))
    rows = np.arange(size)
    for i, c in enumerate(labels):
        x[i] += palette[c]
        stripe = (rows // (1 + c % 4)) % 2 == 0
        x[i, stripe if c % 2 else slice(None), stripe if not c % 2 else slice(None)] += 40
    return np.clip(x, 0, 255).astype(np.uint8), labels.astype(np.int64)


def _batch(x: np.ndarray, y: np.ndarray, label: str) -> bytes:
    """Pickle a batch exactly like the official files: bytes keys, (N, 3072) uint8 rows RGB planes."""
    data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    return pickle.dumps(
        {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in y],
            b"data": np.ascontiguousarray(data, dtype=np.uint8),
            b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(x))],
        },
        protocol=2,
    )


def write_cifar10(root: Path, *, n_train: int = 250, n_test: int = 60, tarball: bool = True, seed: int = 0) -> Path:
    """Write a tiny CIFAR-10 in the official python format into ``root``.

    ``tarball=True`` writes ``root/cifar-10-python.tar.gz``; otherwise ``root/cifar-10-batches-py/``.
    """
    root.mkdir(parents=True, exist_ok=True)
    x, y = synthetic_images(n_train + n_test, seed)
    members: dict[str, bytes] = {}
    per = n_train // 5
    for i in range(5):
        sl = slice(i * per, n_train if i == 4 else (i + 1) * per)
        members[f"data_batch_{i + 1}"] = _batch(x[sl], y[sl], f"training batch {i + 1} of 5")
    members["test_batch"] = _batch(x[n_train:], y[n_train:], "testing batch 1 of 1")
    members["batches.meta"] = pickle.dumps(
        {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": per, b"num_vis": 3072}, protocol=2
    )
    members["readme.html"] = b"<html>tiny test copy</html>"
    if tarball:
        with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, blob in members.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(exist_ok=True)
        for name, blob in members.items():
            (folder / name).write_bytes(blob)
    return root


def write_npz(path: Path, *, n_train: int = 200, n_test: int = 50, size: int = 32, channels: int = 3, num_classes: int = 10) -> Path:
    x, y = synthetic_images(n_train + n_test, 7, num_classes=num_classes, size=size)
    if channels == 1:
        x = x.mean(axis=-1).astype(np.uint8)
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return path


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_to_the_checkout() -> object:
    """No test may leave a store in the repository itself (a leaked MLFLOW_TRACKING_URI did)."""
    stray = ("mlflow.db", "optuna.db", "mlflow.db.hpsearch-create.lock")
    before = {name for name in stray if (REPO / name).exists()}
    yield
    after = {name for name in stray if (REPO / name).exists()}
    assert after <= before, f"tests wrote {sorted(after - before)} into {REPO}"


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CIFAR-10 tarball, shared by the session (read-only)."""
    return write_cifar10(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated local store: HPSEARCH_HOME in tmp_path, no inherited URLs, cwd = tmp_path."""
    home = tmp_path / "mlruns"
    monkeypatch.setenv("HPSEARCH_HOME", str(home))
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("HPSEARCH_CHECKPOINT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[Path]:
    """Make ``folder`` (created if missing) impossible to write into, even for root.

    ``chattr +i`` where the filesystem supports it (what a locked-down folder looks like); else
    the folder is moved away and a file takes its place, so creating anything in it fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        try:
            yield folder
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    folder.write_text("not a folder")
    try:
        yield folder
    finally:
        folder.unlink()
        aside.rename(folder)


def hpsearch_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m hpsearch ARGS`` in a subprocess (a real process, like a user's)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


QUICK_STUDY = {
    "dataset": "cifar10",
    "validation_fraction": 0.2,
    "seed": 3,
    "training": {"max_epochs": 2, "early_stopping_patience": 3},
    "search_space": {
        "optimizer": {"adam": {}, "sgd": {"momentum": 0.9}},
        "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
        "batch_size": [32, 64],
        "dropout": 0.1,
    },
    "sampler": {"name": "random"},
    "pruner": {"name": "none"},
    "budget": {"trials": 2},
    "heartbeat": {"interval": 1, "grace_period": 3},
}


def write_study(path: Path, **sections: object) -> Path:
    """A quick study file (tiny CNN budget) with top-level ``sections`` replaced."""
    import yaml

    data = {**QUICK_STUDY, **sections}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory: pytest.TempPathFactory, cifar_dir: Path) -> dict:
    """A small finished study, run once per test session: trial 0 fails (a simulated out-of-memory
    error while building its model), trials 1-3 complete.

    Returns ``{"home", "cwd", "name", "storage", "tracking", "data_dir"}``.
    """
    import hpsearch.trial._runner
    from hpsearch.study._session import StudyRequest, run_study

    cwd = tmp_path_factory.mktemp("finished")
    home = cwd / "mlruns"
    sections = {
        "search_space": {
            "optimizer": {"adam": {}, "sgd": {"momentum": 0.9}},
            "learning_rate": {"low": 1.0e-3, "high": 5.0e-3, "log": True},
            "batch_size": [32, 64],
            "batch_norm": "none",
        },
        "budget": {"trials": 3},
    }
    write_study(cwd / "shop.yaml", **sections)
    real_build = hpsearch.trial._runner.build_trial_model
    calls = []

    def build_or_fail_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("simulated: out of memory while allocating conv1a")
        return real_build(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_HOME", str(home))
        mp.delenv("HPSEARCH_STORAGE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setattr(hpsearch.trial._runner, "build_trial_model", build_or_fail_first)
        mp.chdir(cwd)
        run_study(StudyRequest(study="shop.yaml", data_dir=str(cifar_dir)))
    return {
        "home": home,
        "cwd": cwd,
        "name": "shop",
        "storage": f"sqlite:///{home}/optuna.db",
        "tracking": f"sqlite:///{home}/mlflow.db",
        "data_dir": str(cifar_dir),
    }
