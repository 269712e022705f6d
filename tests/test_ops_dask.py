"""The data-parallel stages on a real multi-process Dask cluster give the LocalCluster's artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from ops_support import check_store, dask_cluster, lexiflow

DETERMINISTIC = ("ingest", "tokens", "vocab", "bow", "tfidf")


def _corpus(path: Path) -> Path:
    """English and Chinese documents, and a jieba user dictionary that must reach every worker."""
    docs = [
        {"doc_id": f"en{i}", "text": f"Package {i} provides a fast web browser and a kernel module", "title": None,
         "label": "en"}
        for i in range(60)
    ] + [
        {"doc_id": f"zh{i}", "text": f"词向量流水线处理中文文本{i}，支持python3和机器学习。", "title": "中文",
         "label": "zh"}
        for i in range(60)
    ]
    pq.write_table(pa.Table.from_pylist(docs), path)
    return path


def _tables(store: Path, stage: str) -> pa.Table:
    ref = json.loads((store / "refs" / "default.json").read_text())
    parts = sorted((store / stage / ref["artifacts"][stage] / "parts").glob("*.parquet"))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def test_cluster_build_equals_local_build(tmp_path):
    corpus = _corpus(tmp_path / "mixed.parquet")
    userdict = tmp_path / "userdict.txt"
    userdict.write_text("词向量流水线 100 n\n", encoding="utf-8")
    common = ["--corpus", str(corpus), "--set", "corpus.partition_rows=25", "--set", f"tokenize.jieba_dict={userdict}",
              "--set", "vocab.min_count=1", "--set", "word2vec.min_count=1", "--set", "lsa.dim=8",
              "--set", "word2vec.workers=1"]
    lexiflow(["run", *common, "--store", str(tmp_path / "local")])
    with dask_cluster(tmp_path) as address:
        lexiflow(["run", *common, "--store", str(tmp_path / "cluster"), "--set", f"dask.address={address}"])
        scheduler_log = (tmp_path / "scheduler.log").read_text(errors="replace")
    local_ref = json.loads((tmp_path / "local" / "refs" / "default.json").read_text())
    cluster_ref = json.loads((tmp_path / "cluster" / "refs" / "default.json").read_text())
    for stage in DETERMINISTIC:
        assert cluster_ref["artifacts"][stage] == local_ref["artifacts"][stage]  # same inputs, same keys
        assert _tables(tmp_path / "cluster", stage).equals(_tables(tmp_path / "local", stage)), stage
    tokens = _tables(tmp_path / "cluster", "tokens").to_pylist()
    zh = [row["tokens"] for row in tokens if row["doc_id"].startswith("zh")]
    assert all("词向量流水线" in t for t in zh), "the user dictionary word must be one token on every worker"
    assert all("python3" in t for t in zh)
    # The stages ran on the external scheduler, not on a LocalCluster of the build's own.
    assert "Receive client connection" in scheduler_log
    assert check_store(tmp_path / "cluster") == len(cluster_ref["artifacts"])
