"""Corpus update: a base corpus plus the new or changed documents of another, for retraining.

Unchanged base partitions are linked, not copied, and keep their names, so the tokens stage's part cache
finds them and only new documents are tokenized. A document whose id exists with the same text is
skipped; with other text it replaces the old one (its old partition is rewritten without it).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.parallel import map_parts
from lexiflow.store import Artifact, ArtifactWriter, copy_file, join, read_table, write_table
from tasks.ingest import SCHEMA

NAME = "corpus_update"
VERSION = 1
SECTION = None
USES_DASK = True


def _hash(values: pa.ChunkedArray) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_array(np.asarray(values.to_numpy(zero_copy_only=False), dtype=object))


def fingerprint_task(part: str) -> dict[str, Any]:
    """Hashes of each document's id and text: enough to tell new, changed and unchanged apart."""
    table = read_table(part, ["doc_id", "text"])
    return {"rows": table.num_rows, "ids": _hash(table["doc_id"]), "texts": _hash(table["text"])}


def _lookup(keys: np.ndarray, sorted_keys: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key: is it among `sorted_keys`, and at which original position."""
    at = np.searchsorted(sorted_keys, keys)
    at = np.minimum(at, max(len(sorted_keys) - 1, 0))
    found = (sorted_keys[at] == keys) if len(sorted_keys) else np.zeros(len(keys), bool)
    return found, order[at] if len(order) else at


def build(cfg: None, out: ArtifactWriter, *, base: Artifact, new: Artifact) -> dict[str, Any]:
    base_parts, new_parts = base.parts(), new.parts()
    prints = map_parts(fingerprint_task, [(p,) for p in base_parts + new_parts], "corpus update")
    base_prints, new_prints = prints[: len(base_parts)], prints[len(base_parts) :]
    base_ids = np.concatenate([p["ids"] for p in base_prints])
    base_texts = np.concatenate([p["texts"] for p in base_prints])
    order = np.argsort(base_ids, kind="stable")
    sorted_ids = base_ids[order]

    replaced = np.zeros(len(base_ids), dtype=bool)
    counts = {"new_docs": 0, "changed_docs": 0, "unchanged_docs": 0}
    next_index = 1 + max((int(os.path.basename(p).split("-")[1]) for p in base_parts), default=-1)
    added_parts: list[str] = []
    for part, fp in zip(new_parts, new_prints, strict=True):
        found, where = _lookup(fp["ids"], sorted_ids, order)
        same = found & (base_texts[where] == fp["texts"])
        changed = found & ~same
        replaced[where[changed]] = True
        counts["new_docs"] += int((~found).sum())
        counts["changed_docs"] += int(changed.sum())
        counts["unchanged_docs"] += int(same.sum())
        keep = ~same
        if keep.any():
            table = read_table(part).filter(pa.array(keep))
            name = join(out.url, "parts", f"part-{next_index:05d}-0000.parquet")
            write_table(name, table, SCHEMA)
            added_parts.append(os.path.basename(name))
            next_index += 1

    start = 0
    for part, fp in zip(base_parts, base_prints, strict=True):
        gone = replaced[start : start + fp["rows"]]
        start += fp["rows"]
        target = out.part_for(part)
        if gone.any():
            write_table(target, read_table(part).filter(pa.array(~gone)), SCHEMA)
        else:
            copy_file(part, target)
    rows = len(base_ids) - int(replaced.sum()) + counts["new_docs"] + counts["changed_docs"]
    return {
        "rows": rows,
        "base_docs": len(base_ids),
        **counts,
        "new_parts": added_parts,
    }
