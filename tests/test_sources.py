"""Data sources, each read from small files in its real on-disk format through load_source."""

from __future__ import annotations

import gzip
import io
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, synthetic_images, write_cifar10

from hpsearch._errors import RuntimeFailure, UsageError
from hpsearch.data._datasets import Pipelines, load_cifar10_dir
from hpsearch.data._types import FileSplit
from hpsearch.data.sources import SOURCES, SourceSpec, TableTransform, detect_kind, load_source


def load(dataset: str, seed: int = 0, data_dir: Path | None = None, **options: object):
    return load_source(SourceSpec(dataset=str(dataset), **options), seed=seed, data_dir=data_dir)


# ----------------------------------------------------------------------------- kinds and options


def test_detect_kind_decides_once(tmp_path: Path) -> None:
    for name in ("cifar10", "cifar100", "mnist", "fashion_mnist"):
        assert detect_kind(name) == name
    assert detect_kind("x/y.NPZ") == "npz" and detect_kind("t.csv") == "csv" and detect_kind(str(tmp_path)) == "folder"
    with pytest.raises(UsageError, match=r"'minst' is neither a known name .*\(did you mean 'mnist'\?\); use cifar10, cifar100"):
        detect_kind("minst")
    (tmp_path / "data.parquet").write_bytes(b"x")
    with pytest.raises(UsageError, match="unsupported file type .parquet"):
        detect_kind(str(tmp_path / "data.parquet"))
    assert set(SOURCES) == {"cifar10", "cifar100", "mnist", "fashion_mnist", "folder", "csv", "npz"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": (0, 5)}, "image_size must be [height, width]"),
        ({"color_mode": "cmyk"}, "color_mode must be one of rgb | grayscale, not 'cmyk'"),
        ({"impute": "zero"}, "impute must be one of mean | median"),
        ({"validation_fraction": 1.5}, "validation_fraction must be a number between 0 and 1"),
        ({"task": "ranking"}, "task must be one of auto | classification | regression"),
    ],
)
def test_spec_is_checked_when_made(options: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        SourceSpec(dataset="mnist", **options)
    assert message in str(err.value)


def test_an_option_for_another_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"image_size does not apply to --dataset t.csv \(a csv source\); it is for folder sources"):
        load("t.csv", image_size=(8, 8))
    with pytest.raises(UsageError, match="label_mode does not apply to --dataset mnist"):
        load("mnist", label_mode="coarse")


# ----------------------------------------------------------------------------- Keras datasets by name


def test_cifar10_by_name_splits_as_studies_stored_before_sources_did(tmp_path: Path) -> None:
    """The split and the records of the single-source loader, spelled out: validation is the first
    round(N * 0.1) of a seeded permutation, so existing cifar10 studies resume on the same data."""
    write_cifar10(tmp_path, n_train=100, n_test=20)
    x_train, y_train, x_test, _, _ = load_cifar10_dir(tmp_path)
    new = load("cifar10", seed=3, data_dir=tmp_path)
    order = np.random.default_rng(3).permutation(100)
    assert np.array_equal(new.validation.x, x_train[np.sort(order[:10])]) and np.array_equal(new.train.y, y_train[np.sort(order[10:])])
    assert new.fingerprint() == {"dataset": "cifar10", "input_shape": [32, 32, 3], "num_classes": 10, "train": 90, "validation": 10, "test": 20}
    assert set(new.source) == {"kind", "path", "digest"} and new.source["kind"] == "cifar10" and new.source["path"] == str(tmp_path.resolve())
    assert new.class_names[:2] == ("airplane", "automobile") and np.array_equal(new.test.x, x_test)


