"""Bad input gets a clear error naming file, line or field, or a clean, counted result; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lexiflow.config import ConfigError, CorpusConfig, TokenizeConfig, load_config
from lexiflow.store import ArtifactStore
from tasks import ingest, tokens
from tasks.ingest import CorpusError


def _ingest(tmp_path: Path, path: Path, **settings) -> tuple[dict, pa.Table]:
    cfg = CorpusConfig(path=str(path), **settings)
    out = ArtifactStore(str(tmp_path / "store")).writer("ingest", "test")
    figures = ingest.build(cfg, out, source=ingest.discover(cfg))
    parts = sorted(Path(out.url, "parts").glob("*.parquet"))
    return figures, pa.concat_tables(pq.read_table(p) for p in parts)


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_bytes(b"caf\xe9 ol\xff\xfe")
    figures, table = _ingest(tmp_path, tmp_path / "docs")
    assert table["text"].to_pylist() == ["caf\ufffd ol\ufffd\ufffd"]
    assert figures["bad_bytes"] == 3


def test_binary_file_in_text_folder_is_skipped_and_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.txt").write_text("plain words here")
    (tmp_path / "docs" / "image.txt").write_bytes(bytes(range(256)) * 40)
    figures, table = _ingest(tmp_path, tmp_path / "docs")
    assert table["doc_id"].to_pylist() == ["good.txt"]
    assert figures["skipped_files"] == 1 and "image.txt: binary file" in figures["skipped_examples"][0]


def test_nul_bytes_bom_and_crlf(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"\xef\xbb\xbffirst line\r\nsecond\x00line\r\n\r\nfourth\n")
    _, table = _ingest(tmp_path, path)
    assert table["text"].to_pylist() == ["first line", "second line", "", "fourth"]
    assert table["doc_id"].to_pylist() == ["lines.txt:1", "lines.txt:2", "lines.txt:3", "lines.txt:4"]
    lists = tokens.tokenize(table["text"], TokenizeConfig())
    assert lists.to_pylist() == [["first", "line"], ["second", "line"], [], ["fourth"]]


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty\.jsonl: empty — 1 file\(s\) read, no documents"):
        _ingest(tmp_path, path)


def test_bad_jsonl_line_fails_with_file_and_line_or_is_skipped_and_counted(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n{"text": oops}\n{"text": "three"}\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: not valid JSON"):
        _ingest(tmp_path, path)
    figures, table = _ingest(tmp_path, path, on_error="skip")
    assert table["text"].to_pylist() == ["one", "three"]
    assert table["doc_id"].to_pylist() == ["c.jsonl:1", "c.jsonl:3"]
    assert figures["skipped_records"] == 1 and "c.jsonl:2" in figures["skipped_examples"][0]


def test_all_null_titles_in_one_partition_keep_the_string_type(tmp_path):
    path = tmp_path / "c.parquet"
    rows = [{"doc_id": str(i), "text": f"doc {i}", "title": None if i < 10 else f"t{i}"} for i in range(20)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    _, table = _ingest(tmp_path, path, partition_rows=10)
    parts = sorted((tmp_path / "store" / "ingest").glob(".tmp-*/parts/*.parquet"))
    assert len(parts) == 2
    for part in parts:
        assert pq.read_schema(part).field("title").type == pa.string()
    assert table["title"].null_count == 10


def test_duplicate_ids_error_names_one_or_keep_last(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"doc_id": d, "text": t}) for d, t in
                              [("a", "first a"), ("b", "only b"), ("a", "second a")]))
    with pytest.raises(CorpusError, match=r"repeated doc_id.*\['a'\]"):
        _ingest(tmp_path, path)
    figures, table = _ingest(tmp_path, path, duplicates="keep_last")
    assert table.to_pydict()["doc_id"] == ["b", "a"] and table.to_pydict()["text"] == ["only b", "second a"]
    assert figures["duplicates_dropped"] == 1 and figures["rows"] == 2


def test_config_errors_name_file_key_value_and_expectation(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("vocab:\n  min_count: lots\n  min_cont: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config([conf])
    message = str(err.value)
    assert f"{conf}: vocab.min_count = 'lots': Input should be a valid integer" in message
    assert f"{conf}: vocab.min_cont = 3: unknown key" in message


def test_missing_corpus_path(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder"):
        ingest.discover(CorpusConfig(path=str(tmp_path / "nope.parquet")))


def test_a_200_mb_document_goes_through_ingest_and_tokens(tmp_path):
    path = tmp_path / "big.txt"
    word = b"lexiflow streams text "
    with open(path, "wb") as fh:
        fh.write(word * (200 * 1024 * 1024 // len(word)))
    figures, table = _ingest(tmp_path, path)
    assert figures["rows"] == 1 and len(table["text"][0].as_py()) >= 200 * 1024 * 1024 - len(word)
    lists = tokens.tokenize(table["text"], TokenizeConfig())
    assert len(lists[0]) == 3 * (200 * 1024 * 1024 // len(word))
