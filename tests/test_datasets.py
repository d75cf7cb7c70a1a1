"""Data: the official CIFAR-10 files (tarball and folder), .npz files, checks, splits, pipelines."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CLASSES, synthetic_images, write_cifar10, write_npz

from hpsearch.data._datasets import Pipelines, load_cifar10_dir, load_npz
from hpsearch.data.sources import SourceSpec, load_source
from hpsearch._errors import UsageError


@pytest.mark.parametrize("tarball", [True, False], ids=["tar.gz", "folder"])
def test_reads_the_official_format(tmp_path: Path, tarball: bool) -> None:
    write_cifar10(tmp_path, n_train=100, n_test=20, tarball=tarball)
    x_train, y_train, x_test, y_test, names = load_cifar10_dir(tmp_path)
    expected_x, expected_y = synthetic_images(120, 0)
    assert x_train.shape == (100, 32, 32, 3) and x_train.dtype == np.uint8
    assert np.array_equal(x_train, expected_x[:100]) and np.array_equal(y_train, expected_y[:100])
    assert np.array_equal(x_test, expected_x[100:]) and np.array_equal(y_test, expected_y[100:])
    assert names == CLASSES


def test_the_batches_folder_itself_is_accepted(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_train=50, n_test=10, tarball=False)
    assert load_cifar10_dir(tmp_path / "cifar-10-batches-py")[0].shape == (50, 32, 32, 3)


def test_missing_dir_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_cifar10_dir(tmp_path / "nope")
    with pytest.raises(UsageError, match="found neither cifar-10-python.tar.gz nor cifar-10-batches-py/"):
        load_cifar10_dir(tmp_path)


def test_corrupt_and_incomplete_archives(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08 this is not gzip")
    with pytest.raises(UsageError, match="corrupt or not a tar.gz"):
        load_cifar10_dir(tmp_path)
    truncated = tmp_path / "t"
    write_cifar10(truncated, n_train=50, n_test=10)
    blob = (truncated / "cifar-10-python.tar.gz").read_bytes()
    (truncated / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UsageError, match="corrupt|incomplete"):
        load_cifar10_dir(truncated)
    partial = tmp_path / "p"
    write_cifar10(partial, n_train=50, n_test=10, tarball=False)
    (partial / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(UsageError, match="incomplete: test_batch missing"):
        load_cifar10_dir(partial)
    (partial / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="test_batch is corrupt"):
        load_cifar10_dir(partial)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_malicious_pickle_is_refused_not_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_cifar10(tmp_path, n_train=50, n_test=10, tarball=False)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil()}))
    with pytest.raises(UsageError, match="refusing to load posix.system"):
        load_cifar10_dir(tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_npz_grayscale_gets_a_channel(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "gray.npz", channels=1, size=16)
    ds = load_source(SourceSpec(dataset=str(path)), seed=0)
    assert ds.input_shape == (16, 16, 1)
    assert ds.num_classes == 10 and ds.input_scale == pytest.approx(1 / 255)


def _npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    x, _ = synthetic_images(30, 3)
    y = np.arange(30) % 10  # every class in both splits
    base = {"x_train": x[:20], "y_train": y[:20], "x_test": x[20:], "y_test": y[20:]}
    base.update(arrays)
    path = tmp_path / "d.npz"
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return str(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_train": np.zeros(19, dtype=int)}, "y_train has 19 labels but there are 20 images"),
        ({"x_train": np.zeros((20, 32), dtype=np.uint8)}, "x_train rows are (32,) but x_test rows are (32, 32, 3); they must match"),
        ({"y_test": np.full(10, 12)}, "labels out of range: y_test has label 12"),
        ({"y_train": -np.ones(20, dtype=int)}, "labels out of range"),
        ({"y_train": np.eye(10)[np.arange(20) % 10]}, "not one-hot"),
        ({"x_test": np.zeros((10, 16, 16, 3), dtype=np.uint8)}, "x_test images are (16, 16, 3)"),
        ({"y_test": None}, "lacks y_test"),
        ({"y_train": np.arange(20) % 5 + 1, "y_test": np.arange(10) % 5 + 1}, "y_train has labels 1, 2, 3, 4, 5, but the labels of 5 classes must be 0..4 (no training image has label 0); renumber them 0..4"),
        ({"y_train": np.arange(20) % 3 * 2, "y_test": np.zeros(10, int)}, "y_train has labels 0, 2, 4, but the labels of 3 classes must be 0..2 (no training image has label 1, 3)"),
        ({"y_train": np.full(20, 3)}, "y_train has a single class (3)"),
        ({"x_train": np.full((20, 32, 32, 3), 1.5, np.float32)}, "x_train has float pixels from 1.5 to 1.5; float images must be in [0, 1]"),
        ({"x_test": np.linspace(-0.5, 0.5, 10 * 32 * 32 * 3).reshape(10, 32, 32, 3)}, "x_test has float pixels from -0.5 to 0.5"),
        ({"x_train": np.full((20, 32, 32, 3), -3, np.int16)}, "x_train has integer pixels from -3 to -3; integer images must be 0-255"),
        ({"x_test": np.full((10, 32, 32, 3), 300, np.int32)}, "x_test has integer pixels from 300 to 300"),
        ({"x_test": np.zeros((10, 32, 32, 3), np.float32)}, "x_train is uint8 but x_test is float32; store both as uint8 0-255 or both as float 0-1"),
    ],
)
def test_bad_npz_contents(tmp_path: Path, change: dict, message: str) -> None:
    path = _npz(tmp_path, **change)
    with pytest.raises(UsageError) as err:
        load_source(SourceSpec(dataset=path), seed=0)
    assert message in str(err.value)


def test_corrupt_and_missing_npz(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(UsageError, match="corrupt or not an .npz"):
        load_npz(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_npz(tmp_path / "missing.npz")


def test_split_is_seeded_and_subset_takes_the_first_images(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_train=200, n_test=20)
    config = SourceSpec(dataset="cifar10", validation_fraction=0.25, subset=100)
    a = load_source(config, seed=1, data_dir=tmp_path)
    b = load_source(config, seed=1, data_dir=tmp_path)
    c = load_source(config, seed=2, data_dir=tmp_path)
    assert len(a.train) == 75 and len(a.validation) == 25 and len(a.test) == 20
    assert np.array_equal(a.validation.y, b.validation.y) and np.array_equal(a.validation.x, b.validation.x)
    assert not np.array_equal(a.validation.x, c.validation.x)
    first_100 = synthetic_images(220, 0)[0][:100]
    pool = np.concatenate([a.train.x, a.validation.x])
    assert sorted(map(bytes, pool)) == sorted(map(bytes, first_100))  # exactly the first 100, no overlap
    with pytest.raises(UsageError, match="--subset 500 is larger than the 200 training images"):
        load_source(SourceSpec(dataset="cifar10", subset=500), seed=1, data_dir=tmp_path)


def test_pipelines_batch_and_cast(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_train=60, n_test=10)
    ds = load_source(SourceSpec(dataset="cifar10"), seed=0, data_dir=tmp_path)
    pipes = Pipelines(ds)
    x, y = next(iter(pipes.train(16, seed=0)))
    assert tuple(x.shape) == (16, 32, 32, 3) and x.dtype.name == "float32" and tuple(y.shape) == (16,)
    assert pipes.steps_per_epoch(16) == -(-len(ds.train) // 16)
    assert sum(int(b[1].shape[0]) for b in pipes.evaluation("test", 4)) == 10


def test_tar_members_outside_the_folder_are_found(tmp_path: Path) -> None:
    """Some mirrors repack the files without the cifar-10-batches-py/ prefix."""
    src = tmp_path / "src"
    write_cifar10(src, n_train=50, n_test=10, tarball=False)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for f in (src / "cifar-10-batches-py").iterdir():
            blob = f.read_bytes()
            info = tarfile.TarInfo(f.name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    assert load_cifar10_dir(tmp_path)[0].shape == (50, 32, 32, 3)


def test_pixels_in_range_keep_their_scale(tmp_path: Path) -> None:
    x, _ = synthetic_images(30, 3)
    as_float = load_source(SourceSpec(dataset=_npz(tmp_path, x_train=x[:20] / 255.0, x_test=x[20:] / 255.0)), seed=0)
    assert as_float.input_scale == 1.0
    as_int = load_source(SourceSpec(dataset=_npz(tmp_path, x_train=x[:20].astype(np.int64), x_test=x[20:].astype(np.int64))), seed=0)
    assert as_int.input_scale == pytest.approx(1 / 255)