def _write_cifar100(root: Path, *, tarball: bool, n_train: int = 200, n_test: int = 40) -> np.ndarray:
    x, _ = synthetic_images(n_train + n_test, 5)
    fine = np.arange(n_train + n_test) % 100
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)

    def part(sl: slice) -> bytes:
        return pickle.dumps({b"data": rows[sl], b"fine_labels": fine[sl].tolist(), b"coarse_labels": (fine[sl] // 5).tolist()}, protocol=2)

    members = {
        "train": part(slice(0, n_train)),
        "test": part(slice(n_train, None)),
        "meta": pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)], b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}),
    }
    root.mkdir(parents=True, exist_ok=True)
    if tarball:
        with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tar:
            for name, blob in members.items():
                info = tarfile.TarInfo(f"cifar-100-python/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (root / "cifar-100-python").mkdir()
        for name, blob in members.items():
            (root / "cifar-100-python" / name).write_bytes(blob)
    return x


@pytest.mark.parametrize("tarball", [True, False], ids=["tar.gz", "folder"])
def test_cifar100_fine_and_coarse(tmp_path: Path, tarball: bool) -> None:
    x = _write_cifar100(tmp_path, tarball=tarball)
    fine = load("cifar100", data_dir=tmp_path)
    assert fine.num_classes == 100 and fine.class_names[:2] == ("f0", "f1") and fine.input_shape == (32, 32, 3)
    assert len(fine.train) + len(fine.validation) == 200 and len(fine.test) == 40
    assert np.array_equal(fine.test.x, x[200:])
    coarse = load("cifar100", data_dir=tmp_path, label_mode="coarse")
    assert coarse.num_classes == 20 and coarse.class_names[-1] == "c19" and coarse.source["label_mode"] == "coarse"
    assert np.array_equal(coarse.test.y, np.arange(200, 240) % 100 // 5)


def test_cifar100_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="found neither cifar-100-python.tar.gz nor cifar-100-python/ there; download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"):
        load("cifar100", data_dir=tmp_path)
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(UsageError, match="cifar-100-python.tar.gz is corrupt or not a tar.gz"):
        load("cifar100", data_dir=tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        load("cifar100", data_dir=tmp_path / "nope")


def test_mnist_npz_gets_a_channel_axis(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images * 16).clip(0, 255).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x[:300], y_train=digits.target[:300], x_test=x[300:360], y_test=digits.target[300:360])
    ds = load("mnist", data_dir=tmp_path)
    assert ds.input_shape == (8, 8, 1) and ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert ds.describe()["counts"] == {"train": 270, "validation": 30, "test": 60}
    assert load("mnist", data_dir=tmp_path, task="classification").task == "classification"  # an explicit, consistent task
    with pytest.raises(UsageError, match=r"^task: regression contradicts the data: mnist has 10 classes of images; leave task out or use task: classification\.$"):
        load("mnist", data_dir=tmp_path, task="regression")
    (tmp_path / "mnist.npz").unlink()
    with pytest.raises(UsageError, match="mnist.npz is not there; download https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"):
        load("mnist", data_dir=tmp_path)


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _write_fashion(folder: Path) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    x, y = synthetic_images(60, 2, size=28)
    gray = x.mean(axis=-1).astype(np.uint8)
    _idx(folder / "train-images-idx3-ubyte.gz", gray[:50])
    _idx(folder / "train-labels-idx1-ubyte.gz", y[:50])
    _idx(folder / "t10k-images-idx3-ubyte.gz", gray[50:])
    _idx(folder / "t10k-labels-idx1-ubyte.gz", y[50:])
    return gray


def test_fashion_mnist_four_gz_files(tmp_path: Path) -> None:
    gray = _write_fashion(tmp_path / "fashion-mnist")  # as Keras lays out its cache
    ds = load("fashion_mnist", data_dir=tmp_path)
    assert ds.input_shape == (28, 28, 1) and ds.class_names[0] == "T-shirt/top" and len(ds.test) == 10
    assert np.array_equal(ds.test.x[..., 0], gray[50:])
    labels = tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-3]))
    with pytest.raises(UsageError, match="t10k-labels-idx1-ubyte.gz holds 7 bytes of data but its header says \\(10,\\); it is truncated"):
        load("fashion_mnist", data_dir=tmp_path)
    labels.write_bytes(b"not gzip")
    with pytest.raises(UsageError, match="t10k-labels-idx1-ubyte.gz is corrupt or not gzip"):
        load("fashion_mnist", data_dir=tmp_path)
    labels.unlink()
    with pytest.raises(UsageError, match="t10k-labels-idx1-ubyte.gz missing; download them from"):
        load("fashion_mnist", data_dir=tmp_path)


