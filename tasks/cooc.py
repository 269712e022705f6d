"""Co-occurrence counts: window (or document) pairs per partition, pre-aggregated, range-sharded, merged.

Map: each tokens part becomes term-id sequences; pairs `(left, right)` at distance d <= window inside one
document are counted per offset with a sort, merged, transposed when symmetric, and spilled as sorted run
files whenever the partial table outgrows the memory budget. Merge: the driver sums each run's records
per row `i`, cuts the rows into contiguous ranges that fit the budget, and one task per range reads only
its slice of every run (row-group pruning on sorted files) and sums it. No process ever holds more than
about `cooc.memory_limit`, whatever the corpus size (as `cooccur.c` derives everything from `-memory`).

Harmonic weights are summed exactly: distance d adds L/d with L = lcm(1..window), an integer, and x is
`total / L` rounded once at the end, so the result does not depend on partitioning or merge order.
Out-of-vocabulary tokens are dropped before windows are taken, as `cooccur.c` does.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lexiflow.config import CoocConfig, parse_bytes
from lexiflow.parallel import map_parts
from lexiflow.sequences import IdBatch, iter_ids
from lexiflow.store import Artifact, ArtifactWriter, _fs, join, read_table, write_table

NAME = "cooc"
VERSION = 1
SECTION = "cooc"
USES_DASK = True

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [pa.field("i", pa.int32(), nullable=False), pa.field("j", pa.int32(), nullable=False),
     pa.field("x", pa.float32(), nullable=False)]
)
RUN_SCHEMA = pa.schema([pa.field("i", pa.int32()), pa.field("j", pa.int32()), pa.field("w", pa.int64())])
RUNS = "runs"
RUN_ROW_GROUP = 1 << 16
BYTES_PER_RECORD = 64  # key, weight, sort permutation and sorted copies while aggregating


def weight_scale(cfg: CoocConfig) -> int:
    """L such that every pair weight L/d (or 1 unweighted) is an integer."""
    if cfg.scope == "window" and cfg.weighting == "harmonic":
        return math.lcm(*range(1, cfg.window + 1))
    return 1


def budget_records(cfg: CoocConfig) -> int:
    return max(parse_bytes(cfg.memory_limit) // BYTES_PER_RECORD, 1 << 16)


def sum_by_key(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys in order and the integer sum of their weights."""
    if len(keys) == 0:
        return keys, weights
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(weights[order], starts)


def _count_sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys, np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.diff(np.append(starts, len(keys)))


