"""Hybrid document queries: LSA and exact TF-IDF candidates pooled and blended, checked against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lexiflow.config import QueryConfig
from lexiflow.query import QueryEngine
from lexiflow.sparse import to_csr
from lexiflow.store import ArtifactStore

QUERIES = ["web browser", "python library for machine learning", "font"]


def reference(engine: QueryEngine, text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """doc ids, LSA cosine and TF-IDF cosine of every document for a query, by dense numpy products."""
    codes = engine.artifacts["lsa"].read_table()
    ids = codes["doc_id"].to_pylist()
    mat = codes["code"].combine_chunks().flatten().to_numpy().reshape(len(ids), -1).astype(np.float64)
    lsa = mat @ engine.encode_text(text).astype(np.float64)
    tfidf_table = engine.artifacts["tfidf"].read_table()
    assert tfidf_table["doc_id"].to_pylist() == ids
    rows = to_csr(tfidf_table, len(engine._doc_side["terms"])).toarray()
    term_ids, weights = engine.query_weights(text)
    query = np.zeros(rows.shape[1])
    query[term_ids] = weights
    return ids, lsa, rows @ query


@pytest.mark.parametrize("text", QUERIES)
def test_full_pool_equals_the_blended_ranking_of_every_document(small_store: Path, text: str) -> None:
    engine = QueryEngine(ArtifactStore(str(small_store)), "default", QueryConfig(rerank=1000, rerank_weight=0.3))
    ids, lsa, exact = reference(engine, text)
    blended = 0.3 * lsa + 0.7 * exact
    hits = engine.docs(text, 10)
    order = np.argsort(-blended, kind="stable")[:10]
    np.testing.assert_allclose([h.score for h in hits], blended[order], atol=1e-5)
    assert [h.doc_id for h in hits][:3] == [ids[i] for i in order[:3]]


@pytest.mark.parametrize("text", QUERIES)
def test_small_pool_is_the_union_of_both_top_lists(small_store: Path, text: str) -> None:
    engine = QueryEngine(ArtifactStore(str(small_store)), "default", QueryConfig(rerank=5, rerank_weight=0.3))
    ids, lsa, exact = reference(engine, text)
    pool = {ids[i] for i in np.argsort(-lsa)[:5]} | {ids[i] for i in np.argsort(-exact)[:5] if exact[i] > 0}
    hits = engine.docs(text, 5)
    row = {d: i for i, d in enumerate(ids)}
    blended = {d: 0.3 * lsa[row[d]] + 0.7 * exact[row[d]] for d in pool}
    expected = sorted(pool, key=lambda d: -blended[d])[:5]
    assert [h.doc_id for h in hits] == expected
    np.testing.assert_allclose([h.score for h in hits], [blended[d] for d in expected], atol=1e-5)