def test_no_network_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(RuntimeFailure, match=r"Could not download MNIST \(OSError: network unreachable\).*pass --data-dir DIR"):
        load("mnist")


# ----------------------------------------------------------------------------- image folders


def _digits_folder(root: Path, classes: tuple[int, ...] = (0, 1, 2), per_class: int = 12, corrupt: bool = True) -> Path:
    """sklearn's 8x8 digits as class folders: PNGs, a few JPEGs, and one corrupt file."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        folder = root / f"digit_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == c][:per_class]
        for i, image in enumerate(images):
            pixels = Image.fromarray((image * 16).clip(0, 255).astype(np.uint8), mode="L")
            pixels.save(folder / (f"{i:03d}.jpg" if i % 4 == 3 else f"{i:03d}.png"))
    if corrupt:
        (root / f"digit_{classes[0]}" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / f"digit_{classes[0]}" / "notes.txt").write_text("ignored: not an image")
    return root


def test_image_folder_streams_and_reports_what_it_skipped(tmp_path: Path) -> None:
    root = _digits_folder(tmp_path / "digits")
    ds = load(root, seed=1)
    assert ds.streamed and isinstance(ds.train, FileSplit) and ds.input_shape == (8, 8, 1)
    assert ds.class_names == ("digit_0", "digit_1", "digit_2") and ds.num_classes == 3
    assert len(ds.train) + len(ds.validation) + len(ds.test) == 36  # the corrupt file skipped
    assert np.bincount(ds.test.y).tolist() == [2, 2, 2]  # carved 0.2 of each class
    assert ds.notes == (f"{root}: skipped 1 unreadable file(s): digit_0/broken.png.",)
    described = ds.describe()
    assert described["kind"] == "folder" and described["skipped"] == 1 and described["test"] == "carved 0.2 of each class (seed 1)"
    assert described["class_names"] == ["digit_0", "digit_1", "digit_2"] and described["digest"].startswith("sha256:")
    again = load(root, seed=1)
    assert again.test.paths == ds.test.paths and again.source["digest"] == ds.source["digest"]
    assert load(root, seed=2).test.paths != ds.test.paths
    pipes = Pipelines(ds)
    x, y = next(iter(pipes.train(8, seed=0)))
    assert tuple(x.shape) == (8, 8, 8, 1) and x.dtype.name == "float32" and float(x.numpy().max()) <= 255
    assert sum(int(b[1].shape[0]) for b in pipes.evaluation("test", 4)) == len(ds.test)
    assert ds.test.head(3).shape == (3, 8, 8, 1)


def test_given_train_and_test_folders_are_used_as_given(tmp_path: Path) -> None:
    _digits_folder(tmp_path / "d" / "train", per_class=8, corrupt=False)
    _digits_folder(tmp_path / "d" / "test", classes=(0, 2), per_class=3, corrupt=False)
    ds = load(tmp_path / "d", color_mode="rgb", image_size=(16, 16))
    assert len(ds.test) == 6 and ds.source["test"] == "test/ folder" and ds.input_shape == (16, 16, 3)
    assert ds.test.head(2).shape == (2, 16, 16, 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "is empty; put the images of each class in"),
        (lambda root: (root / "a.png").write_bytes(b"x"), "has no class sub-folders"),
        (lambda root: _digits_folder(root, classes=(4,), corrupt=False), "only one class folder (digit_4); a classifier needs at least two"),
        (lambda root: (_digits_folder(root, corrupt=False), (root / "empty").mkdir()), "class folder {root}/empty has no readable images"),
    ],
    ids=["empty", "no-classes", "one-class", "empty-class"],
)
def test_malformed_image_folders(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    make(root)
    with pytest.raises(UsageError) as err:
        load(root)
    assert message.format(root=root.resolve()) in str(err.value) and "\n" not in str(err.value)


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    from PIL import Image

    root = _digits_folder(tmp_path / "m", corrupt=False)
    Image.new("RGB", (10, 12)).save(root / "digit_1" / "big.bmp")
    Image.new("RGB", (10, 12)).save(root / "digit_2" / "big.gif")
    with pytest.raises(UsageError, match=r"different sizes \(height x width: 8x8 \(36 images\), 12x10 \(2 images\)\); set image_size"):
        load(root)
    ds = load(root, image_size=8)
    x, _ = next(iter(Pipelines(ds).evaluation("test", 64)))
    assert tuple(x.shape[1:]) == (8, 8, 3) and ds.source["resized"] is True  # rgb: not every image is gray


# ----------------------------------------------------------------------------- CSV tables

_CSV = """height,colour,weight,species
1.0,red,10,cat
2.0,blue,20,dog
3.0,red,,cat
4.0,green,40,dog
5.0,blue,50,cat
6.0,red,60,dog
7.0,green,70,cat
8.0,blue,80,dog
9.0,red,90,cat
10.0,green,100,dog
"""


def test_csv_missing_values_are_one_line_or_imputed(tmp_path: Path) -> None:
    path = tmp_path / "pets.csv"
    path.write_text(_CSV)
    with pytest.raises(UsageError, match=r"pets.csv: missing values in column\(s\) weight \(1\); fill them in the file or set impute: mean \| median"):
        load(path)
    ds = load(path, impute="median", seed=0, test_fraction=0.2)
    assert ds.task == "classification" and ds.class_names == ("cat", "dog") and ds.input_shape == (5,)
    t: TableTransform = ds.preprocessing
    assert t.feature_names == ["height", "colour=blue", "colour=green", "colour=red", "weight"]
    assert np.allclose(ds.train.x[:, 0].mean(), 0, atol=1e-6) and np.allclose(ds.train.x[:, 0].std(), 1, atol=1e-5)  # training stats only
    assert set(ds.train.x[:, 1:4].sum(axis=1).tolist()) == {1.0}
    assert ds.describe()["preprocessing"]["columns"][2]["fill"] is not None
    assert TableTransform.from_dict(t.to_dict()) == t


def test_csv_test_file_target_and_unseen_categories(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text(_CSV.replace(",,", ",30,"))
    test = tmp_path / "test.csv"
    test.write_text("height,colour,weight,species\n2.5,purple,25,dog\n3.5,red,35,cat\n")
    ds = load(train, test=str(test), target="weight", task="regression")
    assert ds.task == "regression" and ds.num_classes == 0 and ds.fingerprint()["task"] == "regression"
    assert ds.test.y.tolist() == [25.0, 35.0] and ds.preprocessing.feature_names[-2:] == ["species=cat", "species=dog"]
    assert ds.test.x[0, 1:4].tolist() == [0.0, 0.0, 0.0]  # purple: unseen, all zeros
    assert len(ds.notes) == 1 and "colour: purple" in ds.notes[0] and "encoded as all zeros" in ds.notes[0]


def test_the_exported_front_takes_raw_rows_and_matches(tmp_path: Path) -> None:
    import keras

    path = tmp_path / "pets.csv"
    path.write_text(_CSV)
    ds = load(path, impute="mean")
    t: TableTransform = ds.preprocessing
    raw = {"height": ["1.5", "2"], "colour": ["purple", ""], "weight": ["", "33"]}
    expected, _ = t.transform(raw)
    inputs = {"height": np.array([[1.5], [2.0]], "float32"), "colour": np.array([["purple"], [""]]), "weight": np.array([[np.nan], [33]], "float32")}
    body = keras.Sequential([keras.Input((len(t.feature_names),)), keras.layers.Identity()])
    wrapped = t.wrap(body)
    assert np.allclose(wrapped(inputs).numpy(), expected, atol=1e-5)
    wrapped.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert np.allclose(reloaded(inputs).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (_CSV, {"target": "specie", "impute": "mean"}, "target column 'specie' is not in the table (did you mean 'species'?)"),
        (_CSV, {"target": "colour", "task": "regression", "impute": "mean"}, "target column 'colour' is not numeric ('red' in row 2); regression needs numbers"),
        (_CSV.replace(",cat", ",1").replace(",dog", ",2"), {"impute": "mean"}, "has class ids 1, 2, but the ids of 2 classes must be 0..1"),
        (_CSV.replace(",dog", ",cat"), {"impute": "mean"}, "has a single class (cat)"),
        (_CSV.replace("4.0,green,40,dog", "4.0,green,40"), {}, "row 5 has 3 values but the header has 4 columns"),
        (_CSV.replace("5.0,blue,50,cat", "5.0,blue,50,"), {"impute": "mean"}, "target column 'species' is empty in row(s) 6"),
        ("", {}, "is empty; it needs a header row"),
    ],
)
def test_malformed_tables(tmp_path: Path, text: str, options: dict, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        load(path, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_diabetes_regression_table(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.iloc[:120]
    frame.to_csv(tmp_path / "diabetes.csv", index=False)  # whole numbers 25..346, written "151.0"
    for task in ("auto", "regression"):  # too many distinct values to be classes, and not 0..K-1: a quantity
        ds = load(tmp_path / "diabetes.csv", task=task)
        assert ds.task == "regression" and ds.input_shape == (10,) and ds.train.y.dtype == np.float32 and len(ds.test) == 24
    frame.assign(target=frame["target"].astype(int)).to_csv(tmp_path / "ints.csv", index=False)  # "151"
    assert load(tmp_path / "ints.csv").task == "regression"
    few = frame.assign(target=np.arange(120) % 5 + 1)  # labels 1..5: classes numbered from 1
    few.to_csv(tmp_path / "few.csv", index=False)
    with pytest.raises(UsageError, match="or set task: regression if 'target' is a quantity"):
        load(tmp_path / "few.csv")


# ----------------------------------------------------------------------------- npz, describe, imports


def test_npz_regression_and_any_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", x_train=rng.normal(size=(40, 6)), y_train=rng.normal(size=40), x_test=rng.normal(size=(8, 6)), y_test=rng.normal(size=8))
    ds = load(tmp_path / "r.npz")
    assert ds.task == "regression" and ds.input_shape == (6,) and ds.input_scale == 1.0 and ds.num_classes == 0
    np.savez(tmp_path / "c.npz", x_train=rng.normal(size=(40, 6)), y_train=np.arange(40) % 3, x_test=rng.normal(size=(8, 6)), y_test=np.arange(8) % 3)
    assert load(tmp_path / "c.npz").num_classes == 3
    np.savez(tmp_path / "bad.npz", x_train=rng.normal(size=(40, 6)), y_train=np.arange(40) % 3 + 1, x_test=rng.normal(size=(8, 6)), y_test=np.arange(8) % 3 + 1)
    with pytest.raises(UsageError, match="must be 0..2"):
        load(tmp_path / "bad.npz")
    with pytest.raises(UsageError, match="has non-integer labels"):
        load(tmp_path / "r.npz", task="classification")


def test_importing_sources_does_not_import_tensorflow() -> None:
    code = "import sys, hpsearch.data.sources; print(sorted(m for m in ('tensorflow', 'keras', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "[]"
