"""A searched network against scikit-learn on the same regression split.

scikit-learn's ``load_diabetes`` (442 patients, 10 features, a disease-progression score; offline)
is written as a training and a test CSV (the same seeded 80/20 split for everyone). The shipped
``boston_housing`` study -- its settings unchanged: the MLP, 4-fold CV, the MAE objective, its
search space and budget -- runs on it, its best trial is retrained on all training rows and
tested; RidgeCV (standardized features) and GradientBoostingRegressor are fitted on the same
training rows and tested on the same test rows. Prints the test MAEs and the wall times.

    python scripts/bench_regression.py                 # the study's own budget
    python scripts/bench_regression.py --trials 4      # a quicker look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _write(path: Path, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    rows = [",".join([*names, "target"])] + [",".join(f"{v:.6g}" for v in (*xi, yi)) for xi, yi in zip(x, y)]
    path.write_text("\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=None, help="override the study's budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import mean_absolute_error
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_diabetes()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2, random_state=args.seed)
    results: list[tuple[str, float, float]] = []
    for name, model in (
        ("RidgeCV", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))),
        ("GradientBoostingRegressor", GradientBoostingRegressor(random_state=args.seed)),
    ):
        start = time.perf_counter()
        model.fit(x_train, y_train)
        results.append((name, mean_absolute_error(y_test, model.predict(x_test)), time.perf_counter() - start))

    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-") as tmp:
        folder = Path(tmp)
        _write(folder / "train.csv", x_train, y_train, list(data.feature_names))
        _write(folder / "test.csv", x_test, y_test, list(data.feature_names))
        os.environ["HPSEARCH_HOME"] = str(folder / "home")
        for key in ("HPSEARCH_STORAGE", "MLFLOW_TRACKING_URI", "HPSEARCH_CHECKPOINT_DIR"):
            os.environ.pop(key, None)
        import hpsearch

        start = time.perf_counter()
        summary = hpsearch.run_study(
            hpsearch.StudyRequest(study="boston_housing", study_name="diabetes", dataset=str(folder / "train.csv"),
                         test=str(folder / "test.csv"), trials=args.trials, seed=args.seed)
        )
        seconds = time.perf_counter() - start
        test = summary.test_metrics or {}
        best = summary.best
        label = f"boston_housing study ({summary.counts.complete} complete, {summary.counts.pruned} pruned)"
        results.insert(0, (label, float(test.get("test_mae", float("nan"))), seconds))
        print(f"best trial {best.number if best else '-'}: val_mae {best.value if best else float('nan'):.2f}; params {best.params if best else {}}")

    print(f"load_diabetes: {len(y_train)} training rows, {len(y_test)} test rows (split seed {args.seed})")
    print(f"{'model':<48} {'test MAE':>9} {'seconds':>8}")
    for name, mae, seconds in results:
        print(f"{name:<48} {mae:>9.2f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
