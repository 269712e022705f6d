"""Cluster stage: k-means, hierarchical (agglomerative) and spectral clustering of any vector artifact.

One module, two stages: `cluster` over document codes (with TF-IDF and vocab for each cluster's top terms: mean
TF-IDF above the corpus mean; and the corpus for NMI / adjusted Rand index against document labels) and
`word_cluster` over word vectors
(top terms = member words nearest the centroid: "word classes"). Rows are scaled to unit length first, so
every method sees cosine geometry.

- k-means: faiss, best of `restarts` runs, on every row.
- hierarchical: scipy linkage on the rows while there are at most `hac_max_rows`; beyond, on `hac_leaves`
  k-means centroids (each row's leaf is stored). The linkage tree (`linkage.parquet`: left, right, height,
  size, scipy's layout) is kept, so `cut` gives the labels at any k or height without recomputing.
- spectral: kNN graph -> normalised Laplacian -> k smallest eigenvectors, rows normalised (Ng-Jordan-Weiss)
  -> k-means; beyond `spectral_max_rows` on a random sample, the other rows taking their nearest sampled
  row's cluster.

Cluster ids are renumbered by size (0 is the largest) in every method.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.config import ClusterConfig
from lexiflow.spectral import kmeans, knn_graph, laplacian_vectors, unit_rows
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import Rows, load_rows

NAME = "cluster"
VERSION = 1
SECTION = "cluster"
USES_DASK = False
LINKAGE = "linkage.parquet"
CENTROIDS = "centroids.parquet"
TOP_TERMS = "top_terms.parquet"
LEAF = "hac_leaf"
SILHOUETTE_SAMPLE = 5000

log = logging.getLogger(__name__)


def by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids so 0 is the largest cluster (ties by old id)."""
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    remap = np.empty(int(ids.max()) + 1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return remap[labels]


def choose_k(x: np.ndarray, cfg: ClusterConfig) -> tuple[int, str, dict[str, float]]:
    """k from config, or the k in `k_choices` whose k-means labels have the highest silhouette on a sample."""
    if cfg.k is not None:
        return min(cfg.k, len(x)), "cluster.k", {}
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(cfg.seed)
    sample = rng.choice(len(x), min(SILHOUETTE_SAMPLE, len(x)), replace=False)
    scores = {}
    for k in (c for c in cfg.k_choices if 2 <= c < len(x)):
        labels, _ = kmeans(x, k, 1, cfg.iterations, cfg.seed)
        if len(np.unique(labels[sample])) > 1:
            scores[str(k)] = round(float(silhouette_score(x[sample], labels[sample])), 4)
    if not scores:
        raise ValueError(f"cluster.k_choices={cfg.k_choices}: no k between 2 and {len(x) - 1} rows to choose from")
    best = max(scores, key=lambda k: scores[k])
    return int(best), f"highest silhouette on {len(sample)} rows among k_choices", scores


def hac(x: np.ndarray, k: int, cfg: ClusterConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(labels at k, linkage matrix, leaf of each row, what was clustered)."""
    from scipy.cluster.hierarchy import linkage

    if len(x) <= cfg.hac_max_rows:
        leaves, points, how = np.arange(len(x), dtype=np.int32), x, f"all {len(x)} rows"
    else:
        n_leaves = max(k, min(cfg.hac_leaves, len(x)))
        leaves, points = kmeans(x, n_leaves, 1, cfg.iterations, cfg.seed)
        how = (f"{n_leaves} k-means centroids of {len(x)} rows (> cluster.hac_max_rows={cfg.hac_max_rows}); "
               "each row takes its centroid's cluster")
    tree = linkage(points.astype(np.float64), method=cfg.linkage)
    return cut_linkage(tree, leaves, k=k), tree, leaves, how


def cut_linkage(tree: np.ndarray, leaves: np.ndarray, k: int | None = None, height: float | None = None) -> np.ndarray:
    """Labels per row from a linkage tree cut into k clusters or at a height (exactly one of the two)."""
    from scipy.cluster.hierarchy import cut_tree

    if (k is None) == (height is None):
        raise ValueError("cut: give either k or height")
    n = len(tree) + 1
    if k is not None and not 1 <= k <= n:
        raise ValueError(f"cut: k={k} must be between 1 and the tree's {n} leaves")
    cut = cut_tree(tree, n_clusters=k) if k is not None else cut_tree(tree, height=height)
    return by_size(cut.ravel().astype(np.int32)[leaves])


def spectral(x: np.ndarray, k: int, cfg: ClusterConfig) -> tuple[np.ndarray, str]:
    """Ng-Jordan-Weiss spectral clustering on a kNN graph (a random sample of it beyond spectral_max_rows)."""
    import faiss

    n = len(x)
    sample = np.arange(n)
    if n > cfg.spectral_max_rows:
        sample = np.sort(np.random.default_rng(cfg.seed).choice(n, cfg.spectral_max_rows, replace=False))
    graph = knn_graph(x[sample], cfg.spectral_neighbors)
    embedding = unit_rows(laplacian_vectors(graph, k, cfg.seed, cfg.spectral_regularization))
    labels_sample, _ = kmeans(embedding, k, cfg.restarts, cfg.iterations, cfg.seed)
    how = f"{cfg.spectral_neighbors}-NN graph of all {n} rows"
    if len(sample) == n:
        return labels_sample, how
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x[sample])
    _, nearest = index.search(x, 1)
    how = (f"{cfg.spectral_neighbors}-NN graph of a {len(sample)}-row random sample (> cluster.spectral_max_rows); "
           "the other rows take their nearest sampled row's cluster")
    return labels_sample[nearest.ravel()], how


def _labels_of(corpus: Artifact, doc_ids: pa.Array) -> list[str | None]:
    found: dict[str, str | None] = {}
    for batch in corpus.iter_batches(["doc_id", "label"]):
        found.update(zip(batch.column("doc_id").to_pylist(), batch.column("label").to_pylist(), strict=True))
    return [found.get(d) for d in doc_ids.to_pylist()]


def agreement(labels: dict[str, np.ndarray], truth: list[str | None], min_docs: int) -> dict[str, Any]:
    """NMI and adjusted Rand index of each method against the document labels with >= min_docs documents."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    names, counts = np.unique([t for t in truth if t is not None], return_counts=True)
    kept = set(names[counts >= min_docs].tolist())
    mask = np.array([t in kept for t in truth])
    if not kept or mask.sum() < 2:
        return {"labels_kept": len(kept), "docs_scored": int(mask.sum())}
    gold = np.array(truth, dtype=object)[mask]
    scores = {m: {"nmi": round(float(normalized_mutual_info_score(gold, y[mask])), 4),
                  "ari": round(float(adjusted_rand_score(gold, y[mask])), 4)} for m, y in labels.items()}
    return {"labels_kept": len(kept), "labels_dropped": int(len(names) - len(kept)), "docs_scored": int(mask.sum()),
            "min_label_docs": min_docs, "scores": scores}


def _doc_top_terms(labels: np.ndarray, k: int, tfidf: Artifact, vocab: Artifact, doc_ids: pa.Array,
                   n: int) -> list[tuple[list[str], list[float]]]:
    """Each cluster's terms whose mean TF-IDF over its documents most exceeds the corpus mean (one streamed
    pass); the score is that excess."""
    import scipy.sparse as sp

    from lexiflow.sparse import to_csr

    sums = np.zeros((k, vocab.num_rows))
    row = 0
    for batch in tfidf.iter_batches(["doc_id", "term_ids", "values"]):
        if not batch.column("doc_id").equals(doc_ids.slice(row, batch.num_rows)):
            raise ValueError("cluster: the codes and the TF-IDF rows are not in the same document order")
        own = labels[row:row + batch.num_rows]
        member = sp.csr_matrix((np.ones(len(own)), (own, np.arange(len(own)))), shape=(k, len(own)))
        sums += np.asarray((member @ to_csr(batch, vocab.num_rows)).todense())
        row += batch.num_rows
    means = sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    means -= sums.sum(axis=0) / max(len(labels), 1)  # above the corpus mean: "the", "for" are not a cluster's
    terms = vocab.read_table(columns=["term_id", "term"]).sort_by("term_id")["term"].to_pylist()
    top = np.argsort(-means, axis=1)[:, :n]
    return [([terms[j] for j in r], [float(means[c, j]) for j in r]) for c, r in enumerate(top)]


def _word_top_terms(labels: np.ndarray, centroids: np.ndarray, x: np.ndarray, terms: list[str],
                    n: int) -> list[tuple[list[str], list[float]]]:
    """Each cluster's member words nearest (cosine) its centroid."""
    out = []
    for c, centroid in enumerate(unit_rows(centroids)):
        members = np.flatnonzero(labels == c)
        sims = x[members] @ centroid
        best = members[np.argsort(-sims)[:n]]
        out.append(([terms[i] for i in best], [float(x[i] @ centroid) for i in best]))
    return out


def _centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    return (sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]).astype(np.float32)


def _write(out: ArtifactWriter, rows: Rows, labels: dict[str, np.ndarray], leaves: np.ndarray | None,
           tree: np.ndarray | None, centroids: dict[str, np.ndarray],
           top: dict[str, list[tuple[list[str], list[float]]]]) -> None:
    columns = {rows.id_column: rows.ids, **{m: pa.array(y, pa.int32()) for m, y in labels.items()}}
    if leaves is not None:
        columns[LEAF] = pa.array(leaves, pa.int32())
    out.write("parts/part-00000-0000.parquet", pa.table(columns))
    if tree is not None:
        out.write(LINKAGE, pa.table({"left": tree[:, 0].astype(np.int32), "right": tree[:, 1].astype(np.int32),
                                     "height": tree[:, 2], "size": tree[:, 3].astype(np.int32)}))
    dim = rows.matrix.shape[1]
    cent = [(m, c, int((labels[m] == c).sum()), v) for m, vs in centroids.items() for c, v in enumerate(vs)]
    out.write(CENTROIDS, pa.table({
        "method": [r[0] for r in cent], "cluster": pa.array([r[1] for r in cent], pa.int32()),
        "size": pa.array([r[2] for r in cent], pa.int32()),
        "centroid": pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate([r[3] for r in cent]) if cent else np.zeros(0, np.float32)), dim)}))
    tops = [(m, c, t, s) for m, clusters in top.items() for c, (t, s) in enumerate(clusters)]
    out.write(TOP_TERMS, pa.table({
        "method": [r[0] for r in tops], "cluster": pa.array([r[1] for r in tops], pa.int32()),
        "size": pa.array([int((labels[r[0]] == r[1]).sum()) for r in tops], pa.int32()),
        "terms": pa.array([r[2] for r in tops], pa.list_(pa.string())),
        "scores": pa.array([r[3] for r in tops], pa.list_(pa.float32()))}))