def _doc_unique(batch: IdBatch, n_terms: int) -> IdBatch:
    """Each document's distinct terms in id order: document scope is then all pairs within a document."""
    docs = batch.doc_index()
    keys = np.unique(docs * n_terms + batch.ids)
    ids = (keys % n_terms).astype(np.int32)
    offsets = np.searchsorted(keys // n_terms, np.arange(batch.num_docs + 1)).astype(np.int64)
    return IdBatch(ids, offsets)


def window_pairs(batch: IdBatch, cfg: CoocConfig, n_terms: int, chunk: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(key = i * n_terms + j, integer weight) pre-aggregated per slice of at most `chunk` left positions.

    X[i, j] counts j in the left context of i (cooccur.c's `symmetric=0`); symmetric adds the transpose.
    """
    scale = weight_scale(cfg)
    if cfg.scope == "document":
        batch = _doc_unique(batch, n_terms)
        span = int(np.diff(batch.offsets).max(initial=0)) - 1
    else:
        span = cfg.window
    ids = batch.ids.astype(np.int64)
    docs = batch.doc_index()
    n = len(ids)
    out = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        keys_parts, weight_parts = [], []
        for d in range(1, span + 1):
            hi = min(stop, n - d)
            if hi <= start:
                break
            left = slice(start, hi)
            right = slice(start + d, hi + d)
            same = docs[left] == docs[right]
            if not same.any():
                continue
            keys, counts = _count_sorted(ids[right][same] * n_terms + ids[left][same])
            keys_parts.append(keys)
            weight_parts.append(counts * (scale // d if cfg.weighting == "harmonic" and cfg.scope == "window" else 1))
        if not keys_parts:
            continue
        keys, weights = sum_by_key(np.concatenate(keys_parts), np.concatenate(weight_parts))
        if cfg.symmetric or cfg.scope == "document":
            flipped = (keys % n_terms) * n_terms + keys // n_terms
            keys, weights = sum_by_key(np.concatenate([keys, flipped]), np.concatenate([weights, weights]))
        out.append((keys, weights))
    return out


def _write_run(path: str, keys: np.ndarray, weights: np.ndarray, n_terms: int) -> None:
    table = pa.table(
        [pa.array((keys // n_terms).astype(np.int32)), pa.array((keys % n_terms).astype(np.int32)),
         pa.array(weights.astype(np.int64))],
        schema=RUN_SCHEMA,
    )
    fs, local = _fs(path)
    fs.makedirs(os.path.dirname(local), exist_ok=True)
    pq.write_table(table, local, filesystem=fs, row_group_size=RUN_ROW_GROUP, compression="zstd")


def cooc_task(part: str, vocab_part: str, run_prefix: str, cfg_json: dict[str, Any]) -> dict[str, Any]:
    """Count one tokens part into sorted run files; returns their paths and records per row i."""
    cpu = time.process_time()
    cfg = CoocConfig.model_validate(cfg_json)
    terms = read_table(vocab_part, ["term"])["term"].combine_chunks()
    n_terms = len(terms)
    budget = budget_records(cfg)
    span = cfg.window if cfg.scope == "window" else 64
    chunk = max(budget // (2 * span), 1024)
    keys = np.zeros(0, np.int64)
    weights = np.zeros(0, np.int64)
    runs: list[str] = []
    per_row = np.zeros(n_terms, np.int64)
    docs = tokens = pairs_seen = 0

    def flush() -> None:
        nonlocal keys, weights
        if len(keys):
            path = f"{run_prefix}-{len(runs):04d}.parquet"
            _write_run(path, keys, weights, n_terms)
            runs.append(path)
            per_row[:] += np.bincount(keys // n_terms, minlength=n_terms)
        keys, weights = np.zeros(0, np.int64), np.zeros(0, np.int64)

    for batch in iter_ids(part, terms, batch_rows=4096):
        docs += batch.num_docs
        tokens += len(batch.ids)
        for k, w in window_pairs(batch, cfg, n_terms, chunk):
            pairs_seen += len(k)
            keys, weights = sum_by_key(np.concatenate([keys, k]), np.concatenate([weights, w]))
            if len(keys) > budget // 2:
                flush()
    flush()
    return {"rows": docs, "tokens": tokens, "runs": runs, "per_row": per_row, "partial_records": pairs_seen,
            "cpu_seconds": time.process_time() - cpu}


def row_ranges(per_row: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) row ranges whose run records fit the budget (at least one row each)."""
    ranges = []
    lo, acc = 0, 0
    for i, n in enumerate(per_row.tolist()):
        if acc and acc + n > budget:
            ranges.append((lo, i))
            lo, acc = i, 0
        acc += n
    if acc or not ranges:
        ranges.append((lo, len(per_row)))
    return ranges


def merge_task(runs: list[str], lo: int, hi: int, out_part: str, n_terms: int, scale: int) -> dict[str, Any]:
    """Sum the rows lo..hi-1 of every run into one sorted output part."""
    cpu = time.process_time()
    pieces = []
    for run in runs:
        fs, local = _fs(run)
        table = pq.read_table(local, filesystem=fs, filters=[("i", ">=", lo), ("i", "<", hi)])
        if table.num_rows:
            pieces.append(table)
    if pieces:
        table = pa.concat_tables(pieces)
        keys = table["i"].to_numpy().astype(np.int64) * n_terms + table["j"].to_numpy()
        keys, weights = sum_by_key(keys, table["w"].to_numpy())
    else:
        keys, weights = np.zeros(0, np.int64), np.zeros(0, np.int64)
    x = (weights / scale).astype(np.float32)
    out = pa.table(
        [pa.array((keys // n_terms).astype(np.int32)), pa.array((keys % n_terms).astype(np.int32)), pa.array(x)],
        schema=SCHEMA,
    )
    write_table(out_part, out, SCHEMA)
    return {"rows": out.num_rows, "x_sum": float(np.sum(weights) / scale), "cpu_seconds": time.process_time() - cpu}


def build(cfg: CoocConfig, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    vocab_part = vocab.parts()[0]
    n_terms = vocab.num_rows or read_table(vocab_part, ["term"]).num_rows
    cfg_json = cfg.model_dump(mode="json")
    calls = [(p, vocab_part, join(out.url, RUNS, f"run-{k:05d}"), cfg_json) for k, p in enumerate(tokens.parts())]
    mapped = map_parts(cooc_task, calls, "cooc count")
    runs = [r for m in mapped for r in m["runs"]]
    per_row = np.sum([m["per_row"] for m in mapped], axis=0) if mapped else np.zeros(n_terms, np.int64)
    ranges = row_ranges(per_row, budget_records(cfg))
    scale = weight_scale(cfg)
    merges = [(runs, lo, hi, out.part(k), n_terms, scale) for k, (lo, hi) in enumerate(ranges)]
    merged = map_parts(merge_task, merges, "cooc merge")
    fs, local = _fs(join(out.url, RUNS))
    if fs.exists(local):
        fs.rm(local, recursive=True)
    records = sum(m["rows"] for m in merged)
    return {
        "rows": records,
        "docs": sum(m["rows"] for m in mapped),
        "tokens": sum(m["tokens"] for m in mapped),
        "runs": len(runs),
        "shards": len(ranges),
        "partial_records": sum(m["partial_records"] for m in mapped),
        "x_total": round(sum(m["x_sum"] for m in merged), 3),
        "count_cpu_seconds": round(sum(m["cpu_seconds"] for m in mapped), 2),
        "merge_cpu_seconds": round(sum(m["cpu_seconds"] for m in merged), 2),
        "vocab_size": n_terms,
    }


def load_matrix(cooc: Artifact, n_terms: int) -> Any:
    """The counts as a scipy COO matrix (for tests and small corpora)."""
    import scipy.sparse as sp

    table = cooc.read_table()
    return sp.coo_matrix(
        (table["x"].to_numpy(), (table["i"].to_numpy(), table["j"].to_numpy())), shape=(n_terms, n_terms)
    )



