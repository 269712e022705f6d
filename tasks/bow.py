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
from lexiflow.sparse import (
    ROW_SCHEMA,
    TokenCodes,
    from_flat,
    read_token_codes,
    row_figures,
    summarize,
    token_codes,
    unique_counts,
)
from lexiflow.store import Artifact, ArtifactWriter, read_table, write_table

NAME = "bow"
VERSION = 1
SECTION = None
USES_DASK = True
SCHEMA = ROW_SCHEMA


def doc2bow(doc_ids: pa.Array, lists: pa.ListArray | pa.ChunkedArray | TokenCodes, terms: pa.Array) -> pa.Table:
    """Count in-vocabulary terms per document; out-of-vocabulary tokens are dropped."""
    tc = lists if isinstance(lists, TokenCodes) else token_codes(lists)
    # Look up each distinct token once, not every occurrence: -1 marks a term outside the vocab.
    term_ids = pc.fill_null(pc.index_in(tc.terms, value_set=terms), -1).to_numpy(zero_copy_only=False)
    ids = term_ids.astype(np.int64)[tc.codes]
    known = ids >= 0
    vocab_size = max(len(terms), 1)
    keys, counts = unique_counts(tc.docs[known] * vocab_size + ids[known])
    return from_flat(doc_ids, keys // vocab_size, keys % vocab_size, counts.astype(np.float32), tc.num_docs)


def bow_task(in_part: str, out_part: str, vocab_part: str) -> dict[str, Any]:
    terms = read_table(vocab_part, ["term"])["term"].combine_chunks()
    doc_ids, codes = read_token_codes(in_part)
    rows = doc2bow(doc_ids.combine_chunks(), codes, terms)
    write_table(out_part, rows, SCHEMA)
    return row_figures(rows["doc_id"], rows["term_ids"])


def build(cfg: None, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    vocab_part = vocab.parts()[0]
    calls = [(p, out.part_for(p), vocab_part) for p in tokens.parts()]
    return summarize(map_parts(bow_task, calls, "bow"))
