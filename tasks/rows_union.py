"""A doc-keyed row artifact (bag-of-words, TF-IDF, codes) extended by a retrain's delta rows, fitted files kept.

The output reads like the base stage's own artifact (same parts schema, same idf table, projection or
encoder weights beside it), so the query path and later stages take it unchanged.
"""

from __future__ import annotations

from typing import Any

from lexiflow.store import Artifact, ArtifactWriter
from tasks.union import merge

NAME = "rows_union"
VERSION = 1
SECTION = None
USES_DASK = True


def build(cfg: None, out: ArtifactWriter, *, base: Artifact, delta: Artifact) -> dict[str, Any]:
    return merge(out, base, delta, side_files=True)
