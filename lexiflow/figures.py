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


def _save(fig: Any, path: str, dpi: int = 110) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)


def zipf(path: str, counts: np.ndarray, top: list[tuple[str, int]]) -> None:
    """Term frequency against rank (log-log), next to the most frequent terms as bars."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.2]})
    ranks = np.arange(1, len(counts) + 1)
    left.loglog(ranks, counts, lw=1)
    if len(counts) > 1:
        left.loglog(ranks, counts[0] / ranks, ls="--", lw=0.8, color="grey", label="1/rank")
        left.legend(fontsize=8)
    left.set_xlabel("rank")
    left.set_ylabel("count")
    left.set_title("Zipf plot of term frequencies", fontsize=10)
    words = [w for w, _ in top][::-1]
    right.barh(words, [c for _, c in top][::-1], color="tab:blue")
    right.tick_params(axis="y", labelsize=7)
    right.set_title(f"top {len(top)} terms", fontsize=10)
    _save(fig, path)


def bars(path: str, names: list[str], values: list[float], title: str, xlabel: str,
         colors: list[str] | None = None) -> None:
    """Horizontal bars, one per name (first name on top)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.25 * len(names) + 1)))
    ax.barh(names[::-1], values[::-1], color=(colors or ["tab:blue"] * len(names))[::-1])
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    _save(fig, path)


def series(path: str, curves: dict[str, dict[str, list[float]]], xlabel: str = "epoch") -> None:
    """One panel per model, one line per series (train loss, held-out loss, ...)."""
    plt = _pyplot()
    cols = min(max(len(curves), 1), 3)
    rows = (len(curves) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, (name, lines) in zip(axes.ravel(), curves.items(), strict=False):
        for label, values in lines.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(curves):]:
        ax.axis("off")
    _save(fig, path)


def _clip_view(ax: Any, xy: np.ndarray, share: float = 0.5) -> None:
    """Axes over the central 99% of points: a few far-off points (a small, separate component in a Laplacian
    eigenmap) would otherwise squeeze everything else into a corner. Points outside stay drawn, off view."""
    if len(xy) < 100:
        return
    lo, hi = np.percentile(xy, [share, 100 - share], axis=0)
    pad = (hi - lo) * 0.05
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])


def categorical_maps(path: str, panels: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Side-by-side scatters of 2-D points, each coloured by its own categories (the 10 largest; rest grey)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 6), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (title, xy, cats) in zip(axes.ravel(), panels, strict=True):
        cats = np.asarray(cats, dtype=object)
        names, counts = np.unique(cats.astype(str), return_counts=True)
        shown = [n for n in names[np.argsort(-counts)] if n != "None"][:MAX_MAP_LABELS]
        rest = ~np.isin(cats.astype(str), shown)
        ax.scatter(xy[rest, 0], xy[rest, 1], s=2, c="lightgrey", label="other", rasterized=True)
        for i, name in enumerate(shown):
            mask = cats.astype(str) == name
            ax.scatter(xy[mask, 0], xy[mask, 1], s=2, color=cmap(i), label=name, rasterized=True)
        _clip_view(ax, xy)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=4, fontsize=7, loc="best")
    _save(fig, path, dpi=100)


def word_map(path: str, xy: np.ndarray, words: list[str], labelled: int, title: str) -> None:
    """Words as points; the first `labelled` (the most frequent) written next to theirs."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 9))
    ax.scatter(xy[:, 0], xy[:, 1], s=2, c="lightgrey", rasterized=True)
    n = min(labelled, len(words))
    ax.scatter(xy[:n, 0], xy[:n, 1], s=6, c="tab:blue")
    for (x, y), word in zip(xy[:n], words[:n], strict=True):
        ax.annotate(word, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path, dpi=100)
