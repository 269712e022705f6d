"""Word-vector artifacts (`term_id, term, vector`), shared by every embedding stage and their readers.

Writers refuse non-finite vectors, so a diverged trainer fails its stage instead of publishing NaNs.
Rows are in vocab `term_id` order, which is frequency order: "the 30k most frequent" is a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lexiflow.store import Artifact, ArtifactWriter

PART = "parts/part-00000-0000.parquet"


def vector_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("term_id", pa.int32(), nullable=False),
            pa.field("term", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def write_vectors(out: ArtifactWriter, term_ids: pa.Array | np.ndarray, terms: pa.Array | list[str],
                  vectors: np.ndarray, stage: str) -> None:
    """Write a vector artifact's one part; raises before writing anything if a vector is not finite."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise FloatingPointError(
            f"{stage}: {int(bad.sum())} of {len(vectors)} vectors are not finite (first: row {int(np.argmax(bad))}); "
            "nothing was published — lower the learning rate"
        )
    dim = vectors.shape[1]
    schema = vector_schema(dim)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    out.write(PART, pa.table([pa.array(term_ids, pa.int32()), pa.array(terms, pa.string()), column], schema=schema),
              schema)


@dataclass(frozen=True)
class WordVectors:
    """A vector artifact in memory: terms in frequency order and their float32 matrix."""

    terms: list[str]
    vectors: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_vectors(artifact: Artifact) -> WordVectors:
    table = artifact.read_table().sort_by("term_id")
    column = table["vector"].combine_chunks()
    dim = column.type.list_size
    vectors = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)
    return WordVectors(table["term"].to_pylist(), vectors)


@dataclass(frozen=True)
class Rows:
    """Any vector artifact as one matrix: document codes (`doc_id, code`) or word vectors (`term, vector`)."""

    id_column: str
    ids: pa.Array
    matrix: np.ndarray


def load_rows(artifact: Artifact, limit: int | None = None) -> Rows:
    """The ids and float32 matrix of a codes or word-vector artifact, in stored order (frequency order for
    words, so `limit` keeps the most frequent); `limit` stops reading early."""
    names = artifact.manifest.get("schema_names") or []
    id_column, vector_column = ("term", "vector") if "term" in names else ("doc_id", "code")
    ids, blocks, seen = [], [], 0
    for batch in artifact.iter_batches([id_column, vector_column]):
        column = batch.column(vector_column)
        dim = column.type.list_size
        blocks.append(column.values.to_numpy(zero_copy_only=False).reshape(-1, dim))
        ids.append(batch.column(id_column))
        seen += batch.num_rows
        if limit is not None and seen >= limit:
            break
    if not blocks:
        raise ValueError(f"{artifact.stage}/{artifact.key}: no vectors to read")
    matrix = np.ascontiguousarray(np.concatenate(blocks)[:limit], dtype=np.float32)
    return Rows(id_column, pa.concat_arrays(ids)[: len(matrix)], matrix)
