"""Vocab: exact counts, df and term_id order on a tiny corpus; every threshold; the empty-vocab error."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from stage_util import config, ingest_texts, run

from lexiflow.store import Artifact, ArtifactStore
from tasks import tokens, vocab
from tasks.vocab import VocabError, count_terms, merge_counts

# counts a=2 b=2 c=4 d=1; df a=1 b=2 c=2 d=1; one empty document
TEXTS = ["a b a", "b c", "c c c d", ""]


def build(store: ArtifactStore, tmp_path: Path, texts: list[str] = TEXTS, **settings: object) -> Artifact:
    cfg, corpus = ingest_texts(store, tmp_path, texts, config(vocab=settings, corpus={"partition_rows": 2}))
    return run(vocab, cfg, store, tokens=run(tokens, cfg, store, corpus=corpus))


def terms(art: Artifact) -> list[tuple]:
    table = art.read_table()
    assert table.schema == vocab.SCHEMA
    return [(r["term_id"], r["term"], r["count"], r["df"]) for r in table.to_pylist()]


def test_exact_counts_df_and_order(store: ArtifactStore, tmp_path: Path) -> None:
    art = build(store, tmp_path, min_count=1)
    # by count descending, ties alphabetically; counted across two partitions
    assert terms(art) == [(0, "c", 4, 2), (1, "a", 2, 1), (2, "b", 2, 2), (3, "d", 1, 1)]
    assert art.figures["num_docs"] == 4
    assert art.figures["num_tokens"] == 9
    assert art.figures["types_seen"] == 4


def test_min_count(store: ArtifactStore, tmp_path: Path) -> None:
    art = build(store, tmp_path, min_count=2)
    assert [t[1] for t in terms(art)] == ["c", "a", "b"]
    assert art.figures["dropped"]["min_count"] == 1


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        ({"min_df": 2}, ["c", "b"]),
        ({"min_df": 0.5}, ["c", "b"]),  # ceil(0.5 * 4) = 2 documents
        ({"min_df": 0.3}, ["c", "b"]),  # ceil(1.2) = 2
        ({"max_df": 1}, ["a", "d"]),  # int: at most 1 document
        ({"max_df": 0.25}, ["a", "d"]),  # floor(1.0) = 1
        ({"max_df": 0.49}, ["a", "d"]),  # floor(1.96) = 1
        ({"max_df": 1.0}, ["c", "a", "b", "d"]),
        ({"max_size": 2}, ["c", "a"]),
        ({"min_df": 2, "max_size": 1}, ["c"]),
    ],
)
def test_thresholds(store: ArtifactStore, tmp_path: Path, settings: dict, kept: list[str]) -> None:
    art = build(store, tmp_path, min_count=1, **settings)
    assert [t[1] for t in terms(art)] == kept
    assert [t[0] for t in terms(art)] == list(range(len(kept)))


def test_empty_vocab_names_thresholds(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(VocabError) as err:
        build(store, tmp_path, min_count=100, min_df=1, max_df=0.9)
    message = str(err.value)
    for part in ("min_count=100", "min_df=1", "max_df=0.9", "4 distinct terms", "over 4 documents"):
        assert part in message
    assert [a.stage for a in store.artifacts()] == ["ingest", "tokens"]


def test_df_conflict_in_the_stage(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(VocabError, match="no term can satisfy both"):
        build(store, tmp_path, min_df=3, max_df=0.5)


def test_count_terms_and_merge() -> None:
    lists = pa.array([["x", "y", "x"], [], ["y"]], pa.list_(pa.string()))
    got = count_terms(lists).sort_by("term").to_pylist()
    assert got == [{"term": "x", "count": 2, "df": 1}, {"term": "y", "count": 2, "df": 2}]
    assert count_terms(pa.array([[], []], pa.list_(pa.string()))).num_rows == 0
    merged = merge_counts([count_terms(lists), count_terms(pa.array([["y", "z"]], pa.list_(pa.string())))])
    assert merged.sort_by("term").to_pylist() == [
        {"term": "x", "count": 2, "df": 1},
        {"term": "y", "count": 3, "df": 3},
        {"term": "z", "count": 1, "df": 1},
    ]
