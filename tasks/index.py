"""FAISS index over a vector artifact (document codes or word vectors), cosine by inner product.

The index kind is a name (flat, hnsw, ivf, ivfpq), a faiss factory string, or `auto`, which picks from the
number of vectors and `index.memory_mb`: exact search while it is cheap, HNSW while its graph fits in
memory, IVF beyond, IVF-PQ when even the raw vectors do not fit; it never trains IVF or PQ on fewer than
39 points per centroid (it shrinks the list count, or falls back to flat). After building, the stage
measures recall@10 against exact search on a sample of the indexed vectors and the search latency, and
raises nprobe / efSearch until recall reaches `index.min_recall`; the parameters it settled on are saved
with the index, so the query path searches exactly as measured. The vectors stream from Parquet in
batches; exact neighbours of the sample queries are merged batch by batch, so no second copy is held.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lexiflow.config import IndexConfig
from lexiflow.idindex import IDS_FILE, INDEX_FILE, META_FILE, IdIndex, check_vectors
from lexiflow.parallel import Progress
from lexiflow.store import Artifact, ArtifactWriter

log = logging.getLogger(__name__)

NAME = "index"
VERSION = 3
SECTION = "index"
USES_DASK = False
MIN_POINTS_PER_LIST = 39     # faiss warns below this many training points per centroid
MIN_NLIST = 16               # fewer lists than this is not worth an IVF: search everything
POINTS_PER_LIST_TRAIN = 64   # k-means sample per list: enough for the lists (faiss wants >= 39), and the
                             # training cost (sample x lists) stays linear in n as lists grow with sqrt(n)
PQ_CENTROIDS = 256           # 8-bit PQ sub-quantizers
LADDER_MAX = 4096            # largest nprobe / efSearch tried when raising recall
RECALL_K = 10
MAX_TRAIN = 262_144          # training sample cap for factory strings we cannot size
__all__ = ["IDS_FILE", "INDEX_FILE", "META_FILE", "Choice", "Exact", "build", "choose", "columns_of", "recall_at_k",
           "update", "vector_batches"]


def columns_of(vectors: Artifact) -> tuple[str, str]:
    """(id column, vector column) of a codes or word-vector artifact."""
    names = vectors.manifest.get("schema_names") or []
    return ("term", "vector") if "term" in names else ("doc_id", "code")


@dataclass
class Choice:
    """An index kind resolved to a factory string, why it was chosen, and its starting search parameters."""

    factory: str
    reason: str
    params: dict[str, int] = field(default_factory=dict)
    train_points: int = 0


def nlist_for(n: int, wanted: int | None = None) -> int:
    """IVF list count: ~4·sqrt(n) as a power of two, shrunk (to a power of two) until each list trains on
    >= 39 points."""
    nlist = wanted or 2 ** max(0, round(math.log2(4 * math.sqrt(max(n, 1)))))
    most = n // MIN_POINTS_PER_LIST
    if nlist > most:
        nlist = 2 ** int(math.log2(most)) if most >= 1 else 0
    return max(1, nlist)


def pq_m_for(dim: int, wanted: int | None = None) -> int:
    """PQ sub-quantizer count: a divisor of dim giving 4-dimensional sub-vectors or as close as there is."""
    if wanted:
        if dim % wanted:
            raise ValueError(f"index.pq_m={wanted} must divide the vector dimension {dim}")
        return wanted
    return max((m for m in range(1, dim + 1) if dim % m == 0 and dim // m >= 4), default=1)


def _ivf_start(nlist: int, cfg: IndexConfig) -> dict[str, int]:
    return {"nprobe": min(cfg.nprobe or max(1, nlist // 64), nlist)}


def choose(n: int, dim: int, cfg: IndexConfig) -> Choice:
    """Resolve `index.kind` for n vectors of dimension dim."""
    kind = cfg.kind.strip()
    budget = cfg.memory_mb * 2**20
    raw = n * dim * 4
    hnsw_bytes = n * (dim * 4 + cfg.hnsw_m * 2 * 8)
    hnsw = Choice(f"HNSW{cfg.hnsw_m},Flat", "", {"efSearch": cfg.ef_search or 64})
    if kind == "flat":
        return Choice("Flat", "index.kind=flat")
    if kind == "hnsw":
        hnsw.reason = "index.kind=hnsw"
        return hnsw
    if kind in ("ivf", "ivfpq"):
        nlist = nlist_for(n, cfg.nlist)
        if nlist < MIN_NLIST:
            return Choice("Flat", f"index.kind={kind} but {n} vectors allow only {nlist} lists "
                                  f"(>= {MIN_POINTS_PER_LIST} training points each); exact search instead")
        if kind == "ivf":
            return Choice(f"IVF{nlist},Flat", f"index.kind=ivf, {nlist} lists for {n} vectors",
                          _ivf_start(nlist, cfg), min(n, nlist * POINTS_PER_LIST_TRAIN))
        if n < PQ_CENTROIDS * MIN_POINTS_PER_LIST:
            return Choice(f"IVF{nlist},Flat", f"index.kind=ivfpq but {n} vectors are too few to train "
                                              f"{PQ_CENTROIDS}-centroid PQ; IVF without PQ instead",
                          _ivf_start(nlist, cfg), min(n, nlist * POINTS_PER_LIST_TRAIN))
        m = pq_m_for(dim, cfg.pq_m)
        return Choice(f"IVF{nlist},PQ{m}x8", f"index.kind=ivfpq, {nlist} lists, {m} sub-quantizers",
                      _ivf_start(nlist, cfg),
                      min(n, max(nlist, PQ_CENTROIDS) * POINTS_PER_LIST_TRAIN))
    if kind != "auto":
        params: dict[str, int] = {}
        if "IVF" in kind:
            params["nprobe"] = cfg.nprobe or 8
        if "HNSW" in kind:
            params["efSearch"] = cfg.ef_search or 64
        return Choice(kind, f"index.kind={kind!r} (faiss factory string)", params, min(n, MAX_TRAIN))
    if n <= cfg.flat_max:
        return Choice("Flat", f"auto: {n} vectors <= index.flat_max={cfg.flat_max}: exact search")
    if hnsw_bytes <= budget:
        hnsw.reason = (f"auto: {n} vectors > flat_max; HNSW graph ~{hnsw_bytes / 2**20:.0f} MiB fits "
                       f"index.memory_mb={cfg.memory_mb}")
        return hnsw
    nlist = nlist_for(n, cfg.nlist)
    if raw <= budget:
        return Choice(f"IVF{nlist},Flat", f"auto: HNSW ~{hnsw_bytes / 2**20:.0f} MiB exceeds "
                                          f"index.memory_mb={cfg.memory_mb}; raw vectors fit: IVF, {nlist} lists",
                      _ivf_start(nlist, cfg), min(n, nlist * POINTS_PER_LIST_TRAIN))
    m = pq_m_for(dim, cfg.pq_m)
    return Choice(f"IVF{nlist},PQ{m}x8", f"auto: raw vectors ~{raw / 2**20:.0f} MiB exceed "
                                         f"index.memory_mb={cfg.memory_mb}: IVF-PQ, {nlist} lists, {m} bytes/vector",
                  _ivf_start(nlist, cfg), min(n, max(nlist, PQ_CENTROIDS) * POINTS_PER_LIST_TRAIN))


@dataclass(frozen=True)
class Exact:
    """A query's exact top-k ids (ties at the k-th score included) and that k-th score."""

    ids: set[str]
    kth: float


