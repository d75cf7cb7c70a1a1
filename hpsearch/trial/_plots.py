"""Static plots (PNG, matplotlib's headless Agg backend): a trial's learning curves, an LR range test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["learning_curve_png", "lr_find_png"]


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


def lr_find_png(
    rates: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    path: str | Path,
    *,
    bounds: tuple[float, float] | None = None,
    marks: Mapping[str, float] | None = None,
    title: str = "",
) -> Path:
    """Draw an LR range test: each batch's loss (faint) and the smoothed loss against the learning
    rate on a log axis, the suggested ``bounds`` shaded and ``marks`` (label -> rate) as lines."""
    import math

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.plot(rates, losses, color="C0", alpha=0.3, linewidth=1, label="batch loss")
    ax.plot(rates, smoothed, color="C0", linewidth=2, label="smoothed loss")
    if bounds is not None:
        ax.axvspan(bounds[0], bounds[1], color="C2", alpha=0.15, label=f"suggested range [{bounds[0]:.3g}, {bounds[1]:.3g}]")
    for i, (label, rate) in enumerate((marks or {}).items()):
        ax.axvline(rate, color=f"C{i + 3}", linestyle="--", linewidth=1, label=f"{label} {rate:.3g}")
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite:  # the divergence at the end would squash the interesting part of the curve
        low, start = min(finite), finite[0]
        ax.set_ylim(low - 0.1 * (start - low + 1e-12), max(start, low) + 0.5 * (start - low + 1e-12))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
