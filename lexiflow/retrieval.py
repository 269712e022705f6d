"""Ranked-retrieval measures with labels as relevance: precision at k, average precision, precision-recall.

A query's relevant documents are the database documents with its label. Every query ranks the whole
database by a similarity (cosine of codes, or of full TF-IDF vectors); ties keep database order. Queries
are processed in chunks so memory stays at chunk x database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KS = (1, 10, 100)
# Recall levels of the classic plots (log-scaled recall axis), ending at full recall.
RECALL_LEVELS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
CHUNK = 128


@dataclass
class RetrievalResult:
    """Means over queries of P@k and AP, label-macro MAP, and interpolated precision at RECALL_LEVELS."""

    precision_at: dict[int, float]
    mean_ap: float
    macro_map: float
    pr_curve: list[float]
    queries: int
    per_query_ap: np.ndarray = field(repr=False)

    def row(self) -> dict[str, float]:
        return {**{f"P@{k}": round(v, 4) for k, v in self.precision_at.items()},
                "MAP": round(self.mean_ap, 4), "macro MAP": round(self.macro_map, 4)}


def _chunk_measures(sims: np.ndarray, q_labels: np.ndarray, db_labels: np.ndarray,
                    ks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P@k, AP, interpolated precision at each recall level) per query of a chunk.

    Only the ranks of the relevant documents matter: each is found by binary search in the row's sorted
    scores (a value sort, cheaper than an argsort), ties counted in the document's favour. AP and the
    interpolated precision (best precision at this recall or beyond, reached at a relevant rank) follow.
    """
    neg = -sims
    ordered = np.sort(neg, axis=1)
    members = {lab: np.flatnonzero(db_labels == lab) for lab in np.unique(q_labels)}
    levels = np.asarray(RECALL_LEVELS)
    at_k = np.zeros((len(q_labels), len(ks)))
    ap = np.zeros(len(q_labels))
    curve = np.zeros((len(q_labels), len(RECALL_LEVELS)))
    for i, lab in enumerate(q_labels):
        idx = members[lab]
        if len(idx) == 0:
            continue
        scores = np.sort(neg[i, idx])
        r = np.searchsorted(ordered[i], scores, side="left")
        r += np.arange(len(r)) - np.searchsorted(scores, scores, side="left")  # tied relevant docs: next ranks
        at_k[i] = [np.count_nonzero(r < k) / k for k in ks]
        precision = np.arange(1, len(r) + 1) / (r + 1.0)
        ap[i] = precision.mean()
        best_after = np.maximum.accumulate(precision[::-1])[::-1]
        first = np.ceil(levels * len(r) - 1e-9).astype(np.int64) - 1  # first hit whose recall reaches the level
        curve[i] = best_after[np.clip(first, 0, len(r) - 1)]
    return at_k, ap, curve


def evaluate(similarity: Callable[[slice], np.ndarray], q_labels: np.ndarray, db_labels: np.ndarray,
             ks: tuple[int, ...] = KS) -> RetrievalResult:
    """Measures for queries whose similarity rows (query chunk x database) `similarity(slice)` returns."""
    if len(q_labels) == 0 or len(db_labels) == 0:
        raise ValueError("retrieval evaluation needs at least one query and one database document")
    at_k, ap, curve = [], [], []
    for start in range(0, len(q_labels), CHUNK):
        part = slice(start, min(start + CHUNK, len(q_labels)))
        a, b, c = _chunk_measures(np.asarray(similarity(part), dtype=np.float32), q_labels[part], db_labels, ks)
        at_k.append(a)
        ap.append(b)
        curve.append(c)
    at_k_all, ap_all, curve_all = np.concatenate(at_k), np.concatenate(ap), np.concatenate(curve)
    macro = float(np.mean([ap_all[q_labels == lab].mean() for lab in np.unique(q_labels)]))
    return RetrievalResult(
        precision_at={k: float(at_k_all[:, i].mean()) for i, k in enumerate(ks)},
        mean_ap=float(ap_all.mean()), macro_map=macro, pr_curve=curve_all.mean(axis=0).tolist(),
        queries=len(q_labels), per_query_ap=ap_all,
    )


def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def cosine_of(queries: np.ndarray, database: np.ndarray) -> Callable[[slice], np.ndarray]:
    """Similarity callback for dense codes (cosine; a zero code scores 0 against everything)."""
    q, db = unit_rows(queries.astype(np.float32)), unit_rows(database.astype(np.float32))
    return lambda part: q[part] @ db.T
