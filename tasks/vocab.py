"""Vocab: term counts and document frequencies per partition, folded as partitions finish, then filtered.

Each task returns one row per distinct term of its partition (never the tokens), and the driver folds
them eight at a time as they arrive, so it holds the running table of distinct terms plus a few
partitions' tables — never one table per partition. `term_id` orders terms by count, then
alphabetically, so ids are stable for the same corpus and settings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.config import VocabConfig
from lexiflow.parallel import fold_parts
from lexiflow.sparse import TokenCodes, read_token_codes, token_codes, unique_counts
from lexiflow.store import Artifact, ArtifactWriter

NAME = "vocab"
VERSION = 1
SECTION = "vocab"
USES_DASK = True

SCHEMA = pa.schema(
    [
        pa.field("term_id", pa.int32(), nullable=False),
        pa.field("term", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("df", pa.int64(), nullable=False),
    ]
)
COUNTS = pa.schema([pa.field("term", pa.string()), pa.field("count", pa.int64()), pa.field("df", pa.int64())])


class VocabError(ValueError):
    """Thresholds that cannot produce a vocabulary."""


def count_terms(lists: pa.ListArray | pa.ChunkedArray | TokenCodes) -> pa.Table:
    """Per-term token count and document frequency for a batch of token lists."""
    tc = lists if isinstance(lists, TokenCodes) else token_codes(lists)
    n_terms = len(tc.terms)
    if len(tc.codes) == 0:
        return COUNTS.empty_table()
    counts = np.bincount(tc.codes, minlength=n_terms)
    pairs, _ = unique_counts(tc.docs * n_terms + tc.codes)
    df = np.bincount(pairs % n_terms, minlength=n_terms)
    used = pa.array(counts > 0)  # a Parquet dictionary may list terms no token uses
    table = pa.table([tc.terms, pa.array(counts, pa.int64()), pa.array(df, pa.int64())], schema=COUNTS)
    return table.filter(used)


def merge_counts(tables: list[pa.Table]) -> pa.Table:
    """Sum counts and dfs of the same term (a term's documents lie in one partition, so dfs add up)."""
    both = pa.concat_tables(tables)
    encoded = pc.dictionary_encode(both["term"].combine_chunks())
    codes = encoded.indices.to_numpy()
    n_terms = len(encoded.dictionary)
    sums = [np.bincount(codes, both[col].to_numpy(), minlength=n_terms).astype(np.int64) for col in ("count", "df")]
    return pa.table([encoded.dictionary, *sums], schema=COUNTS)


def fold_counts(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": sum(r["rows"] for r in results), "counts": merge_counts([r["counts"] for r in results])}


def vocab_task(part: str) -> dict[str, Any]:
    _, codes = read_token_codes(part)
    return {"rows": codes.num_docs, "counts": count_terms(codes)}


def doc_limits(cfg: VocabConfig, num_docs: int) -> tuple[int, int]:
    """min_df/max_df as document counts: an int is a count, a float a fraction of documents."""
    low = math.ceil(cfg.min_df * num_docs) if isinstance(cfg.min_df, float) else int(cfg.min_df)
    high = math.floor(cfg.max_df * num_docs) if isinstance(cfg.max_df, float) else int(cfg.max_df)
    if high < low:
        raise VocabError(
            f"vocab.max_df={cfg.max_df} resolves to {high} documents, below vocab.min_df={cfg.min_df} "
            f"({low} documents) for {num_docs} documents: no term can satisfy both"
        )
    return low, high


def select(counts: pa.Table, cfg: VocabConfig, num_docs: int) -> tuple[pa.Table, dict[str, int]]:
    """Apply the thresholds and assign term ids; returns the vocab table and how many each rule dropped."""
    low, high = doc_limits(cfg, num_docs)
    count = counts["count"].to_numpy()
    df = counts["df"].to_numpy()
    keep = count >= cfg.min_count
    dropped = {"min_count": int((~keep).sum())}
    # A term with whitespace would break every vector text format (word2vec, GloVe, TSV): never a term.
    spaced = pc.match_substring_regex(counts["term"], r"\s").to_numpy(zero_copy_only=False).astype(bool)
    dropped["whitespace"] = int((keep & spaced).sum())
    keep &= ~spaced
    by_df = (df >= low) & (df <= high)
    dropped["df_range"] = int((keep & ~by_df).sum())
    keep &= by_df
    kept = counts.filter(pa.array(keep)).sort_by([("count", "descending"), ("term", "ascending")])
    if cfg.max_size is not None and kept.num_rows > cfg.max_size:
        dropped["max_size"] = kept.num_rows - cfg.max_size
        kept = kept.slice(0, cfg.max_size)
    if kept.num_rows == 0:
        raise VocabError(
            f"vocabulary is empty: {counts.num_rows} distinct terms, none kept by vocab.min_count={cfg.min_count}, "
            f"min_df={cfg.min_df} ({low} docs), max_df={cfg.max_df} ({high} docs) over {num_docs} documents; "
            "lower min_count/min_df or raise max_df"
        )
    table = pa.table(
        [pa.array(np.arange(kept.num_rows, dtype=np.int32)), kept["term"], kept["count"], kept["df"]], schema=SCHEMA
    )
    return table, dropped


def build(cfg: VocabConfig, out: ArtifactWriter, *, tokens: Artifact) -> dict[str, Any]:
    merged = fold_parts(vocab_task, [(p,) for p in tokens.parts()], "vocab", fold_counts)
    num_docs, counts = merged["rows"], merged["counts"]
    table, dropped = select(counts, cfg, num_docs)
    out.write("parts/part-00000-0000.parquet", table, SCHEMA)
    return {
        "rows": table.num_rows,
        "num_docs": num_docs,
        "num_tokens": int(pc.sum(counts["count"]).as_py() or 0),
        "types_seen": counts.num_rows,
        "dropped": dropped,
    }


def load(vocab: Artifact) -> pa.Table:
    """The vocab table (vocabulary-sized, fine to hold)."""
    return vocab.read_table()