TIE = 1e-5  # scores this close to the k-th exact score are ties


def recall_at_k(found: list[list[tuple[str, float]]], exact: list[Exact], k: int = RECALL_K,
                exact_scores: bool = False) -> float:
    """Mean share of each query's approximate top-k that belongs in its exact top-k.

    A hit belongs when its id is among the exact top-k or ties with it; with `exact_scores` (the index
    returns true cosines: flat, HNSW and IVF without compression) a hit scoring at least the k-th exact
    score - TIE also belongs, so a corpus with more identical vectors than the exact list keeps cannot
    lower the recall of an exact search.
    """
    if not found:
        return 1.0
    shares = []
    for hits, ex in zip(found, exact, strict=True):
        good = sum(1 for i, s in hits[:k] if i in ex.ids or (exact_scores and s >= ex.kth - TIE))
        shares.append(min(good, k) / max(1, min(k, len(ex.ids))))
    return float(np.mean(shares))


class ExactNeighbours:
    """Exact top-(k+extra) of a few query vectors, merged over streamed batches (ties at the k-th kept)."""

    def __init__(self, queries: np.ndarray, query_ids: list[str], k: int, extra: int = 10) -> None:
        self.queries, self.query_ids, self.k = queries, query_ids, k
        self.keep = k + 1 + extra  # +1: the query itself is in the index and is left out
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.ids = np.empty((len(queries), 0), dtype=object)

    def add(self, ids: list[str], mat: np.ndarray) -> None:
        if len(ids) == 0 or len(self.queries) == 0:
            return
        sims = self.queries @ mat.T
        take = min(self.keep, sims.shape[1])
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        id_arr = np.asarray(ids, dtype=object)
        scores = np.concatenate([self.scores, np.take_along_axis(sims, top, axis=1)], axis=1)
        names = np.concatenate([self.ids, id_arr[top]], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.keep]
        self.scores, self.ids = np.take_along_axis(scores, order, axis=1), np.take_along_axis(names, order, axis=1)

    def result(self) -> list[Exact]:
        out = []
        for qid, row_s, row_i in zip(self.query_ids, self.scores, self.ids, strict=True):
            pairs = [(s, i) for s, i in zip(row_s.tolist(), row_i.tolist(), strict=True) if i != qid]
            if not pairs:
                out.append(Exact(set(), float("inf")))
                continue
            kth = pairs[min(self.k, len(pairs)) - 1][0]
            out.append(Exact({i for s, i in pairs if s >= kth - TIE}, kth))
        return out


