"""Shared numerics of the cluster and map stages: faiss k-means, the k-nearest-neighbour graph and the
eigenvectors of its graph Laplacian.

Spectral clustering and Laplacian eigenmaps are the same first half (kNN graph -> normalised Laplacian ->
smallest eigenvectors); keeping it here lets both stages use it without knowing each other.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)
REGULARIZATION = 1.0  # teleport weight t as a multiple of the mean degree (Qin & Rohe's choice)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero): Euclidean geometry then ranks like cosine."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (Arthur & Vassilvitskii): each next seed drawn with probability ~ squared distance to
    the nearest seed so far. faiss seeds with uniformly random rows, which on well separated groups often puts
    two seeds in one group and leaves another without any; no number of Lloyd iterations repairs that."""
    n = len(x)
    seeds = [int(rng.integers(n))]
    d2 = ((x - x[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = float(d2.sum())
        i = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        seeds.append(i)
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(axis=1))
    return np.ascontiguousarray(x[seeds], dtype=np.float32)


def kmeans(x: np.ndarray, k: int, restarts: int, iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss k-means from k-means++ seeds on every row (no sub-sampling), the lowest-error of `restarts` runs;
    returns (labels, centroids)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k={k}: must be between 1 and the number of rows ({len(x)})")
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray] = (np.inf, np.zeros((k, x.shape[1]), np.float32))
    for run in range(max(restarts, 1)):
        km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed + run, verbose=False,
                          max_points_per_centroid=max(256, -(-len(x) // k)), min_points_per_centroid=1)
        km.train(x, init_centroids=kmeans_plus_plus(x, k, rng))
        error = float(km.obj[-1]) if len(km.obj) else 0.0
        if error < best[0] or run == 0:
            best = (error, np.asarray(km.centroids, dtype=np.float32).copy())
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(best[1])
    _, labels = index.search(x, 1)
    return labels.ravel().astype(np.int32), best[1]


def knn_graph(x: np.ndarray, neighbors: int) -> sp.csr_matrix:
    """Symmetric 0/1 connectivity of each row's `neighbors` nearest rows (exact faiss search, self left out),
    averaged with its transpose as scikit-learn's spectral methods do."""
    import faiss

    n = len(x)
    neighbors = min(neighbors, n - 1)
    if neighbors < 1:
        raise ValueError(f"a neighbour graph needs at least 2 rows, got {n}")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(x, dtype=np.float32))
    _, found = index.search(np.ascontiguousarray(x, dtype=np.float32), neighbors + 1)
    rows = np.repeat(np.arange(n), neighbors + 1)
    cols = found.ravel()
    keep = (cols >= 0) & (cols != rows)
    a = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    a.data[:] = 1.0  # a duplicate point found twice counts once
    return ((a + a.T) * 0.5).tocsr()


def _operator(graph: sp.csr_matrix, tau: float) -> tuple[Any, np.ndarray]:
    """D_t^(-1/2) (W + t/n·11^T) D_t^(-1/2) as a linear operator, and the regularised degrees D_t.

    The rank-one term (regularised spectral clustering, Qin & Rohe 2013; Amini et al. 2013) joins every pair
    of rows with weight t/n, t = a multiple of the mean degree: the graph is then connected, so the zero
    eigenvalue of the Laplacian I - (this operator) is simple. On a raw kNN graph every small separate
    component (duplicated package descriptions) adds one more zero eigenvalue, which ARPACK's Lanczos cannot
    resolve (it returns too few of a repeated eigenvalue), and weakly attached small groups take the smallest
    eigenvectors: on the 64k Debian codes t = 0.05 x mean degree gave one cluster of 47k documents (ARI 0.02),
    t = 1 x mean degree clusters of comparable sizes (ARI 0.12 on a 20k sample).
    """
    from scipy.sparse.linalg import LinearOperator

    n = graph.shape[0]
    degree = np.asarray(graph.sum(axis=1)).ravel() + tau
    scale = 1.0 / np.sqrt(degree)
    teleport = tau / n

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v).reshape(n, -1)
        sv = scale[:, None] * v
        return scale[:, None] * (graph @ sv + teleport * sv.sum(axis=0, keepdims=True))

    return LinearOperator((n, n), matvec=matvec, matmat=matvec, dtype=np.float64), degree


def smallest_laplacian(graph: sp.csr_matrix, count: int, seed: int = 0,
                       regularization: float = REGULARIZATION) -> tuple[np.ndarray, np.ndarray]:
    """The `count` smallest eigenpairs of the regularised symmetric normalised Laplacian of a graph.

    Found as the largest of the normalised adjacency (ARPACK converges on that end without a factorisation,
    which shift-invert would need)."""
    from scipy.sparse.linalg import eigsh

    n = graph.shape[0]
    count = min(count, n - 2)
    if count < 1:
        raise ValueError(f"a graph of {n} rows has too few eigenvectors to embed")
    tau = regularization * float(graph.sum()) / n
    op, degree = _operator(sp.csr_matrix(graph, dtype=np.float64), tau)
    v0 = np.sqrt(degree) * np.random.default_rng(seed).uniform(0.5, 1.5, n)
    values, vectors = eigsh(op, k=count, which="LA", v0=v0, tol=1e-8, maxiter=max(3000, 20 * n))
    order = np.argsort(-values)
    return 1.0 - values[order], vectors[:, order]


def laplacian_vectors(graph: sp.csr_matrix, count: int, seed: int = 0,
                      regularization: float = REGULARIZATION) -> np.ndarray:
    """The `count` eigenvectors of the (regularised) normalised Laplacian with the smallest eigenvalues."""
    return smallest_laplacian(graph, count, seed, regularization)[1]


def laplacian_eigenmap(graph: sp.csr_matrix, dim: int = 2, seed: int = 0) -> np.ndarray:
    """Belkin-Niyogi Laplacian eigenmap: the `dim` smallest non-trivial generalised eigenvectors (L y = l D y),
    y = D^(-1/2) v, of the regularised graph (so separate components sit apart instead of breaking the solver)."""
    _, vectors = smallest_laplacian(graph, dim + 1, seed)
    degree = np.asarray(graph.sum(axis=1)).ravel() + float(graph.sum()) / graph.shape[0]
    return (vectors[:, 1:dim + 1] / np.sqrt(degree)[:, None]).astype(np.float32)
