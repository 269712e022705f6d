"""PNG figures for reports: precision-recall curves, code maps, loss curves (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_MAP_LABELS = 10


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def precision_recall(path: str, recall_levels: Sequence[float], curves: dict[str, Sequence[float]],
                     title: str) -> None:
    """One curve per method: interpolated precision against recall (log-scaled recall axis)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, curve in curves.items():
        ax.plot(recall_levels, curve, marker="o", markersize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def to_2d(codes: np.ndarray) -> tuple[np.ndarray, str]:
    """2-D points of codes: the codes themselves when 2-D, else their first two principal components."""
    if codes.shape[1] == 2:
        return codes, "code units 1 and 2"
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, f"first two principal components of {codes.shape[1]}-d codes"


def code_map(path: str, codes: np.ndarray, labels: np.ndarray, title: str) -> None:
    """Scatter of 2-D codes coloured by label (the most frequent labels; the rest grey)."""
    plt = _pyplot()
    points, how = to_2d(codes)
    names, counts = np.unique(labels, return_counts=True)
    shown = names[np.argsort(-counts)][:MAX_MAP_LABELS]
    fig, ax = plt.subplots(figsize=(7, 6))
    rest = ~np.isin(labels, shown)
    ax.scatter(points[rest, 0], points[rest, 1], s=2, c="lightgrey", label="other", rasterized=True)
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(shown):
        mask = labels == name
        ax.scatter(points[mask, 0], points[mask, 1], s=2, color=cmap(i), label=str(name), rasterized=True)
    ax.set_title(f"{title}\n({how})", fontsize=10)
    ax.legend(markerscale=4, fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def loss_curves(path: str, curves: dict[str, list[dict[str, Any]]]) -> None:
    """Training and held-out loss per epoch, one panel per model."""
    plt = _pyplot()
    n = max(len(curves), 1)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.5 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, curve) in zip(axes.ravel(), curves.items(), strict=False):
        epochs = [c["epoch"] for c in curve]
        ax.plot(epochs, [c["train_loss"] for c in curve], label="train")
        ax.plot(epochs, [c["holdout_loss"] for c in curve], label="held out")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(curves):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
