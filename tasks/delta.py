"""Corpus delta: the documents of a new corpus that a base corpus lacks (new ids) or holds with other text.

A retrain trains the online models (word2vec) on exactly these, and the union stage puts them into the
base corpus. Documents seen before with the same id and text are counted and left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.hashing import hash_strings
from lexiflow.parallel import map_parts
from lexiflow.store import Artifact, ArtifactWriter, read_table, write_table
from tasks.ingest import SCHEMA

NAME = "corpus_delta"
VERSION = 1
SECTION = None
USES_DASK = True


def fingerprint_task(part: str) -> dict[str, Any]:
    table = read_table(part, ["doc_id", "text"])
    return {"rows": table.num_rows, "ids": hash_strings(table["doc_id"]), "texts": hash_strings(table["text"])}


def delta_task(part: str, out_part: str, base_ids: np.ndarray, base_texts: np.ndarray) -> dict[str, Any]:
    """Keep the rows of one new part that are not in the base with the same text."""
    fp = fingerprint_task(part)
    at = np.minimum(np.searchsorted(base_ids, fp["ids"]), max(len(base_ids) - 1, 0))
    found = base_ids[at] == fp["ids"] if len(base_ids) else np.zeros(fp["rows"], dtype=bool)
    same = found & (base_texts[at] == fp["texts"])
    keep = ~same
    if keep.any():
        write_table(out_part, read_table(part).filter(pa.array(keep)), SCHEMA)
    return {"rows": int(keep.sum()), "new": int((~found).sum()), "changed": int((found & ~same).sum()),
            "unchanged": int(same.sum())}


def build(cfg: None, out: ArtifactWriter, *, base: Artifact, new: Artifact) -> dict[str, Any]:
    prints = map_parts(fingerprint_task, [(p,) for p in base.parts()], "corpus delta: base")
    ids = np.concatenate([p["ids"] for p in prints]) if prints else np.empty(0, np.uint64)
    texts = np.concatenate([p["texts"] for p in prints]) if prints else np.empty(0, np.uint64)
    order = np.argsort(ids, kind="stable")
    calls = [(p, out.part_for(p), ids[order], texts[order]) for p in new.parts()]
    results = map_parts(delta_task, calls, "corpus delta")
    return {
        "rows": sum(r["rows"] for r in results),
        "new_docs": sum(r["new"] for r in results),
        "changed_docs": sum(r["changed"] for r in results),
        "unchanged_docs": sum(r["unchanged"] for r in results),
        "base_docs": len(ids),
    }
