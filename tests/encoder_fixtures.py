"""Synthetic corpora with planted topics, published as vocab and TF-IDF artifacts in a temp store."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lexiflow.sparse import ROW_SCHEMA
from lexiflow.store import Artifact, ArtifactStore, write_table

VOCAB_SCHEMA = pa.schema([pa.field("term_id", pa.int32()), pa.field("term", pa.string()),
                          pa.field("count", pa.int64()), pa.field("df", pa.int64())])


def publish(store: ArtifactStore, stage: str, key: str, table: pa.Table, schema: pa.Schema,
            figures: dict | None = None) -> Artifact:
    writer = store.writer(stage, key)
    write_table(writer.part(0), table, schema)
    return store.publish(writer, {"stage": stage, "rows": table.num_rows, "schema_names": schema.names,
                                  "figures": figures or {}})


def planted_topics(store: ArtifactStore, groups: int = 3, docs_per_group: int = 120, words_per_group: int = 40,
                   words_per_doc: int = 12, seed: int = 0) -> tuple[Artifact, Artifact, np.ndarray]:
    """Docs of group g draw words only from group g's own word set: (tfidf, vocab, labels)."""
    rng = np.random.default_rng(seed)
    n_terms = groups * words_per_group
    doc_ids, term_lists, value_lists, labels = [], [], [], []
    counts = np.zeros(n_terms, np.int64)
    df = np.zeros(n_terms, np.int64)
    for d in range(groups * docs_per_group):
        g = d % groups
        words = rng.integers(0, words_per_group, size=words_per_doc) + g * words_per_group
        ids, tf = np.unique(words, return_counts=True)
        counts[ids] += tf
        df[ids] += 1
        doc_ids.append(f"doc{d:04d}")
        term_lists.append(ids.astype(np.int32))
        value_lists.append(tf.astype(np.float32))
        labels.append(g)
    idf = np.log((1 + len(doc_ids)) / (1 + df)) + 1
    values = []
    for ids, tf in zip(term_lists, value_lists, strict=True):
        w = tf * idf[ids]
        values.append((w / np.linalg.norm(w)).astype(np.float32).tolist())
    rows = pa.table([pa.array(doc_ids), pa.array([t.tolist() for t in term_lists], pa.list_(pa.int32())),
                     pa.array(values, pa.list_(pa.float32()))], schema=ROW_SCHEMA)
    vocab = pa.table([pa.array(np.arange(n_terms, dtype=np.int32)), pa.array([f"w{i}" for i in range(n_terms)]),
                      pa.array(counts), pa.array(df)], schema=VOCAB_SCHEMA)
    tfidf_art = publish(store, "tfidf", f"planted{seed}", rows, ROW_SCHEMA)
    vocab_art = publish(store, "vocab", f"planted{seed}", vocab, VOCAB_SCHEMA, {"num_docs": len(doc_ids)})
    return tfidf_art, vocab_art, np.array(labels)


def precision_at(codes: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean fraction of each document's k nearest others (cosine) sharing its label."""
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]
    return float((labels[top] == labels[:, None]).mean())
