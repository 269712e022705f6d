"""Helpers for the cluster and map tests: seeded synthetic vector artifacts with planted groups."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.store import Artifact, ArtifactStore


def blobs(n_per: int, groups: int, dim: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`groups` Gaussian blobs around random directions; returns (points, planted labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, dim))
    labels = np.repeat(np.arange(groups), n_per)
    points = centres[labels] + spread * rng.standard_normal((len(labels), dim))
    return points.astype(np.float32), labels


def publish(store: ArtifactStore, stage: str, table: pa.Table, key: str = "k0") -> Artifact:
    """Publish a table as a one-part artifact (with the manifest fields readers use)."""
    writer = store.writer(stage, key)
    writer.write("parts/part-00000-0000.parquet", table)
    return store.publish(writer, {"stage": stage, "rows": table.num_rows, "schema_names": table.column_names})


def vectors_artifact(store: ArtifactStore, x: np.ndarray, words: bool = False, key: str = "v0") -> Artifact:
    """A codes artifact (`doc_id, code`) or, with words, a word-vector artifact (`term_id, term, vector`)."""
    dim = x.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1).astype(np.float32)), dim)
    if words:
        table = pa.table({"term_id": pa.array(np.arange(len(x)), pa.int32()),
                          "term": [f"w{i}" for i in range(len(x))], "vector": column})
        return publish(store, "word2vec", table, key)
    return publish(store, "lsa", pa.table({"doc_id": [f"d{i}" for i in range(len(x))], "code": column}), key)


def corpus_artifact(store: ArtifactStore, labels: list[str | None], key: str = "c0") -> Artifact:
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(labels))], "text": [""] * len(labels),
                      "title": [None] * len(labels), "label": pa.array(labels, pa.string())})
    return publish(store, "ingest", table, key)


def build(module: ModuleType, cfg: Any, store: ArtifactStore, stage: str, **inputs: Artifact) -> Artifact:
    """Call a stage's build directly and publish what it wrote, figures in the manifest as the executor does."""
    writer = store.writer(stage, "out")
    figures = module.build(cfg, writer, **inputs)
    return store.publish(writer, {"stage": stage, "rows": figures["rows"], "figures": figures})
