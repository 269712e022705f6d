"""Incremental index: a base index artifact plus a vector artifact's rows, without retraining or re-tuning.

A retrain that does not refit its encoders encodes only the new and changed documents; this stage adds them
to the base build's index (known ids are replaced, new ids get fresh labels, surviving ids keep theirs).
Every index kind allows it: flat and IVF remove replaced vectors, HNSW keeps them as filtered tombstones.
"""

from __future__ import annotations

from typing import Any

from lexiflow.config import IndexConfig
from lexiflow.store import Artifact, ArtifactWriter
from tasks.index import update, vector_batches

NAME = "index_update"
VERSION = 1
SECTION = "index"
USES_DASK = False


def build(cfg: IndexConfig, out: ArtifactWriter, *, base: Artifact, vectors: Artifact) -> dict[str, Any]:
    return update(base, out, vector_batches(vectors, cfg))