def vector_batches(vectors: Artifact, cfg: IndexConfig) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, vectors) of a vector artifact, `cfg.batch_rows` rows at a time."""
    id_col, vec_col = columns_of(vectors)
    for batch in vectors.iter_batches([id_col, vec_col], batch_rows=cfg.batch_rows):
        column = batch.column(vec_col)
        dim = column.type.list_size
        yield batch.column(id_col).cast("string").to_pylist(), column.flatten().to_numpy().reshape(-1, dim)


def _sample(vectors: Artifact, cfg: IndexConfig, n: int, n_train: int, n_query: int
            ) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """One pass: a training sample and a query sample (random rows, seeded)."""
    rng = np.random.default_rng(cfg.seed)
    train_rows = rng.choice(n, size=min(n_train, n), replace=False) if n_train else np.zeros(0, np.int64)
    query_rows = rng.choice(n, size=min(n_query, n), replace=False)
    dim, start = 0, 0
    t_ids: list[str] = []
    q_ids: list[str] = []
    t_vecs: list[np.ndarray] = []
    q_vecs: list[np.ndarray] = []
    for ids, mat in vector_batches(vectors, cfg):
        dim = mat.shape[1]
        local = np.arange(start, start + len(ids))
        for rows, out_ids, out_vecs in ((train_rows, t_ids, t_vecs), (query_rows, q_ids, q_vecs)):
            pick = np.flatnonzero(np.isin(local, rows))
            out_ids.extend(ids[i] for i in pick.tolist())
            out_vecs.append(mat[pick])
        start += len(ids)
    empty = np.zeros((0, dim), np.float32)
    return (t_ids, np.concatenate(t_vecs) if t_vecs else empty, q_ids,
            np.concatenate(q_vecs) if q_vecs else empty)


def _measure(index: IdIndex, queries: np.ndarray, query_ids: list[str], exact: list[Exact]
             ) -> tuple[float, float]:
    """(recall@10, queries/s for the sample searched as one batch), the query's own id left out."""
    started = time.perf_counter()
    found = index.search(queries, RECALL_K + 1) if len(queries) else []
    seconds = time.perf_counter() - started
    found = [[h for h in hits if h[0] != qid][:RECALL_K] for hits, qid in zip(found, query_ids, strict=True)]
    return (recall_at_k(found, exact, exact_scores=true_cosines(index.factory)),
            len(queries) / seconds if seconds > 0 else float("inf"))


