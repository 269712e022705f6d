"""Artifact hygiene: listing with sizes and refs, showing a manifest, collecting what no ref reaches."""

from __future__ import annotations

import json
import os
import time

import pyarrow as pa
import pytest

from lexiflow import inventory
from lexiflow.store import ArtifactStore


def _publish(store: ArtifactStore, stage: str, key: str, rows: int, finished: float):
    out = store.writer(stage, key)
    out.write("parts/part-00000-0000.parquet", pa.table({"x": list(range(rows))}))
    return store.publish(out, {"stage": stage, "key": key, "rows": rows, "parts": 1,
                               "timings": {"finished": finished}})


def test_ls_show_and_gc_keep_what_refs_reach(tmp_path):
    store = ArtifactStore(str(tmp_path))
    old = time.time() - 7200
    kept = _publish(store, "vocab", "aaaa1111", 3, old)
    orphan = _publish(store, "vocab", "bbbb2222", 5, old)
    fresh = _publish(store, "tokens", "cccc3333", 2, time.time())  # a running build's: too young to collect
    store.write_ref("default", {"vocab": kept})
    stale_tmp = store.writer("lsa", "dddd")
    os.utime(stale_tmp.url, (old, old))

    listed = {(e.artifact.stage, e.artifact.key): e for e in inventory.entries(store)}
    assert set(listed) == {("vocab", "aaaa1111"), ("vocab", "bbbb2222"), ("tokens", "cccc3333")}
    assert listed[("vocab", "aaaa1111")].refs == ("default",) and listed[("vocab", "bbbb2222")].refs == ()
    assert all(e.bytes > 0 for e in listed.values())
    assert inventory.find(store, "bbbb").key == "bbbb2222"
    with pytest.raises(FileNotFoundError):
        inventory.find(store, "zzzz")

    dry = inventory.gc(store, dry_run=True)
    assert [e.artifact.key for e in dry.removed] == ["bbbb2222"] and store.get("vocab", "bbbb2222") is not None
    result = inventory.gc(store)
    assert [e.artifact.key for e in result.removed] == [orphan.key]
    assert result.temp_removed == [stale_tmp.url]
    assert store.get("vocab", "bbbb2222") is None and not os.path.exists(stale_tmp.url)
    assert store.get("vocab", "aaaa1111") is not None and store.get("tokens", fresh.key) is not None
    assert json.loads((tmp_path / "refs" / "default.json").read_text())["artifacts"] == {"vocab": "aaaa1111"}
