"""Map stage: 2-D coordinates of a vector artifact by t-SNE, locally linear embedding and Laplacian eigenmaps.

One module, two stages: `map` over document codes and `word_map` over word vectors (the most frequent words:
word rows are in frequency order). Rows are scaled to unit length (cosine geometry). Each method works on at
most its own stated number of rows; larger inputs are sampled (documents: at random with `map.seed`;
words: the most frequent) and the manifest says how many. Output: one Parquet table per method,
`<method>.parquet` with the id column (`doc_id` or `term`), `x`, `y`.

- t-SNE: openTSNE (FFT-accelerated gradients from 10k rows, Barnes-Hut below; PCA initialisation) after PCA
  to `pca_dim` dimensions.
- LLE: scikit-learn's LocallyLinearEmbedding (standard, ARPACK).
- Laplacian eigenmaps: the kNN graph and Laplacian of lexiflow.spectral.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.config import MapConfig
from lexiflow.spectral import knn_graph, laplacian_eigenmap, unit_rows
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import load_rows

NAME = "map"
VERSION = 2
SECTION = "map"
USES_DASK = False
METHODS = ("tsne", "lle", "laplacian")
FFT_MIN_ROWS = 10_000
FFT_INTS_IN_INTERVAL = 2

log = logging.getLogger(__name__)


def pca(x: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` principal components (randomised SVD when that is cheaper)."""
    if x.shape[1] <= dim:
        return x
    from sklearn.decomposition import PCA

    return PCA(dim, svd_solver="randomized", random_state=0).fit_transform(x).astype(np.float32)


def tsne(x: np.ndarray, cfg: MapConfig) -> np.ndarray:
    from openTSNE import TSNE

    perplexity = min(cfg.perplexity, max(1.0, (len(x) - 1) / 3))
    # FFT-interpolated gradients cost a fixed grid per iteration: Barnes-Hut is faster below ~10k points
    gradient = "fft" if len(x) >= FFT_MIN_ROWS else "bh"
    # ints_in_interval=2 halves the FFT grid (the late, expanded iterations cost the grid, not the points): on
    # 20k Debian codes 37 s instead of 72 s, trustworthiness 0.9551 instead of 0.9557
    model = TSNE(n_components=2, perplexity=perplexity, initialization="pca", negative_gradient_method=gradient,
                 ints_in_interval=FFT_INTS_IN_INTERVAL,
                 n_jobs=cfg.threads or os.cpu_count() or 1, random_state=cfg.seed, verbose=False)
    return np.asarray(model.fit(pca(x, cfg.pca_dim)), dtype=np.float32)


def lle(x: np.ndarray, cfg: MapConfig) -> np.ndarray:
    """LLE of the distinct rows (copies share a point: identical neighbours make the weights degenerate);
    when ARPACK's shift-invert meets an exactly singular matrix, the dense solver answers instead."""
    from sklearn.manifold import LocallyLinearEmbedding

    rows, inverse = np.unique(x, axis=0, return_inverse=True)
    distinct = pca(rows, cfg.pca_dim).astype(np.float64)
    for solver in ("arpack", "dense"):
        model = LocallyLinearEmbedding(n_neighbors=min(cfg.neighbors, len(distinct) - 1), n_components=2,
                                       eigen_solver=solver, random_state=cfg.seed, n_jobs=cfg.threads or None)
        try:
            xy = model.fit_transform(distinct)
            break
        except (ValueError, RuntimeError) as exc:
            if solver == "dense":
                raise
            log.warning("map: LLE with ARPACK failed (%s); using the dense eigensolver", exc)
    return xy[inverse.reshape(-1)].astype(np.float32)


def laplacian(x: np.ndarray, cfg: MapConfig) -> np.ndarray:
    return laplacian_eigenmap(knn_graph(x, cfg.neighbors), 2, cfg.seed)


EMBED = {"tsne": tsne, "lle": lle, "laplacian": laplacian}


def sample_rows(n: int, limit: int, frequency_ordered: bool, seed: int) -> np.ndarray:
    """Row numbers a method maps: all, the first `limit` (words, most frequent), or a sorted random sample."""
    if n <= limit:
        return np.arange(n)
    if frequency_ordered:
        return np.arange(limit)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def build(cfg: MapConfig, out: ArtifactWriter, *, vectors: Artifact) -> dict[str, Any]:
    words = "term" in (vectors.manifest.get("schema_names") or [])
    limits = {"tsne": cfg.tsne_max_rows, "lle": cfg.lle_max_rows, "laplacian": cfg.laplacian_max_rows}
    rows = load_rows(vectors, max(limits[m] for m in cfg.methods) if words else None)
    x = unit_rows(rows.matrix)
    figures: dict[str, Any] = {"rows": len(x), "kind": "words" if words else "documents", "mapped": {},
                               "seconds": {}, "sample": "most frequent words" if words else f"random, seed {cfg.seed}"}
    for method in cfg.methods:
        picked = sample_rows(len(x), limits[method], words, cfg.seed)
        started = time.perf_counter()
        xy = EMBED[method](x[picked], cfg)
        figures["seconds"][method] = round(time.perf_counter() - started, 3)
        figures["mapped"][method] = len(picked)
        log.info("map: %s of %d rows in %.1fs", method, len(picked), figures["seconds"][method])
        out.write(f"{method}.parquet", pa.table({rows.id_column: rows.ids.take(pa.array(picked)),
                                                 "x": xy[:, 0], "y": xy[:, 1]}))
    return figures


def coordinates(artifact: Artifact, method: str) -> pa.Table:
    """One method's map (`<id>, x, y`) of a map artifact."""
    return artifact.read_table(f"{method}.parquet")