def true_cosines(factory: str) -> bool:
    """Whether the index returns exact cosines (no compressed codes): flat storage in every part."""
    return factory == "Flat" or (factory.endswith(",Flat") and "PQ" not in factory and "SQ" not in factory)


def _latency_ms(index: IdIndex, queries: np.ndarray, count: int = 100) -> float:
    """Median single-query latency in milliseconds, as the service searches (one query at a time)."""
    times = []
    for row in queries[:count]:
        started = time.perf_counter()
        index.search(row, RECALL_K)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000) if times else 0.0


def tune(index: IdIndex, queries: np.ndarray, query_ids: list[str], exact: list[Exact], min_recall: float
         ) -> tuple[float, float, list[dict[str, Any]]]:
    """Raise nprobe / efSearch (doubling) until recall@10 >= min_recall; (recall, q/s, trail of tries)."""
    name = next(iter(index.params), None)
    trail: list[dict[str, Any]] = []
    while True:
        recall, qps = _measure(index, queries, query_ids, exact)
        trail.append({**index.params, "recall": round(recall, 4), "qps": round(qps, 1)})
        log.info("index %s %s: recall@10 %.4f, %.0f q/s", index.factory, index.params, recall, qps)
        if recall >= min_recall or name is None:
            return recall, qps, trail
        value = int(index.params[name])
        limit = LADDER_MAX
        if name == "nprobe":
            import faiss

            limit = min(limit, faiss.extract_index_ivf(index.base).nlist)
        if value >= limit:
            return recall, qps, trail
        index.set_params({name: min(value * 2, limit)})


