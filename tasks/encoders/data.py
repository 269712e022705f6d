"""Encoder input: TF-IDF (or bag-of-words) rows restricted to the most frequent terms, streamed in batches.

The restriction keeps `input_vocab` columns, remaps them to 0..input_vocab-1 and L2-normalises each row again,
so an encoder sees the same representation at fit time, at encode time and for a query. Batches come from the
artifact's Parquet parts through a bounded shuffle buffer: memory does not grow with the corpus, and a document
belongs to the training or held-out split by a hash of its id, so the split does not depend on batch order.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from lexiflow.sparse import to_csr
from lexiflow.store import Artifact


def top_terms(vocab: Artifact, input_vocab: int) -> np.ndarray:
    """Term ids of the `input_vocab` most frequent terms (by count, ties by term id), in id order."""
    table = vocab.read_table(columns=["term_id", "count"])
    ids = table["term_id"].to_numpy().astype(np.int64)
    counts = table["count"].to_numpy()
    order = np.lexsort((ids, -counts))[:input_vocab]
    return np.sort(ids[order])


def column_map(term_ids: np.ndarray, n_terms: int) -> np.ndarray:
    """Full term id -> input column, -1 for terms outside the input vocabulary."""
    mapping = np.full(max(n_terms, int(term_ids.max()) + 1 if len(term_ids) else 0), -1, dtype=np.int64)
    mapping[term_ids] = np.arange(len(term_ids))
    return mapping


def restrict(rows: sp.csr_matrix, mapping: np.ndarray, n_inputs: int) -> sp.csr_matrix:
    """Keep the input-vocabulary columns of full-vocabulary rows, remapped, each row L2-normalised again."""
    rows = rows.tocoo()
    cols = mapping[rows.col] if len(rows.col) else rows.col
    keep = cols >= 0
    out = sp.csr_matrix(
        (rows.data[keep].astype(np.float32), (rows.row[keep], cols[keep])), shape=(rows.shape[0], n_inputs)
    )
    out.sum_duplicates()
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms).astype(np.float32) @ out)


def is_holdout(doc_ids: pa.Array, fraction: float) -> np.ndarray:
    """Deterministic held-out membership by CRC32 of the doc id."""
    cut = int(fraction * 1_000_000)
    return np.fromiter(
        (zlib.crc32(d.encode()) % 1_000_000 < cut for d in doc_ids.to_pylist()), dtype=bool, count=len(doc_ids)
    )


@dataclass
class RowSource:
    """A restartable view of a sparse-row artifact in encoder input space (never a one-shot generator)."""

    rows: Artifact
    term_ids: np.ndarray
    n_terms: int
    read_rows: int = 8192

    @property
    def n_inputs(self) -> int:
        return len(self.term_ids)

    def __post_init__(self) -> None:
        self.mapping = column_map(self.term_ids, self.n_terms)

    def ordered(self) -> Iterator[tuple[pa.Array, sp.csr_matrix]]:
        """(doc ids, input rows) in corpus order, every row kept (empty ones too)."""
        for batch in self.rows.iter_batches(["doc_id", "term_ids", "values"], batch_rows=self.read_rows):
            yield batch.column("doc_id"), restrict(to_csr(batch, self.n_terms), self.mapping, self.n_inputs)

    def split(self, holdout: float, held_out: bool) -> Iterator[sp.csr_matrix]:
        """Non-empty rows of one split, in corpus order."""
        for doc_ids, x in self.ordered():
            nonempty = np.diff(x.indptr) > 0
            mask = nonempty & (is_holdout(doc_ids, holdout) == held_out)
            if mask.any():
                yield x[mask]

    def shuffled(
        self, holdout: float, batch_size: int, buffer_rows: int, seed: int, max_rows: int | None = None
    ) -> Iterator[sp.csr_matrix]:
        """Training minibatches: rows mixed within a bounded buffer, the last short batch kept."""
        rng = np.random.default_rng(seed)
        emitted = 0
        for buffer in self._buffers(holdout, buffer_rows):
            order = rng.permutation(buffer.shape[0])
            for start in range(0, len(order), batch_size):
                if max_rows is not None and emitted >= max_rows:
                    return
                batch = buffer[order[start : start + batch_size]]
                emitted += batch.shape[0]
                yield batch

    def _buffers(self, holdout: float, buffer_rows: int) -> Iterator[sp.csr_matrix]:
        pending: list[sp.csr_matrix] = []
        held = 0
        for x in self.split(holdout, held_out=False):
            pending.append(x)
            held += x.shape[0]
            if held >= buffer_rows:
                yield sp.vstack(pending, format="csr")
                pending, held = [], 0
        if pending:
            yield sp.vstack(pending, format="csr")
