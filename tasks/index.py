"""FAISS index over a vector artifact (document codes or word vectors), cosine by inner product.

Vectors are L2-normalised and added in batches; row positions map to ids through `ids.parquet`, stored
under the same key, so a search result is always an id of this build. All-zero rows (empty documents)
are left out and counted: they have no direction and would only add noise at score 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.config import IndexConfig
from lexiflow.store import Artifact, ArtifactWriter

NAME = "index"
VERSION = 1
SECTION = "index"
USES_DASK = False
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.parquet"
IDS_SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False)])


def columns_of(vectors: Artifact) -> tuple[str, str]:
    """(id column, vector column) of a codes or word-vector artifact."""
    names = vectors.manifest.get("schema_names") or []
    return ("term", "vector") if "term" in names else ("doc_id", "code")


def build(cfg: IndexConfig, out: ArtifactWriter, *, vectors: Artifact) -> dict[str, Any]:
    import faiss

    id_col, vec_col = columns_of(vectors)
    index = None
    ids: list[pa.Array] = []
    zero = 0
    for batch in vectors.iter_batches([id_col, vec_col], batch_rows=cfg.batch_rows):
        column = batch.column(vec_col)
        dim = column.type.list_size
        mat = np.ascontiguousarray(column.flatten().to_numpy().reshape(-1, dim), dtype=np.float32)
        norms = np.linalg.norm(mat, axis=1)
        keep = norms > 0
        zero += int((~keep).sum())
        mat = mat[keep] / norms[keep, None]
        if index is None:
            index = faiss.IndexFlatIP(dim)
        index.add(mat)
        ids.append(batch.column(id_col).filter(pa.array(keep)))
    if index is None:
        raise ValueError(f"{out.stage}: input {vectors.stage}/{vectors.key} has no vectors to index")
    faiss.write_index(index, out.local_path(INDEX_FILE))
    out.write(IDS_FILE, pa.table([pa.concat_arrays(ids).cast(pa.string())], schema=IDS_SCHEMA), IDS_SCHEMA)
    return {"rows": index.ntotal, "dim": index.d, "kind": "flat", "metric": "cosine", "zero_vectors_skipped": zero}