def _fill(choice: Choice, dim: int, vectors: Artifact, cfg: IndexConfig, t_ids: list[str], t_vecs: np.ndarray,
          exact: ExactNeighbours | None) -> tuple[IdIndex, list[str], dict[str, float]]:
    timings: dict[str, float] = {}
    index = IdIndex.create(dim, choice.factory, choice.params)
    started = time.perf_counter()
    if not index.is_trained:
        _, train, _ = check_vectors(t_ids, t_vecs, dim)
        if len(train) < MIN_POINTS_PER_LIST:
            raise ValueError(f"index {choice.factory!r}: only {len(train)} non-zero training vectors")
        index.train(train)
    timings["train_seconds"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    zero: list[str] = []
    progress = Progress(f"index add ({choice.factory})", vectors.num_rows, unit="vectors")
    for ids, mat in vector_batches(vectors, cfg):
        report = index.add(ids, mat)
        progress.update(parts=len(ids), rows=len(ids))
        zero.extend(report.zero)
        if exact is not None:
            kept, normed, _ = check_vectors(ids, mat, dim)
            exact.add(kept, normed)
    timings["add_seconds"] = round(time.perf_counter() - started, 3)
    return index, zero, timings


def build(cfg: IndexConfig, out: ArtifactWriter, *, vectors: Artifact) -> dict[str, Any]:
    n = vectors.num_rows
    if n == 0:
        raise ValueError(f"{out.stage}: input {vectors.stage}/{vectors.key} has no vectors to index")
    started = time.perf_counter()
    dim = next(vector_batches(vectors, cfg))[1].shape[1]
    choice = choose(n, dim, cfg)
    t_ids, t_vecs, q_ids, q_vecs = _sample(vectors, cfg, n, choice.train_points, cfg.recall_queries)
    q_ids, queries, _ = check_vectors(q_ids, q_vecs, dim)
    log.info("%s: %d vectors of dim %d -> %s (%s)", out.stage, n, dim, choice.factory, choice.reason)
    exact = ExactNeighbours(queries, q_ids, RECALL_K)
    index, zero, timings = _fill(choice, dim, vectors, cfg, t_ids, t_vecs, exact)
    exact_sets = exact.result()
    recall, qps, trail = tune(index, queries, q_ids, exact_sets, cfg.min_recall)
    fallback = None
    if recall < cfg.min_recall and cfg.kind == "auto" and choice.factory != "Flat":
        fallback = (f"{choice.factory} reached recall@10 {recall:.3f} at {index.params} < "
                    f"index.min_recall={cfg.min_recall}; auto falls back to exact search")
        log.warning("%s: %s", out.stage, fallback)
        choice = Choice("Flat", f"{choice.reason}; then {fallback}")
        index, zero, more = _fill(choice, dim, vectors, cfg, [], t_vecs[:0], None)
        timings = {k: timings[k] + more[k] for k in timings}
        recall, qps, more_trail = tune(index, queries, q_ids, exact_sets, cfg.min_recall)
        trail += more_trail
    if recall < cfg.min_recall:
        raise ValueError(
            f"{out.stage}: index {choice.factory!r} reached recall@10 {recall:.4f} < index.min_recall="
            f"{cfg.min_recall} with search parameters {index.params} (the most tried); tries: {trail}. "
            "Use more lists / a larger M, kind=flat, or lower index.min_recall")
    folder = os.path.dirname(out.local_path(INDEX_FILE))
    index.save(folder)
    if zero:
        log.info("%s: %d all-zero vectors left out (e.g. %s)", out.stage, len(zero), zero[:5])
    return {
        "rows": index.size, "dim": dim, "metric": "cosine", "kind": cfg.kind, "factory": choice.factory,
        "reason": choice.reason, "fallback": fallback, "params": dict(index.params),
        "recall_at_10": round(recall, 4), "recall_queries": len(queries), "min_recall": cfg.min_recall,
        "queries_per_second": round(qps, 1), "latency_ms_p50": round(_latency_ms(index, queries), 4),
        "tuning": trail, "memory_bytes": os.path.getsize(os.path.join(folder, INDEX_FILE)),
        "zero_vectors_skipped": len(zero), "zero_ids": zero[:20],
        "build_seconds": round(time.perf_counter() - started, 3), **timings,
    }


def update(base: Artifact, out: ArtifactWriter, batches: Iterable[tuple[list[str], Any]],
           deleted: list[str] | None = None) -> dict[str, Any]:
    """An index artifact's content plus new or changed vectors, minus deleted ids, without rebuilding.

    For an incremental retrain: surviving ids keep their labels, new and changed ids get fresh ones, the
    trained quantizers and the tuned search parameters are kept as they are (recall is not re-measured;
    a full build does that). `batches` yields (ids, vectors); written into `out` for the store to publish.
    """
    started = time.perf_counter()
    index = IdIndex.load(base.url)
    removed = index.delete([i for i in (deleted or []) if i in index])
    added = replaced = 0
    zero: list[str] = []
    for ids, vectors in batches:
        present = sum(1 for i in ids if i in index)
        report = index.replace(ids, vectors)
        added += len(report.added) - present
        replaced += present
        zero.extend(report.zero)
    index.save(os.path.dirname(out.local_path(INDEX_FILE)))
    return {"rows": index.size, "dim": index.dim, "metric": "cosine", "factory": index.factory,
            "params": dict(index.params), "base": base.key, "added": added, "replaced": replaced,
            "deleted": removed, "zero_vectors_skipped": len(zero), "zero_ids": zero[:20],
            "tombstones": len(index.tombstones), "seconds": round(time.perf_counter() - started, 3)}

