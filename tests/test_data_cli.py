"""Your data through the CLI: studies on an image folder and on a Keras dataset by name offline
(real subprocesses), every malformed input one line that creates nothing, and the shipped studies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from conftest import hpsearch_cli, write_study
from hpsearch.cli import main

TINY = ["--trials", "1", "--epochs", "1"]


def write_digit_folder(root: Path, *, classes: int = 3, per_class: int = 24, scale: int = 2) -> Path:
    """scikit-learn's 8x8 digits as grayscale PNGs (upscaled to 16x16), one sub-folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        folder = root / f"digit{label}"
        folder.mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == label][:per_class]
        for i, image in enumerate(images):
            pixels = np.kron((image * 255 / 16).astype(np.uint8), np.ones((scale, scale), np.uint8))
            Image.fromarray(pixels, mode="L").save(folder / f"{i:03d}.png")
    return root


def write_mnist_npz(folder: Path, *, n_train: int = 120, n_test: int = 30) -> Path:
    """A tiny ``mnist.npz`` as Keras downloads it (x_train (N, 28, 28) uint8, y_train (N,) ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    y = np.arange(n_train + n_test) % 10
    np.savez(folder / "mnist.npz", x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return folder


def no_study_written(home: Path) -> bool:
    db = home / "optuna.db"
    return not db.exists() or not optuna.get_all_study_summaries(f"sqlite:///{db}")


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_cifar_study_runs_on_a_folder_of_grayscale_digits(tmp_path: Path) -> None:
    folder = write_digit_folder(tmp_path / "digits")
    write_study(tmp_path / "quick.yaml")
    env = {"HPSEARCH_HOME": str(tmp_path / "mlruns")}
    ran = hpsearch_cli("study", "quick.yaml", "--dataset", str(folder), *TINY, cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"data     {folder} (sha256:" in ran.stderr and "16x16x1 images, streamed, 3 classes" in ran.stderr
    shown = hpsearch_cli("show", "quick", cwd=tmp_path, env=env)
    assert shown.returncode == 0 and shown.stdout.splitlines()[0].startswith(f"Data: {folder} (sha256:"), shown.stdout
    study = optuna.load_study(study_name="quick", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db")
    described = study.user_attrs["hpsearch.data_description"]
    assert described["kind"] == "folder" and described["class_names"] == ["digit0", "digit1", "digit2"]
    assert sum(described["counts"].values()) == 72 and described["streamed"] is True


@pytest.mark.slow
def test_the_shipped_mnist_study_runs_offline_by_name(tmp_path: Path) -> None:
    data = write_mnist_npz(tmp_path / "keras-files")
    env = {"HPSEARCH_HOME": str(tmp_path / "mlruns")}
    ran = hpsearch_cli("study", "mnist", "--data-dir", str(data), *TINY, "--study-name", "m", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"data     MNIST from files in {data}" in ran.stderr and "28x28x1 images, 10 classes; train 108, validation 12, test 30" in ran.stderr
    again = hpsearch_cli("study", "mnist", "--data-dir", str(data), *TINY, "--study-name", "m", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "nothing to run" in again.stdout, again.stderr
    write_mnist_npz(data, n_train=100)  # other data: the resumed study notices
    changed = hpsearch_cli("study", "mnist", "--data-dir", str(data), *TINY, "--study-name", "m", cwd=tmp_path, env=env)
    assert changed.returncode == 2 and "Study 'm' was created on different data" in changed.stderr, changed.stderr


# ----------------------------------------------------------------------------- one line, nothing written


def _csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _mixed_sizes(root: Path) -> str:
    from PIL import Image

    for cls, size in (("a", 8), ("b", 12)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.zeros((size, size), np.uint8), mode="L").save(root / cls / f"{i}.png")
    return str(root)


def _one_class(root: Path) -> str:
    write_digit_folder(root, classes=1, per_class=4)
    return str(root)


TABLE = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))
MALFORMED = {
    "empty folder": (lambda tmp: str((tmp / "empty").mkdir() or tmp / "empty"), [], "is empty; put the images of each class in"),
    "one class": (lambda tmp: _one_class(tmp / "one"), [], "only one class folder (digit0); a classifier needs at least two classes"),
    "mixed sizes": (lambda tmp: _mixed_sizes(tmp / "mixed"), [], "the images have different sizes (height x width: 8x8 (3 images), 12x12 (3 images)); set image_size"),
    "target missing": (lambda tmp: _csv(tmp / "t.csv", TABLE), ["--target", "lable"], "target column 'lable' is not in the table (did you mean 'label'?)"),
    "labels not 0..K-1": (lambda tmp: _csv(tmp / "t.csv", TABLE.replace(",0\n", ",2\n")), [], "has class ids 1, 2, but the ids of 2 classes must be 0..1"),
    "a table for the CNN": (lambda tmp: _csv(tmp / "t.csv", TABLE), [], "t.csv: model cifar_cnn needs images (H, W, C); this CSV gives 2 features per example; or use model: mlp."),
    "unknown name": (lambda tmp: "minst", [], "--dataset minst: 'minst' is neither a known name nor an existing folder or file (did you mean 'mnist'?)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_data_is_one_line_and_creates_no_study(store: Path, tmp_path: Path, case: str) -> None:
    make, flags, message = MALFORMED[case]
    write_study(tmp_path / "quick.yaml", model="cifar_cnn")  # explicit: a table alone would get the MLP
    result = CliRunner().invoke(main, ["study", "quick.yaml", "--dataset", make(tmp_path), *flags, *TINY])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert no_study_written(store)


def test_the_shipped_studies_are_listed_one_line_each_without_a_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSEARCH_STORAGE", "postgresql://nobody@127.0.0.1:9/none")  # never opened
    result = CliRunner().invoke(main, ["list", "--studies"])
    assert result.exit_code == 0, result.output
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert set(rows) >= {"cifar10", "cifar100", "mnist", "fashion_mnist", "cats_vs_dogs"}
    assert "150x150" in rows["cats_vs_dogs"] and "28x28 grayscale" in rows["mnist"]
    for name in rows:
        assert CliRunner().invoke(main, ["space", name]).exit_code == 0, name
