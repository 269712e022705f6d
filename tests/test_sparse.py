"""lexiflow.sparse helpers: sort-based unique counts, token codes across chunks and Parquet row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lexiflow.sparse import from_flat, read_token_codes, to_csr, token_codes, unique_counts
from tasks.bow import doc2bow
from tasks.tokens import SCHEMA as TOKENS_SCHEMA
from tasks.vocab import count_terms

LISTS = [["b", "a", "b"], [], ["c"], ["a", "d", "d", "a"], ["b"], [], ["e", "a"]]


def test_unique_counts_equals_numpy() -> None:
    keys = np.random.default_rng(0).integers(0, 50, 1000)
    expected = np.unique(keys, return_counts=True)
    got = unique_counts(keys)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    empty = unique_counts(np.zeros(0, np.int64))
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_token_codes_merge_chunk_dictionaries() -> None:
    chunked = pa.chunked_array([pa.array(LISTS[:3], pa.list_(pa.string())), pa.array(LISTS[3:], pa.list_(pa.string()))])
    tc = token_codes(chunked)
    assert tc.num_docs == len(LISTS)
    terms = tc.terms.to_pylist()
    assert len(set(terms)) == len(terms)
    assert [terms[c] for c in tc.codes] == [t for doc in LISTS for t in doc]
    assert tc.docs.tolist() == [i for i, doc in enumerate(LISTS) for _ in doc]


def test_read_token_codes_over_row_groups_matches_strings(tmp_path: Path) -> None:
    path = tmp_path / "tokens.parquet"
    ids = pa.array([f"d{i}" for i in range(len(LISTS))])
    table = pa.table([ids, pa.array(LISTS, pa.list_(pa.string()))], schema=TOKENS_SCHEMA)
    pq.write_table(table, path, row_group_size=2)
    assert pq.read_metadata(path).num_row_groups == 4
    doc_ids, tc = read_token_codes(str(path))
    assert doc_ids.to_pylist() == ids.to_pylist()
    plain = table["tokens"].combine_chunks()
    assert count_terms(tc).sort_by("term").to_pylist() == count_terms(plain).sort_by("term").to_pylist()
    vocab_terms = pa.array(["a", "b", "e"])
    assert doc2bow(ids, tc, vocab_terms).to_pylist() == doc2bow(ids, plain, vocab_terms).to_pylist()
    assert doc2bow(ids, tc, vocab_terms)["term_ids"].to_pylist() == [[0, 1], [], [], [0], [1], [], [0, 2]]


def test_from_flat_to_csr_round_trip() -> None:
    rows, cols, vals = np.array([0, 0, 2]), np.array([1, 3, 0]), np.array([1.0, 2.0, 3.0])
    table = from_flat(pa.array(["x", "y", "z"]), rows, cols, vals, 3)
    assert table["term_ids"].to_pylist() == [[1, 3], [], [0]]
    dense = to_csr(table, 4).toarray()
    np.testing.assert_array_equal(dense, [[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]])
