"""Corpus union: a base corpus with a delta's documents added, replacing older versions of the same ids.

Base parts untouched by the delta are linked and keep their names; delta parts are linked after them. So
the tokens stage's part cache finds every part it has seen, and only the delta is tokenized again.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.hashing import hash_strings
from lexiflow.parallel import map_parts
from lexiflow.store import Artifact, ArtifactWriter, copy_file, join, read_table, write_table
from tasks.ingest import SCHEMA

NAME = "corpus_union"
VERSION = 1
SECTION = None
USES_DASK = True


def _ids_task(part: str) -> np.ndarray:
    return hash_strings(read_table(part, ["doc_id"])["doc_id"])


def _base_task(part: str, out_part: str, replaced: np.ndarray) -> dict[str, Any]:
    """Link a base part, or rewrite it without the documents the delta replaces."""
    ids = _ids_task(part)
    gone = np.isin(ids, replaced)
    if gone.any():
        write_table(out_part, read_table(part).filter(pa.array(~gone)), SCHEMA)
    else:
        copy_file(part, out_part)
    return {"rows": int((~gone).sum()), "replaced": int(gone.sum())}


def build(cfg: None, out: ArtifactWriter, *, base: Artifact, delta: Artifact) -> dict[str, Any]:
    base_parts, delta_parts = base.parts(), delta.parts()
    delta_ids = np.concatenate(map_parts(_ids_task, [(p,) for p in delta_parts], "corpus union: delta") or
                               [np.empty(0, np.uint64)])
    results = map_parts(_base_task, [(p, out.part_for(p), delta_ids) for p in base_parts], "corpus union")
    first = 1 + max((int(os.path.basename(p).split("-")[1]) for p in base_parts), default=-1)
    for i, part in enumerate(delta_parts):
        copy_file(part, join(out.url, "parts", f"part-{first + i:05d}-0000.parquet"))
    added = delta.num_rows
    return {
        "rows": sum(r["rows"] for r in results) + added,
        "base_docs": base.num_rows,
        "added_docs": added,
        "replaced_docs": sum(r["replaced"] for r in results),
    }