def build(cfg: ClusterConfig, out: ArtifactWriter, *, vectors: Artifact, tfidf: Artifact | None = None,
          vocab: Artifact | None = None, corpus: Artifact | None = None) -> dict[str, Any]:
    rows = load_rows(vectors, cfg.max_rows)
    x = unit_rows(rows.matrix)
    k, k_reason, silhouettes = choose_k(x, cfg)
    labels: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    seconds: dict[str, float] = {}
    leaves = tree = None
    for method in cfg.methods:
        started = time.perf_counter()
        if method == "kmeans":
            labels[method] = by_size(kmeans(x, k, cfg.restarts, cfg.iterations, cfg.seed)[0])
            how[method] = f"faiss k-means, best of {cfg.restarts} restarts, all {len(x)} rows"
        elif method == "hac":
            labels[method], tree, leaves, what = hac(x, k, cfg)
            how[method] = f"{cfg.linkage} linkage on {what}"
        else:
            y, how[method] = spectral(x, k, cfg)
            labels[method] = by_size(y)
        seconds[method] = round(time.perf_counter() - started, 3)
        log.info("cluster: %s into %d clusters in %.1fs (%s)", method, k, seconds[method], how[method])
    centroids = {m: _centroids(x, y, k) for m, y in labels.items()}
    if rows.id_column == "term":
        terms = rows.ids.to_pylist()
        top = {m: _word_top_terms(y, centroids[m], x, terms, cfg.top_terms) for m, y in labels.items()}
    elif tfidf is not None and vocab is not None:
        top = {m: _doc_top_terms(y, k, tfidf, vocab, rows.ids, cfg.top_terms) for m, y in labels.items()}
    else:
        top = {}
    _write(out, rows, labels, leaves, tree, centroids, top)
    figures: dict[str, Any] = {"rows": len(x), "k": k, "k_reason": k_reason, "methods": how, "seconds": seconds,
                               "kind": "words" if rows.id_column == "term" else "documents"}
    if silhouettes:
        figures["silhouette"] = silhouettes
    if corpus is not None and rows.id_column == "doc_id":
        figures["agreement"] = agreement(labels, _labels_of(corpus, rows.ids), cfg.min_label_docs)
    return figures


# Readers (report, query) --------------------------------------------------------------------------------

def cut(artifact: Artifact, k: int | None = None, height: float | None = None) -> np.ndarray:
    """The hierarchical labels of every row at k clusters or at a height, from the stored tree."""
    links = artifact.read_table(LINKAGE).to_pandas()
    tree = links[["left", "right", "height", "size"]].to_numpy(dtype=np.float64)
    leaves = artifact.read_table(columns=[LEAF])[LEAF].to_numpy()
    return cut_linkage(tree, leaves, k=k, height=height)
