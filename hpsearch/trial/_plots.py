"""Static plots (PNG, matplotlib's headless Agg backend): a trial's learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["learning_curve_png"]


def learning_curve_png(
    history: Sequence[Mapping[str, float]],
    path: str | Path,
    *,
    title: str = "",
    best_epoch: int | None = None,
    metrics: Sequence[str] = ("accuracy", "loss"),
) -> Path:
    """Draw each of ``metrics`` (the objective's first, the loss last), train (dashed) vs
    validation (solid) in one colour, per epoch into ``path``.

    ``history`` rows and ``best_epoch`` carry the stored (1-based) epoch numbers, drawn as they are
    (whole-number ticks).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    epochs = [int(row["epoch"]) for row in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), dpi=100, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key, label, style in ((metric, "train", "--"), (f"val_{metric}", "validation", "-")):  # one colour, dash for train
            values = [row.get(key, float("nan")) for row in history]
            ax.plot(epochs, values, style, color="C0", marker="o", markersize=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1, label="best epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
