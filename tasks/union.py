"""Row union: a base artifact's rows with a delta's rows added, replacing older rows of the same doc ids.

One mechanism for every doc-keyed artifact a retrain extends: the corpus (`corpus_union`) and, when the
encoders are not refit, the bag-of-words, TF-IDF and code artifacts (`rows_union`, which also carries the
base's fitted side files: the idf table, the LSA projection, an encoder's weights). Base parts untouched by
the delta are linked and keep their names; delta parts are linked after them, so rows stay in corpus order
and the tokens stage's part cache finds every part it has seen.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.hashing import hash_strings
from lexiflow.parallel import map_parts
from lexiflow.store import (
    MANIFEST,
    PARTS,
    Artifact,
    ArtifactWriter,
    copy_file,
    join,
    list_files,
    read_table,
    write_table,
)

NAME = "corpus_union"
VERSION = 1
SECTION = None
USES_DASK = True


def _ids_task(part: str) -> np.ndarray:
    return hash_strings(read_table(part, ["doc_id"])["doc_id"])


def _base_task(part: str, out_part: str, replaced: np.ndarray) -> dict[str, Any]:
    """Link a base part, or rewrite it (with its own schema) without the rows the delta replaces."""
    ids = _ids_task(part)
    gone = np.isin(ids, replaced)
    if gone.any():
        table = read_table(part)
        write_table(out_part, table.filter(pa.array(~gone)), table.schema)
    else:
        copy_file(part, out_part)
    return {"rows": int((~gone).sum()), "replaced": int(gone.sum())}


def merge(out: ArtifactWriter, base: Artifact, delta: Artifact, side_files: bool) -> dict[str, Any]:
    """Write base-minus-replaced then delta parts into `out`; with `side_files`, link the base's other files."""
    base_parts, delta_parts = base.parts(), delta.parts()
    delta_ids = np.concatenate(map_parts(_ids_task, [(p,) for p in delta_parts], f"{out.stage}: delta ids") or
                               [np.empty(0, np.uint64)])
    results = map_parts(_base_task, [(p, out.part_for(p), delta_ids) for p in base_parts], out.stage)
    first = 1 + max((int(os.path.basename(p).split("-")[1]) for p in base_parts), default=-1)
    for i, part in enumerate(delta_parts):
        copy_file(part, join(out.url, PARTS, f"part-{first + i:05d}-0000.parquet"))
    linked = []
    if side_files:
        for name in list_files(base.url):
            if name != MANIFEST and not name.startswith(PARTS + "/"):
                copy_file(base.file(name), out.file(name))
                linked.append(name)
    return {
        "rows": sum(r["rows"] for r in results) + delta.num_rows,
        "base_rows": base.num_rows,
        "added_rows": delta.num_rows,
        "replaced_rows": sum(r["replaced"] for r in results),
        "base": f"{base.stage}/{base.key}",
        "side_files": linked,
    }


def build(cfg: None, out: ArtifactWriter, *, base: Artifact, delta: Artifact) -> dict[str, Any]:
    figures = merge(out, base, delta, side_files=False)
    return {"rows": figures["rows"], "base_docs": figures["base_rows"], "added_docs": figures["added_rows"],
            "replaced_docs": figures["replaced_rows"]}
