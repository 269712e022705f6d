"""Ingest: corpus files (Parquet, JSONL, CSV, plain text; local or fsspec URL) into bounded partitions.

Each task reads one file (or one slice of row groups, or one group of small text files) and writes parts
of at most `partition_rows` documents, so neither a worker nor the driver ever holds the whole corpus.
Undecodable bytes become U+FFFD and are counted, never fatal; structural problems (bad JSON, a missing
column) are errors that name the file, line and field.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lexiflow.config import CorpusConfig
from lexiflow.hashing import hash_strings
from lexiflow.parallel import map_parts
from lexiflow.store import ArtifactWriter, read_table, write_table

NAME = "ingest"
VERSION = 1
SECTION = "corpus"
USES_DASK = True
KEY_IGNORES = ("path",)  # the corpus is keyed by its content fingerprint, wherever it lies

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("label", pa.string()),
    ]
)

_EXT_FORMAT = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".txt": "txt",
    ".text": "txt",
}


class CorpusError(ValueError):
    """Input that cannot become a corpus; the message names the file, line or field."""


@dataclass(frozen=True)
class SourceFile:
    url: str
    name: str  # path relative to the corpus root: the stable base of made-up doc ids
    format: str
    size: int


@dataclass(frozen=True)
class Source:
    """The files of a corpus and their content fingerprint (the ingest stage's input key)."""

    path: str
    files: tuple[SourceFile, ...]
    fingerprint: str


def _format_of(name: str, requested: str, single_file: bool) -> str | None:
    if requested not in ("auto", "txt"):
        return requested
    ext = os.path.splitext(name)[1].lower()
    fmt = _EXT_FORMAT.get(ext)
    if fmt == "txt" and requested == "auto" and single_file:
        return "lines"  # one text file: one document per line; a folder of them: one document per file
    if requested == "txt":
        return "txt"
    return fmt


def _content_hash(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with fs.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(cfg: CorpusConfig) -> Source:
    """List the corpus files and fingerprint their content; a missing or empty corpus is an error here."""
    fs, root = fsspec.core.url_to_fs(cfg.path)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    prefix = "" if protocol == "file" else f"{protocol}://"
    if not fs.exists(root):
        raise CorpusError(f"corpus {cfg.path}: no such file or folder")
    if fs.isdir(root):
        paths = sorted(p for p in fs.find(root) if not os.path.basename(p).startswith("."))
        if cfg.include:
            paths = [p for p in paths if any(fnmatch.fnmatch(os.path.relpath(p, root), g) for g in cfg.include)]
        single = False
    else:
        paths, single = [root], True
    files = []
    for path in paths:
        fmt = _format_of(path, cfg.format, single)
        if fmt is None:
            log.info("ingest: skipping %s (unknown extension; set corpus.format to read it)", path)
            continue
        name = os.path.basename(path) if single else os.path.relpath(path, root)
        files.append(SourceFile(url=prefix + path, name=name, format=fmt, size=int(fs.size(path) or 0)))
    if not files:
        raise CorpusError(f"corpus {cfg.path}: no readable files (parquet, jsonl, csv, txt) found")
    digest = hashlib.blake2b(digest_size=16)
    for f in files:
        digest.update(f"{f.name}\0{f.format}\0{f.size}\0".encode())
        digest.update(_content_hash(fs, fsspec.core.url_to_fs(f.url)[1]).encode())
    return Source(path=cfg.path, files=tuple(files), fingerprint=digest.hexdigest())


# Decoding ----------------------------------------------------------------------------------------------

_ESCAPED = re.compile("[\udc80-\udcff]")
_BOM = "\ufeff"


def repair(text: str) -> tuple[str, int]:
    """Text decoded with surrogateescape: each undecodable byte becomes U+FFFD and is counted."""
    bad = len(_ESCAPED.findall(text))
    return (_ESCAPED.sub("\ufffd", text), bad) if bad else (text, 0)


def decode(raw: bytes) -> tuple[str, int]:
    """UTF-8 with undecodable bytes replaced and counted; NUL bytes become spaces (no text needs them)."""
    try:
        text, bad = raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        text, bad = repair(raw.decode("utf-8", "surrogateescape"))
    return (text.replace("\x00", " ") if "\x00" in text else text), bad


def looks_binary(sample: bytes) -> bool:
    """A file whose first block has NUL bytes among many control bytes is not text (an image, an archive)."""
    if b"\x00" not in sample:
        return False
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control > 0.1 * len(sample)


# Readers: each yields dict rows {doc_id, text, title, label}; `stats` counts what was repaired or skipped ----


class Stats(dict):
    """Counters a reader fills in: bad_bytes, skipped_records, skipped_files (with a few examples)."""

    def __init__(self) -> None:
        super().__init__(bad_bytes=0, skipped_records=0, skipped_files=0, examples=[])

    def skip(self, what: str, cfg: CorpusConfig, files: bool = False) -> None:
        """Count a skipped record or file, or raise when corpus.on_error says a bad record stops the run."""
        if cfg.on_error == "fail" and not files:
            raise CorpusError(f"{what} (set corpus.on_error: skip to skip and count such records)")
        self["skipped_files" if files else "skipped_records"] += 1
        if len(self["examples"]) < 5:
            self["examples"].append(what)


def _field(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _jsonl_rows(f: SourceFile, cfg: CorpusConfig, stats: Stats) -> Iterator[dict[str, Any]]:
    with fsspec.open(f.url, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line, bad = decode(raw)
            stats["bad_bytes"] += bad
            if lineno == 1:
                line = line.removeprefix(_BOM)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                what = exc.msg.removesuffix(" at")  # json's "Invalid control character at"
                stats.skip(f"{f.url}:{lineno}: not valid JSON ({what} at column {exc.colno})", cfg)
                continue
            if not isinstance(obj, dict):
                stats.skip(f"{f.url}:{lineno}: expected a JSON object, got {type(obj).__name__}", cfg)
                continue
            text = obj.get(cfg.text_column)
            if not isinstance(text, str):
                what = "missing" if text is None else f"of type {type(text).__name__}, not a string"
                stats.skip(f"{f.url}:{lineno}: field {cfg.text_column!r} is {what}", cfg)
                continue
            doc_id = _field(obj, cfg.id_column)
            yield {
                "doc_id": doc_id if doc_id is not None else f"{f.name}:{lineno}",
                "text": text.replace("\x00", " "),
                "title": _field(obj, cfg.title_column),
                "label": _field(obj, cfg.label_column),
            }


def _csv_rows(f: SourceFile, cfg: CorpusConfig, stats: Stats) -> Iterator[dict[str, Any]]:
    csv.field_size_limit(sys.maxsize)
    with fsspec.open(f.url, "rb") as raw:
        text_io = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.DictReader(line.replace("\x00", " ") for line in text_io)
        header = reader.fieldnames or []
        if cfg.text_column not in header:
            raise CorpusError(f"{f.url}:1: no column {cfg.text_column!r} in the header (columns: {header})")
        for row in reader:
            fixed = {}
            for key in (cfg.text_column, cfg.id_column, cfg.title_column, cfg.label_column):
                value = row.get(key)
                if value is not None:
                    value, bad = repair(value)
                    stats["bad_bytes"] += bad
                fixed[key] = value
            if fixed[cfg.text_column] is None:
                stats.skip(f"{f.url}:{reader.line_num}: row has fewer fields than the header", cfg)
                continue
            yield {
                "doc_id": fixed[cfg.id_column] or f"{f.name}:{reader.line_num}",
                "text": fixed[cfg.text_column],
                "title": fixed[cfg.title_column] or None,
                "label": fixed[cfg.label_column] or None,
            }


def _line_rows(f: SourceFile, cfg: CorpusConfig, stats: Stats) -> Iterator[dict[str, Any]]:
    with fsspec.open(f.url, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text, bad = decode(raw.rstrip(b"\r\n"))
            stats["bad_bytes"] += bad
            if lineno == 1:
                text = text.removeprefix(_BOM)
            yield {"doc_id": f"{f.name}:{lineno}", "text": text, "title": None, "label": None}


def _txt_rows(files: list[SourceFile], cfg: CorpusConfig, stats: Stats) -> Iterator[dict[str, Any]]:
    for f in files:
        with fsspec.open(f.url, "rb") as fh:
            raw = fh.read()
        if looks_binary(raw[:8192]):
            stats.skip(f"{f.url}: binary file, not text", cfg, files=True)
            continue
        text, bad = decode(raw)
        stats["bad_bytes"] += bad
        title = os.path.splitext(os.path.basename(f.name))[0]
        yield {"doc_id": f.name, "text": text.removeprefix(_BOM), "title": title, "label": None}


def _parquet_batches(
    f: SourceFile, cfg: CorpusConfig, row_groups: list[int], first_row: int
) -> Iterator[pa.Table]:
    with fsspec.open(f.url, "rb") as fh:
        pfile = pq.ParquetFile(fh)
        names = pfile.schema_arrow.names
        if cfg.text_column not in names:
            raise CorpusError(f"{f.url}: no column {cfg.text_column!r} (columns: {names})")
        wanted = [c for c in (cfg.id_column, cfg.text_column, cfg.title_column, cfg.label_column) if c in names]
        row = first_row
        for batch in pfile.iter_batches(
            batch_size=cfg.partition_rows, row_groups=row_groups, columns=list(dict.fromkeys(wanted))
        ):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            if cfg.id_column in names:
                ids = pc.cast(table[cfg.id_column], pa.string())
                if ids.null_count:
                    at = row + int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
                    raise CorpusError(f"{f.url}: row {at}: field {cfg.id_column!r} is null")
            else:
                ids = pa.array([f"{f.name}:{i}" for i in range(row, row + n)], pa.string())
            text = table[cfg.text_column]
            if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
                text = pa.array([None if v is None else decode(v)[0] for v in text.to_pylist()], pa.large_string())
            text = pc.cast(text, pa.large_string())
            if text.null_count:
                text = pc.fill_null(text, "")

            def optional(col: str, n: int = n, table: pa.Table = table) -> pa.ChunkedArray | pa.Array:
                if col in names and col != cfg.text_column:
                    return pc.cast(table[col], pa.string())
                return pa.nulls(n, pa.string())

            yield pa.table(
                [ids, text, optional(cfg.title_column), optional(cfg.label_column)], schema=SCHEMA
            )
            row += n


def _rows_to_tables(rows: Iterator[dict[str, Any]], size: int) -> Iterator[pa.Table]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield pa.Table.from_pylist(batch, schema=SCHEMA)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=SCHEMA)


def ingest_task(task: dict[str, Any], cfg_json: dict[str, Any], out_dir: str, index: int) -> dict[str, Any]:
    """Read one unit of input and write its parts; returns counts and id hashes for the global checks."""
    cfg = CorpusConfig.model_validate(cfg_json)
    files = [SourceFile(**f) for f in task["files"]]
    stats = Stats()
    fmt = task["format"]
    if fmt == "parquet":
        tables: Iterator[pa.Table] = _parquet_batches(files[0], cfg, task["row_groups"], task["first_row"])
    elif fmt == "txt":
        tables = _rows_to_tables(_txt_rows(files, cfg, stats), cfg.partition_rows)
    else:
        reader = {"jsonl": _jsonl_rows, "csv": _csv_rows, "lines": _line_rows}[fmt]
        tables = _rows_to_tables(reader(files[0], cfg, stats), cfg.partition_rows)
    writer = ArtifactWriter(stage=NAME, key="", url=out_dir)
    rows, parts = 0, []
    for sub, table in enumerate(tables):
        path = writer.part(index, sub)
        write_table(path, table, SCHEMA)
        rows += table.num_rows
        parts.append((path, hash_strings(table["doc_id"])))
    return {"rows": rows, "parts": parts, **stats}


def plan(source: Source, cfg: CorpusConfig) -> list[dict[str, Any]]:
    """Split the input into tasks: Parquet by row groups, text files in groups, other formats per file."""
    tasks: list[dict[str, Any]] = []
    txt = [f for f in source.files if f.format == "txt"]
    for f in source.files:
        if f.format == "parquet":
            with fsspec.open(f.url, "rb") as fh:
                meta = pq.ParquetFile(fh).metadata
            group: list[int] = []
            first, rows = 0, 0
            for rg in range(meta.num_row_groups):
                group.append(rg)
                rows += meta.row_group(rg).num_rows
                if rows - first >= cfg.partition_rows:
                    tasks.append({"format": "parquet", "files": [vars(f)], "row_groups": group, "first_row": first})
                    group, first = [], rows
            if group or meta.num_row_groups == 0:
                tasks.append({"format": "parquet", "files": [vars(f)], "row_groups": group, "first_row": first})
        elif f.format != "txt":
            tasks.append({"format": f.format, "files": [vars(f)]})
    for start in range(0, len(txt), cfg.partition_rows):
        tasks.append({"format": "txt", "files": [vars(f) for f in txt[start : start + cfg.partition_rows]]})
    return tasks


def _duplicate_ids(parts: list[tuple[str, np.ndarray]], dup_hashes: np.ndarray) -> list[str]:
    found: list[str] = []
    for path, hashes in parts:
        mask = np.isin(hashes, dup_hashes)
        if mask.any():
            found.extend(read_table(path, ["doc_id"])["doc_id"].filter(pa.array(mask)).to_pylist())
        if len(found) >= 5:
            break
    return sorted(set(found))[:5]


def _keep_last(parts: list[tuple[str, np.ndarray]], hashes: np.ndarray) -> None:
    """Drop every earlier occurrence of a repeated doc_id, rewriting only the parts that had one."""
    reverse_first = np.unique(hashes[::-1], return_index=True)[1]
    keep = np.zeros(len(hashes), dtype=bool)
    keep[len(hashes) - 1 - reverse_first] = True
    start = 0
    for path, part_hashes in parts:
        mask = keep[start : start + len(part_hashes)]
        start += len(part_hashes)
        if not mask.all():
            write_table(path, read_table(path).filter(pa.array(mask)), SCHEMA)


def build(cfg: CorpusConfig, out: ArtifactWriter, *, source: Source) -> dict[str, Any]:
    tasks = plan(source, cfg)
    cfg_json = cfg.model_dump(mode="json")
    results = map_parts(ingest_task, [(t, cfg_json, out.url, i) for i, t in enumerate(tasks)], "ingest")
    parts = [part for r in results for part in r["parts"]]
    rows = sum(r["rows"] for r in results)
    if rows == 0:
        raise CorpusError(f"corpus {source.path}: empty — {len(source.files)} file(s) read, no documents in them")
    hashes = np.concatenate([h for _, h in parts])
    uniq, counts = np.unique(hashes, return_counts=True)
    dropped = len(hashes) - len(uniq)
    if dropped and cfg.duplicates == "error":
        dups = _duplicate_ids(parts, uniq[counts > 1])
        raise CorpusError(
            f"corpus {source.path}: {dropped} repeated doc_id value(s), e.g. {dups}; doc ids must be unique "
            f"(column {cfg.id_column!r}), or set corpus.duplicates: keep_last"
        )
    if dropped:
        _keep_last(parts, hashes)
        log.warning("ingest: %d earlier copies of repeated doc ids dropped (corpus.duplicates: keep_last)", dropped)
    figures: dict[str, Any] = {k: sum(r[k] for r in results) for k in ("bad_bytes", "skipped_records",
                                                                        "skipped_files")}
    if figures["bad_bytes"]:
        log.warning("ingest: %d undecodable byte(s) replaced by U+FFFD", figures["bad_bytes"])
    examples = [e for r in results for e in r["examples"]][:5]
    if figures["skipped_records"] or figures["skipped_files"]:
        log.warning("ingest: skipped %d record(s) and %d file(s), e.g. %s", figures["skipped_records"],
                    figures["skipped_files"], examples)
    return {
        "rows": rows - dropped,
        "docs": rows - dropped,
        "files": len(source.files),
        "parts": len(parts),
        **figures,
        "skipped_examples": examples,
        "duplicates_dropped": dropped,
        "source": source.path,
        "fingerprint": source.fingerprint,
    }
