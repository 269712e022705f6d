"""Bag-of-words: each document's term ids (vocab order) with their counts, one part per tokens part.

Rows stay in corpus order and documents with no in-vocabulary term stay as empty rows; the manifest
counts them and names a few, so nothing disappears silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.parallel import map_parts
from lexiflow.sparse import ROW_SCHEMA, from_flat, row_figures, summarize, unique_counts
from lexiflow.store import Artifact, ArtifactWriter, read_table, write_table

NAME = "bow"
VERSION = 1
SECTION = None
USES_DASK = True
SCHEMA = ROW_SCHEMA


def doc2bow(doc_ids: pa.Array, lists: pa.ListArray, terms: pa.Array) -> pa.Table:
    """Count in-vocabulary terms per document; out-of-vocabulary tokens are dropped."""
    n = len(lists)
    flat = pc.list_flatten(lists)
    ids = pc.index_in(flat, value_set=terms).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    known = ~np.isnan(ids) if ids.dtype.kind == "f" else np.ones(len(ids), bool)
    ids = np.nan_to_num(ids).astype(np.int64)[known]
    vocab_size = max(len(terms), 1)
    keys, counts = unique_counts(parents[known] * vocab_size + ids)
    return from_flat(doc_ids, keys // vocab_size, keys % vocab_size, counts.astype(np.float32), n)


def bow_task(in_part: str, out_part: str, vocab_part: str) -> dict[str, Any]:
    terms = read_table(vocab_part, ["term"])["term"].combine_chunks()
    table = read_table(in_part, ["doc_id", "tokens"])
    rows = doc2bow(table["doc_id"].combine_chunks(), table["tokens"].combine_chunks(), terms)
    write_table(out_part, rows, SCHEMA)
    return row_figures(rows["doc_id"], rows["term_ids"])


def build(cfg: None, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    vocab_part = vocab.parts()[0]
    calls = [(p, out.part_for(p), vocab_part) for p in tokens.parts()]
    return summarize(map_parts(bow_task, calls, "bow"))
