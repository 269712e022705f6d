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
    """(hits at each k, AP, interpolated precision at each recall level) per query of a chunk."""
    order = np.argsort(-sims, axis=1, kind="stable")
    rel = db_labels[order] == q_labels[:, None]
    hits = np.cumsum(rel, axis=1, dtype=np.int64)
    n_rel = hits[:, -1].astype(np.float64)
    ranks = np.arange(1, rel.shape[1] + 1, dtype=np.float64)
    precision = hits / ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(n_rel > 0, (precision * rel).sum(axis=1) / n_rel, 0.0)
        recall = hits / n_rel[:, None]
    at_k = np.stack([hits[:, min(k, rel.shape[1]) - 1] / k for k in ks], axis=1)
    # Interpolated precision: best precision at this recall or beyond.
    best_after = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    curve = np.zeros((len(q_labels), len(RECALL_LEVELS)))
    for j, level in enumerate(RECALL_LEVELS):
        first = np.argmax(recall >= level - 1e-12, axis=1)
        reached = recall[np.arange(len(first)), first] >= level - 1e-12
        curve[:, j] = np.where(reached, best_after[np.arange(len(first)), first], 0.0)
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
