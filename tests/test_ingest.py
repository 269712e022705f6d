"""Ingest: every input format, stable made-up ids, bad bytes counted, and errors that name file, line, field."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stage_util import run

from lexiflow.config import Config
from lexiflow.store import Artifact, ArtifactStore
from tasks import ingest
from tasks.ingest import CorpusError


def build(store: ArtifactStore, path: Path, **corpus: object) -> Artifact:
    cfg = Config.model_validate({"corpus": {"path": str(path), **corpus}})
    return run(ingest, cfg, store, source=ingest.discover(cfg.corpus))


def rows(artifact: Artifact) -> list[dict]:
    return artifact.read_table().to_pylist()


def test_parquet_keeps_columns_and_order(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(
        pa.table({"doc_id": ["a", "b"], "text": ["one", "two"], "title": ["A", None], "label": ["x", "y"]}), path
    )
    art = build(store, path)
    assert rows(art) == [
        {"doc_id": "a", "text": "one", "title": "A", "label": "x"},
        {"doc_id": "b", "text": "two", "title": None, "label": "y"},
    ]
    assert art.read_table().schema == ingest.SCHEMA
    assert art.figures["rows"] == 2 and art.figures["bad_bytes"] == 0


def test_parquet_without_id_column_gets_stable_ids(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["one", "two", "three"]}), path)
    assert [r["doc_id"] for r in rows(build(store, path))] == ["c.parquet:0", "c.parquet:1", "c.parquet:2"]


def test_parquet_partitions_of_partition_rows(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"doc_id": [f"d{i}" for i in range(25)], "text": ["t"] * 25}), path, row_group_size=5)
    art = build(store, path, partition_rows=10)
    sizes = [pq.read_metadata(p).num_rows for p in art.parts()]
    assert sizes == [10, 10, 5]
    assert [r["doc_id"] for r in rows(art)] == [f"d{i}" for i in range(25)]


def test_lines_partitions_of_partition_rows(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("".join(f"line {i}\n" for i in range(25)))
    art = build(store, path, partition_rows=10)
    assert [pq.read_metadata(p).num_rows for p in art.parts()] == [10, 10, 5]
    assert rows(art)[0] == {"doc_id": "c.txt:1", "text": "line 0", "title": None, "label": None}


def test_jsonl(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"doc_id": 7, "text": "seven", "title": "T"}) + "\n\n" + json.dumps({"text": "eight"}) + "\n"
    )
    assert rows(build(store, path)) == [
        {"doc_id": "7", "text": "seven", "title": "T", "label": None},
        {"doc_id": "c.jsonl:3", "text": "eight", "title": None, "label": None},
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.jsonl", '{"text": "ok"}\n{"text": oops}\n', r"c\.jsonl:2: not valid JSON"),
        ("c.jsonl", '{"text": "tab\there"}\n', r"c\.jsonl:1: not valid JSON \(Invalid control character at col"),
        ("c.jsonl", '{"text": "ok"}\n{"body": "no text"}\n', r"c\.jsonl:2: field 'text' is missing"),
        ("c.jsonl", '{"text": 5}\n', r"c\.jsonl:1: field 'text' is of type int, not a string"),
        ("c.jsonl", '["text"]\n', r"c\.jsonl:1: expected a JSON object"),
        ("c.csv", "body\nhello\n", r"c\.csv:1: no column 'text'"),
    ],
)
def test_bad_input_names_file_line_and_field(
    store: ArtifactStore, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CorpusError, match=message):
        build(store, path)
    assert not list(store.artifacts())


def test_csv(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('text,label\n"hello, world",greeting\nsecond,\n')
    assert rows(build(store, path)) == [
        {"doc_id": "c.csv:2", "text": "hello, world", "title": None, "label": "greeting"},
        {"doc_id": "c.csv:3", "text": "second", "title": None, "label": None},
    ]


def test_parquet_missing_text_column_names_it(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(CorpusError, match=r"c\.parquet: no column 'text'"):
        build(store, path)


def test_text_column_is_configurable(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"key": ["k"], "body": ["x"]}), path)
    assert rows(build(store, path, text_column="body", id_column="key"))[0]["doc_id"] == "k"


def test_folder_of_txt_is_one_doc_per_file(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("second\nfile")
    (folder / "a.txt").write_text("first file")
    (folder / "sub" / "c.txt").write_text("third")
    (folder / ".hidden.txt").write_text("skipped")
    assert rows(build(store, folder)) == [
        {"doc_id": "a.txt", "text": "first file", "title": "a", "label": None},
        {"doc_id": "b.txt", "text": "second\nfile", "title": "b", "label": None},
        {"doc_id": "sub/c.txt", "text": "third", "title": "c", "label": None},
    ]


def test_undecodable_bytes_are_replaced_and_counted(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"caf\xe9 ok\n\xff\xfe two bad\nclean \xc3\xa9\n")
    art = build(store, path)
    assert [r["text"] for r in rows(art)] == ["caf\ufffd ok", "\ufffd\ufffd two bad", "clean é"]
    assert art.figures["bad_bytes"] == 3
    assert art.manifest["figures"]["bad_bytes"] == 3


def test_undecodable_bytes_in_csv_and_jsonl_are_counted(store: ArtifactStore, tmp_path: Path) -> None:
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes(b"text\nbad \xff byte\n")
    art = build(store, csv_path)
    assert rows(art)[0]["text"] == "bad \ufffd byte" and art.figures["bad_bytes"] == 1
    json_path = tmp_path / "j.jsonl"
    json_path.write_bytes(b'{"text": "bad \xff\xff"}\n')
    art = build(store, json_path)
    assert rows(art)[0]["text"] == "bad \ufffd\ufffd" and art.figures["bad_bytes"] == 2


def test_empty_corpus_is_a_clear_error(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), path)
    with pytest.raises(CorpusError, match="empty"):
        build(store, path)
    empty = tmp_path / "e.txt"
    empty.write_text("")
    with pytest.raises(CorpusError, match="empty"):
        build(store, empty)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CorpusError, match="no readable files"):
        build(store, tmp_path / "nothing")
    with pytest.raises(CorpusError, match="no such file"):
        build(store, tmp_path / "missing.parquet")


def test_duplicate_doc_id_is_named(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"doc_id": ["a", "dup-1", "b", "dup-1"], "text": ["1", "2", "3", "4"]}), path)
    with pytest.raises(CorpusError, match=r"repeated doc_id.*dup-1"):
        build(store, path)
    assert not list(store.artifacts())


def test_duplicate_doc_id_across_partitions(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"doc_id": f"d{i % 7}", "text": "x"}) + "\n" for i in range(8)))
    with pytest.raises(CorpusError, match=r"d0"):
        build(store, path, partition_rows=3)


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("a\n")
    cfg = Config.model_validate({"corpus": {"path": str(path)}}).corpus
    first = ingest.discover(cfg).fingerprint
    assert ingest.discover(cfg).fingerprint == first
    path.write_text("b\n")
    assert ingest.discover(cfg).fingerprint != first
