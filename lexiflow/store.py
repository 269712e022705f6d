"""Content-keyed artifact store: `ROOT/<stage>/<key>/` holding Parquet parts, side files and `manifest.json`.

An artifact exists only once its manifest does, and the manifest is written last inside a temp folder that
is then renamed into place. A killed run therefore leaves at most a `.tmp-*` folder that no reader trusts,
and two runs racing on one key end with one published artifact (the loser's rename fails; it reuses the
winner's). Refs (`ROOT/refs/<name>.json`) name the artifacts of a finished build and move atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PARTS = "parts"
COMPRESSION = "zstd"
NOT_STAGES = ("refs", "reports")  # folders under ROOT that hold build names and build reports, not artifacts


def artifact_key(stage: str, version: int, config: dict[str, Any], inputs: dict[str, str]) -> str:
    """Hash of what determines the output: stage, its version, its config section and its inputs' keys."""
    blob = json.dumps(
        {"stage": stage, "version": version, "config": config, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def write_table(path: str, table: pa.Table, schema: pa.Schema | None = None) -> None:
    """Write one Parquet file with the declared schema, so empty or all-null tables keep their types."""
    if schema is not None and table.schema != schema:
        table = table.cast(schema)
    fs, local = _fs(path)
    fs.makedirs(os.path.dirname(local), exist_ok=True)
    pq.write_table(table, local, filesystem=fs, compression=COMPRESSION)


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, local = _fs(path)
    return pq.read_table(local, filesystem=fs, columns=columns)


def write_json(path: str, data: Any) -> None:
    fs, local = _fs(path)
    with fs.open(local, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)


def file_digest(path: str) -> str:
    """Content hash of one file (a partition), for reusing work done on identical input."""
    fs, local = _fs(path)
    digest = hashlib.blake2b(digest_size=16)
    with fs.open(local, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_file(src: str, dst: str) -> None:
    """Hard link when both are local (free), else a copy."""
    fs_src, src_path = _fs(src)
    fs_dst, dst_path = _fs(dst)
    if _is_local(fs_src) and _is_local(fs_dst):
        os.makedirs(os.path.dirname(dst_path), exist_ok=True)
        try:
            os.link(src_path, dst_path)
            return
        except OSError:
            shutil.copyfile(src_path, dst_path)
            return
    fs_dst.makedirs(os.path.dirname(dst_path), exist_ok=True)
    with fs_src.open(src_path, "rb") as r, fs_dst.open(dst_path, "wb") as w:
        shutil.copyfileobj(r, w)


def reuse_part(cache_url: str | None, key: str, out_part: str, make: Callable[[], Any]) -> bool:
    """Produce `out_part` from the part cache when an identical input was processed before, else `make()` it.

    Cache entries are published by rename, so a killed task never leaves a truncated entry. Returns True
    on a cache hit.
    """
    if cache_url is None:
        make()
        return False
    cached = join(cache_url, f"{key}.parquet")
    fs, cached_path = _fs(cached)
    if fs.exists(cached_path):
        copy_file(cached, out_part)
        return True
    make()
    tmp = f"{cached}.tmp-{uuid.uuid4().hex[:8]}"
    copy_file(out_part, tmp)
    tmp_path = _fs(tmp)[1]
    if _is_local(fs):
        os.replace(tmp_path, cached_path)
    else:
        fs.mv(tmp_path, cached_path)
    return False


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)


def list_files(url: str) -> list[str]:
    """Every file under a folder, as sorted '/'-separated paths relative to it."""
    fs, local = _fs(url)
    root = local.rstrip("/") + "/"
    return sorted(p[len(root):] if p.startswith(root) else os.path.relpath(p, local) for p in fs.find(local))


@dataclass(frozen=True)
class Artifact:
    """A published artifact: read-only view of its folder and manifest."""

    stage: str
    key: str
    url: str
    manifest: dict[str, Any] = field(repr=False)

    def file(self, name: str) -> str:
        return join(self.url, name)

    def parts(self) -> list[str]:
        """Part files in corpus order (their names sort in order)."""
        fs, local = _fs(self.url)
        folder = join(local, PARTS)
        if not fs.exists(folder):
            return []
        names = sorted(p for p in fs.ls(folder, detail=False) if p.endswith(".parquet"))
        prefix = self.url[: len(self.url) - len(local)] if self.url.endswith(local) else ""
        return [prefix + p if prefix else p for p in names]

    @property
    def figures(self) -> dict[str, Any]:
        return self.manifest.get("figures", {})

    @property
    def num_rows(self) -> int:
        return int(self.manifest.get("rows", 0))

    def read_table(self, name: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """Read a side table by file name, or all parts concatenated (only for artifacts known to be small)."""
        if name is not None:
            return read_table(self.file(name), columns)
        tables = [read_table(p, columns) for p in self.parts()]
        if not tables:
            raise FileNotFoundError(f"{self.url}: artifact has no parts")
        return pa.concat_tables(tables)

    def iter_batches(self, columns: list[str] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Stream the parts in order, a bounded batch at a time."""
        for part in self.parts():
            fs, local = _fs(part)
            with fs.open(local, "rb") as fh:
                yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=columns)


@dataclass
class ArtifactWriter:
    """Where a stage writes its output: a private temp folder, published only by the store."""

    stage: str
    key: str
    url: str
    cache_url: str | None = None  # ROOT/<stage>/.parts: outputs of single parts, reused across builds

    def file(self, name: str) -> str:
        return join(self.url, name)

    def part(self, index: int, sub: int = 0) -> str:
        """Part `sub` of task `index`: names sort in corpus order whatever order tasks finish in."""
        return join(self.url, PARTS, f"part-{index:05d}-{sub:04d}.parquet")

    def part_for(self, source_part: str) -> str:
        """The output part that mirrors an input part, for stages that map partitions one to one."""
        return join(self.url, PARTS, os.path.basename(source_part))

    def write(self, name: str, table: pa.Table, schema: pa.Schema | None = None) -> None:
        write_table(self.file(name), table, schema)

    def local_path(self, name: str) -> str:
        """A local filesystem path for libraries (faiss, gensim) that cannot write through fsspec."""
        fs, local = _fs(self.file(name))
        if not _is_local(fs):
            raise NotImplementedError(f"{self.stage}: writing {name} needs a local store root, got {self.url}")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        return local


class ArtifactStore:
    """The artifact store under one root (a local path or an fsspec URL)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self.fs, self._root_path = _fs(self.root)
        if _is_local(self.fs):
            self.root = os.path.abspath(self._root_path)
            self._root_path = self.root

    def _url(self, *parts: str) -> str:
        return join(self.root, *parts)

    def get(self, stage: str, key: str) -> Artifact | None:
        """The published artifact, or None: a folder without a manifest is not an artifact."""
        url = self._url(stage, key)
        try:
            with self.fs.open(join(_fs(url)[1], MANIFEST), "r") as fh:
                manifest = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Artifact(stage=stage, key=key, url=url, manifest=manifest)

    def writer(self, stage: str, key: str) -> ArtifactWriter:
        url = self._url(stage, f".tmp-{key}-{uuid.uuid4().hex[:8]}")
        self.fs.makedirs(_fs(url)[1], exist_ok=True)
        return ArtifactWriter(stage=stage, key=key, url=url, cache_url=self._url(stage, ".parts"))

    def publish(self, writer: ArtifactWriter, manifest: dict[str, Any]) -> Artifact:
        """Write the manifest last, then rename the temp folder into place; a racing winner is reused."""
        write_json(writer.file(MANIFEST), manifest)
        final = self._url(writer.stage, writer.key)
        tmp_path, final_path = _fs(writer.url)[1], _fs(final)[1]
        try:
            if _is_local(self.fs):
                os.rename(tmp_path, final_path)
            else:
                if self.fs.exists(join(final_path, MANIFEST)):
                    raise FileExistsError(final_path)
                self.fs.mv(tmp_path, final_path, recursive=True)
        except OSError:
            existing = self.get(writer.stage, writer.key)
            if existing is None:
                raise
            log.info("%s: another run published %s first; reusing it", writer.stage, writer.key)
            self.abort(writer)
            return existing
        published = self.get(writer.stage, writer.key)
        if published is None:
            raise RuntimeError(f"{final}: published artifact has no readable manifest")
        return published

    def abort(self, writer: ArtifactWriter) -> None:
        """Remove a temp folder; nothing in it was ever visible to readers."""
        path = _fs(writer.url)[1]
        if _is_local(self.fs):
            shutil.rmtree(path, ignore_errors=True)
        elif self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def artifacts(self) -> Iterator[Artifact]:
        """Every published artifact, stage by stage."""
        if not self.fs.exists(self._root_path):
            return
        for stage_dir in sorted(self.fs.ls(self._root_path, detail=False)):
            stage = os.path.basename(stage_dir.rstrip("/"))
            if stage in NOT_STAGES or stage.startswith("."):
                continue
            for key_dir in sorted(self.fs.ls(stage_dir, detail=False)):
                key = os.path.basename(key_dir.rstrip("/"))
                if key.startswith("."):
                    continue
                artifact = self.get(stage, key)
                if artifact is not None:
                    yield artifact

    def size(self, artifact: Artifact) -> int:
        """Bytes on disk of one artifact."""
        path = _fs(artifact.url)[1]
        return int(sum(self.fs.du(path, total=False).values())) if self.fs.exists(path) else 0

    def remove(self, artifact: Artifact) -> None:
        """Delete an artifact: its manifest first, so a reader never trusts a half-deleted folder."""
        path = _fs(artifact.url)[1]
        self.fs.rm(join(path, MANIFEST))
        if _is_local(self.fs):
            shutil.rmtree(path, ignore_errors=True)
        else:
            self.fs.rm(path, recursive=True)

    def temp_folders(self) -> Iterator[tuple[str, float]]:
        """Leftover `.tmp-*` folders (from killed or running builds) with their modification times."""
        if not self.fs.exists(self._root_path):
            return
        for stage_dir in self.fs.ls(self._root_path, detail=False):
            if os.path.basename(stage_dir.rstrip("/")) in NOT_STAGES or not self.fs.isdir(stage_dir):
                continue
            for entry in self.fs.ls(stage_dir, detail=True):
                if os.path.basename(entry["name"].rstrip("/")).startswith(".tmp-"):
                    mtime = entry.get("mtime") or entry.get("LastModified") or 0
                    yield entry["name"], float(mtime.timestamp() if hasattr(mtime, "timestamp") else mtime)

    def remove_temp(self, path: str) -> None:
        self.fs.rm(path, recursive=True)

    # Refs -----------------------------------------------------------------------------------------------

    def _ref_path(self, name: str) -> str:
        return join(self._root_path, "refs", f"{name}.json")

    def write_ref(self, name: str, artifacts: dict[str, Artifact], extra: dict[str, Any] | None = None) -> None:
        """Point `name` at a finished build; the rename makes the move atomic for readers."""
        body = {
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "artifacts": {role: a.key for role, a in artifacts.items()},
            # The stage folder, where it differs from the role (a retrain's corpus is a corpus_union).
            "stages": {role: a.stage for role, a in artifacts.items() if a.stage != role},
            **(extra or {}),
        }
        path = self._ref_path(name)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(os.path.dirname(path), exist_ok=True)
        with self.fs.open(tmp, "w") as fh:
            json.dump(body, fh, indent=2, sort_keys=True)
        if _is_local(self.fs):
            os.replace(tmp, path)
        else:
            self.fs.mv(tmp, path)

    def read_ref(self, name: str) -> dict[str, Any]:
        path = self._ref_path(name)
        try:
            with self.fs.open(path, "r") as fh:
                return json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no build named {name!r} under {self.root} (looked for {path}); run `lexiflow run` first"
            ) from None

    def resolve(self, name: str) -> dict[str, Artifact]:
        """The artifacts a ref names; a missing one means the store was tampered with, and is an error."""
        ref = self.read_ref(name)
        out: dict[str, Artifact] = {}
        for role, key in ref["artifacts"].items():
            stage = ref.get("stages", {}).get(role, role)
            artifact = self.get(stage, key)
            if artifact is None:
                raise FileNotFoundError(f"ref {name!r} names {stage}/{key}, which is not in {self.root}")
            out[role] = artifact
        return out

    def refs(self) -> list[str]:
        folder = join(self._root_path, "refs")
        if not self.fs.exists(folder):
            return []
        return sorted(
            os.path.basename(p)[: -len(".json")] for p in self.fs.ls(folder, detail=False) if p.endswith(".json")
        )
