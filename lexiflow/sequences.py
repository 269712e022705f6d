"""Token lists to in-vocabulary term-id sequences, the input of the window-based stages (cooc, nnlm).

Out-of-vocabulary tokens are removed before windows are taken, as Stanford GloVe's `cooccur` and
word2vec do: distances count in-vocabulary words only. Document boundaries are kept as offsets so a
window never crosses from one document into the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.store import Artifact


@dataclass(frozen=True)
class IdBatch:
    """Flat term ids of a batch of documents and where each document starts (`offsets[-1] == len(ids)`)."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64, one more than documents

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    def doc_index(self) -> np.ndarray:
        """The document of every position (int64), for the same-document test of a window pair."""
        return np.repeat(np.arange(self.num_docs, dtype=np.int64), np.diff(self.offsets))


def to_ids(lists: pa.ListArray | pa.ChunkedArray, terms: pa.Array) -> IdBatch:
    """Map token lists onto vocab positions (term_id order), dropping unknown tokens."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    flat = pc.list_flatten(lists)
    ids = pc.index_in(flat, value_set=terms)
    known = ids.is_valid()
    parents = pc.list_parent_indices(lists).filter(known).to_numpy().astype(np.int64)
    kept = ids.filter(known).to_numpy().astype(np.int32)
    offsets = np.searchsorted(parents, np.arange(len(lists) + 1)).astype(np.int64)
    return IdBatch(kept, offsets)


def iter_ids(tokens: Artifact | str, terms: pa.Array, batch_rows: int = 8192) -> Iterator[IdBatch]:
    """Stream a tokens artifact (or one of its part files) as term-id batches."""
    import pyarrow.parquet as pq

    from lexiflow.store import _fs

    parts = tokens.parts() if isinstance(tokens, Artifact) else [tokens]
    for part in parts:
        fs, local = _fs(part)
        with fs.open(local, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=["tokens"]):
                yield to_ids(batch.column("tokens"), terms)
