"""Bag-of-words exactly; TF-IDF equal to scikit-learn's TfidfVectorizer on the same tokens to 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from stage_util import SAMPLE, config, preprocess

from lexiflow.sparse import ROW_SCHEMA, to_csr
from lexiflow.store import ArtifactStore

TEXTS = ["a b a", "b c", "c c c d", "", "zzz"]  # vocab (min_count=2): c=0 a=1 b=2; zzz and d unknown


def test_exact_bag_of_words_and_empty_rows(store: ArtifactStore, tmp_path: Path) -> None:
    arts = preprocess(store, tmp_path, TEXTS, config(corpus={"partition_rows": 2}))
    table = arts["bow"].read_table()
    assert table.schema == ROW_SCHEMA
    assert table.to_pylist() == [
        {"doc_id": "d0", "term_ids": [1, 2], "values": [2.0, 1.0]},
        {"doc_id": "d1", "term_ids": [0, 2], "values": [1.0, 1.0]},
        {"doc_id": "d2", "term_ids": [0], "values": [3.0]},
        {"doc_id": "d3", "term_ids": [], "values": []},
        {"doc_id": "d4", "term_ids": [], "values": []},
    ]
    figures = arts["bow"].figures
    assert figures["rows"] == 5 and figures["nnz"] == 5
    assert figures["empty_docs"] == 2 and figures["empty_doc_examples"] == ["d3", "d4"]
    assert len(arts["bow"].parts()) == 3


def test_exact_tfidf_on_tiny_corpus(store: ArtifactStore, tmp_path: Path) -> None:
    arts = preprocess(store, tmp_path, TEXTS)
    idf = np.log(6 / np.array([3, 2, 3])) + 1  # smooth: n=5 docs, df c=2 a=1 b=2
    rows = arts["tfidf"].read_table().to_pylist()
    d0 = np.array([2 * idf[1], idf[2]])
    np.testing.assert_allclose(rows[0]["values"], d0 / np.linalg.norm(d0), rtol=1e-6)
    assert rows[0]["term_ids"] == [1, 2]
    np.testing.assert_allclose(rows[2]["values"], [1.0], rtol=1e-6)
    assert rows[3]["term_ids"] == [] and rows[4]["values"] == []
    assert arts["tfidf"].figures["empty_docs"] == 2
    idf_table = arts["tfidf"].read_table("idf.parquet")
    np.testing.assert_allclose(idf_table["idf"].to_numpy(), idf, rtol=1e-12)


def _ours(arts: dict) -> tuple[sp.csr_matrix, list[str]]:
    terms = arts["vocab"].read_table()["term"].to_pylist()
    return to_csr(arts["tfidf"].read_table(), len(terms)), terms


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    texts = pq.read_table(SAMPLE, columns=["text"])["text"].to_pylist()[:1500]
    return [*texts, "", "!!!"]  # two empty documents


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sublinear_tf": True},
        {"smooth_idf": False},
        {"norm": "l1"},
        {"norm": "none", "sublinear_tf": True, "smooth_idf": False},
    ],
)
def test_tfidf_equals_scikit_learn(
    store: ArtifactStore, tmp_path: Path, sample_texts: list[str], options: dict
) -> None:
    cfg = config(vocab={"min_count": 1}, tfidf=options, corpus={"partition_rows": 400})
    arts = preprocess(store, tmp_path, sample_texts, cfg)
    ours, terms = _ours(arts)
    docs = [r["tokens"] for r in arts["tokens"].read_table().to_pylist()]
    sk_options = {**options, "norm": None if options.get("norm") == "none" else options.get("norm", "l2")}
    vectorizer = TfidfVectorizer(analyzer=lambda doc: doc, dtype=np.float64, **sk_options)
    theirs = vectorizer.fit_transform(docs).tocsr()
    assert len(vectorizer.vocabulary_) == len(terms)
    order = np.array([vectorizer.vocabulary_[t] for t in terms])
    theirs = theirs[:, order]  # columns in our term_id order
    assert ours.shape == theirs.shape
    diff = abs(ours.astype(np.float64) - theirs)
    scale = 1.0 if options.get("norm") != "none" else max(abs(theirs).max(), 1.0)
    assert diff.max() / scale < 1e-6
    assert (ours != 0).nnz == theirs.nnz
    assert np.flatnonzero(np.diff(ours.indptr) == 0).tolist() == [len(docs) - 2, len(docs) - 1]
