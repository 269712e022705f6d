"""LSA: streamed randomized SVD agrees with scipy's exact truncated SVD; codes are unit rows of A V."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.sparse.linalg import svds
from stage_util import SAMPLE, config, preprocess, run

from lexiflow.sparse import to_csr
from lexiflow.store import ArtifactStore
from tasks import lsa

DIM = 20


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("lsa")
    store = ArtifactStore(str(tmp / "store"))
    texts = [*pq.read_table(SAMPLE, columns=["text"])["text"].to_pylist()[:2000], ""]
    cfg = config(lsa={"dim": DIM, "batch_rows": 500}, corpus={"partition_rows": 700})
    arts = preprocess(store, tmp, texts, cfg)
    arts["lsa"] = run(lsa, cfg, store, tfidf=arts["tfidf"], vocab=arts["vocab"])
    return arts


def test_singular_values_agree_with_scipy(built: dict) -> None:
    n_terms = built["vocab"].num_rows
    a = to_csr(built["tfidf"].read_table(), n_terms).astype(np.float64)
    exact = np.sort(svds(a, k=DIM, random_state=0, tol=1e-10)[1])[::-1]
    from safetensors.numpy import load_file

    ours = load_file(built["lsa"].file(lsa.PROJECTION))["singular_values"].astype(np.float64)
    assert ours.shape == (DIM,)
    # Randomized subspace iteration (oversample 16, 4 power passes): the top values are near-exact, the
    # tail a little low; stated tolerance 1e-3 relative for the top half, 2e-2 for all 20.
    rel = np.abs(ours - exact) / exact
    assert rel[: DIM // 2].max() < 1e-3, rel
    assert rel.max() < 2e-2, rel
    assert np.all(np.diff(ours) <= 1e-6)  # descending


def test_components_are_orthonormal(built: dict) -> None:
    v = lsa.load_projection(built["lsa"]).astype(np.float64)
    np.testing.assert_allclose(v.T @ v, np.eye(DIM), atol=1e-5)


def test_codes_are_unit_rows_of_a_v(built: dict) -> None:
    n_terms = built["vocab"].num_rows
    table = built["lsa"].read_table()
    dim = table.schema.field("code").type.list_size
    assert dim == DIM
    codes = table["code"].combine_chunks().flatten().to_numpy().reshape(-1, dim)
    assert table["doc_id"].to_pylist() == built["tfidf"].read_table()["doc_id"].to_pylist()
    norms = np.linalg.norm(codes, axis=1)
    empty = len(codes) - 1
    np.testing.assert_allclose(np.delete(norms, empty), 1.0, atol=1e-5)
    assert norms[empty] == 0.0 and built["lsa"].figures["zero_codes"] == 1
    a = to_csr(built["tfidf"].read_table(), n_terms).astype(np.float64)
    expected = a @ lsa.load_projection(built["lsa"]).astype(np.float64)
    expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-300)
    np.testing.assert_allclose(codes, expected, atol=1e-5)
