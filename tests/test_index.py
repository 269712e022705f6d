"""Index: FAISS top-k equals numpy brute-force cosine; k beyond the size; zero rows skipped; never -1."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from stage_util import run

from lexiflow.config import Config
from lexiflow.query import Index, QueryError
from lexiflow.store import Artifact, ArtifactStore
from tasks import index, lsa


def codes_artifact(store: ArtifactStore, codes: np.ndarray, key: str = "k") -> Artifact:
    """A published codes artifact (doc_id, code) written by hand, in two parts."""
    dim = codes.shape[1]
    schema = lsa.code_schema(dim)
    writer = store.writer("lsa", key)
    half = len(codes) // 2
    for i, (lo, hi) in enumerate([(0, half), (half, len(codes))]):
        flat = pa.array(codes[lo:hi].astype(np.float32).reshape(-1))
        ids = pa.array([f"doc{j}" for j in range(lo, hi)], pa.string())
        writer.write(f"parts/part-{i:05d}-0000.parquet",
                     pa.table([ids, pa.FixedSizeListArray.from_arrays(flat, dim)], schema=schema), schema)
    return store.publish(writer, {"stage": "lsa", "rows": len(codes), "schema_names": ["doc_id", "code"]})


def brute_force(codes: np.ndarray, query: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    norms = np.linalg.norm(codes, axis=1)
    keep = np.flatnonzero(norms > 0)
    scores = codes[keep] @ query / norms[keep] / np.linalg.norm(query)
    order = np.argsort(-scores, kind="stable")[:k]
    return [f"doc{keep[i]}" for i in order], scores[order]


def test_top_k_equals_numpy_cosine(store: ArtifactStore) -> None:
    rng = np.random.default_rng(3)
    codes = rng.standard_normal((500, 16))
    codes[[7, 250, 499]] = 0.0  # empty documents
    art = run(index, Config(index={"batch_rows": 64}), store, vectors=codes_artifact(store, codes))
    assert art.figures["rows"] == 497 and art.figures["zero_vectors_skipped"] == 3
    idx = Index(art)
    for q in rng.standard_normal((20, 16)):
        ids, scores = brute_force(codes, q, 10)
        hits = idx.search(q / np.linalg.norm(q), 10)
        assert [h[0] for h in hits] == ids
        np.testing.assert_allclose([h[1] for h in hits], scores, atol=1e-5)


def test_k_beyond_size_returns_what_exists_and_no_padding(store: ArtifactStore) -> None:
    codes = np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    art = run(index, Config(), store, vectors=codes_artifact(store, codes))
    hits = Index(art).search(np.array([1.0, 0.0]), 50)
    assert [h[0] for h in hits] == ["doc0", "doc2", "doc3"]
    assert len(hits) == 3  # no padding rows (faiss labels -1) reach the caller
    np.testing.assert_allclose([h[1] for h in hits], [1.0, 0.6, 0.0], atol=1e-6)


def test_all_zero_input_is_an_error(store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="no vectors"):
        run(index, Config(), store, vectors=codes_artifact(store, np.zeros((0, 4))))


def test_empty_index_says_so(store: ArtifactStore) -> None:
    art = run(index, Config(), store, vectors=codes_artifact(store, np.zeros((3, 4))))
    assert art.figures["rows"] == 0
    with pytest.raises(QueryError, match="empty"):
        Index(art).search(np.ones(4), 5)
