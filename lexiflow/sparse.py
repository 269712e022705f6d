"""Sparse document rows (`term_ids`, `values` lists) to and from scipy CSR matrices, vectorised, and the
(doc, term code) pairs of token lists that counting stages build them from.
"""

from __future__ import annotations

from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

ROW_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("term_ids", pa.list_(pa.int32())),
        pa.field("values", pa.list_(pa.float32())),
    ]
)


def _offsets(lists: pa.ListArray) -> np.ndarray:
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    start = lists.offsets.to_numpy()
    return (start - start[0]).astype(np.int64)


def unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys in ascending order and how often each occurs, by one sort and a diff.

    np.unique on numpy 2.4 hashes integer input and is ~70x slower than this on a million keys.
    """
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys, np.zeros(0, dtype=np.int64)
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return keys[starts], np.diff(starts, append=len(keys))


def to_csr(table: pa.Table | pa.RecordBatch, n_cols: int) -> sp.csr_matrix:
    """CSR matrix of a batch of sparse rows (row order kept, empty rows kept)."""
    ids = table.column("term_ids")
    vals = table.column("values")
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    vals = vals.combine_chunks() if isinstance(vals, pa.ChunkedArray) else vals
    indptr = _offsets(ids)
    indices = pc.list_flatten(ids).to_numpy(zero_copy_only=False).astype(np.int32)
    data = pc.list_flatten(vals).to_numpy(zero_copy_only=False).astype(np.float32)
    if len(indices) and int(indices.max()) >= n_cols:  # scipy would not check: products would read out of bounds
        raise ValueError(f"term id {int(indices.max())} is outside a vocabulary of {n_cols} terms: these rows were "
                         "made with another vocabulary")
    return sp.csr_matrix((data, indices, indptr), shape=(len(ids), n_cols))


def from_flat(
    doc_ids: pa.Array, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int
) -> pa.Table:
    """Sparse-row table from (row, col, value) triples sorted by row then col."""
    counts = np.bincount(rows, minlength=n_rows)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    term_ids = pa.ListArray.from_arrays(offsets, pa.array(cols.astype(np.int32)))
    vals = pa.ListArray.from_arrays(offsets, pa.array(values.astype(np.float32)))
    return pa.table([doc_ids, term_ids, vals], schema=ROW_SCHEMA)


EMPTY_EXAMPLES = 10


def row_figures(doc_ids: pa.Array | pa.ChunkedArray, term_ids: pa.ListArray | pa.ChunkedArray) -> dict:
    """Per-part figures of a sparse-row table: rows, non-zeros, and the empty rows flagged by id."""
    lengths = pc.list_value_length(term_ids).to_numpy(zero_copy_only=False)
    empty = doc_ids.filter(pa.array(lengths == 0))
    return {
        "rows": len(doc_ids),
        "nnz": int(lengths.sum()),
        "empty": len(empty),
        "empty_examples": empty.slice(0, EMPTY_EXAMPLES).to_pylist(),
    }


def summarize(results: list[dict]) -> dict:
    """Stage figures from the per-part ones: empty documents are counted and a few named, never dropped."""
    examples = [doc for r in results for doc in r["empty_examples"]][:EMPTY_EXAMPLES]
    return {
        "rows": sum(r["rows"] for r in results),
        "nnz": sum(r["nnz"] for r in results),
        "empty_docs": sum(r["empty"] for r in results),
        "empty_doc_examples": examples,
    }


@dataclass(frozen=True)
class TokenCodes:
    """Token lists as integer codes: token k is `terms[codes[k]]` in document `docs[k]` (docs ascending).

    `terms` may hold strings no token uses (a Parquet dictionary can); counts must not assume otherwise.
    """

    num_docs: int
    docs: np.ndarray
    codes: np.ndarray
    terms: pa.Array


def token_codes(lists: pa.ListArray | pa.ChunkedArray) -> TokenCodes:
    """Codes of list<string> or list<dictionary<string>> token lists, one code space for all chunks."""
    chunks = lists.chunks if isinstance(lists, pa.ChunkedArray) else [lists]
    docs, codes, dictionaries = [], [], []
    base_doc = base_code = 0
    for chunk in chunks:
        flat = chunk.flatten()
        if not pa.types.is_dictionary(flat.type):
            flat = pc.dictionary_encode(flat)
        docs.append(pc.list_parent_indices(chunk).to_numpy().astype(np.int64) + base_doc)
        codes.append(flat.indices.to_numpy(zero_copy_only=False).astype(np.int64) + base_code)
        dictionaries.append(flat.dictionary)
        base_doc += len(chunk)
        base_code += len(flat.dictionary)
    if not chunks:
        return TokenCodes(0, np.zeros(0, np.int64), np.zeros(0, np.int64), pa.array([], pa.string()))
    terms = pa.concat_arrays([d.cast(pa.string()) for d in dictionaries])
    all_codes = np.concatenate(codes)
    if len(dictionaries) > 1:  # the same string may sit in several chunk dictionaries: merge them
        merged = pc.dictionary_encode(terms)
        all_codes = merged.indices.to_numpy().astype(np.int64)[all_codes]
        terms = merged.dictionary
    return TokenCodes(base_doc, np.concatenate(docs), all_codes, terms)


def read_token_codes(path: str) -> tuple[pa.ChunkedArray, TokenCodes]:
    """doc_ids and token codes of a tokens part, decoded straight from its Parquet dictionary pages.

    Reading the strings and hashing them again costs about 3x more than taking Parquet's own dictionary.
    """
    fs, local = fsspec.core.url_to_fs(path)
    table = pq.read_table(local, filesystem=fs, columns=["doc_id", "tokens"], read_dictionary=["tokens.list.element"])
    return table["doc_id"], token_codes(table["tokens"])
