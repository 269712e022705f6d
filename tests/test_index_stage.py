"""The index stage: kind choice, measured recall@10, raised search parameters, saved and re-applied."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lexiflow.config import IndexConfig
from lexiflow.idindex import IdIndex
from lexiflow.store import Artifact, ArtifactStore
from tasks import index as index_stage


def codes_artifact(store: ArtifactStore, vecs: np.ndarray, key: str = "codes") -> Artifact:
    d = vecs.shape[1]
    schema = pa.schema([pa.field("doc_id", pa.string()), pa.field("code", pa.list_(pa.float32(), d))])
    writer = store.writer("lsa", key)
    ids = pa.array([f"d{i}" for i in range(len(vecs))])
    codes = pa.FixedSizeListArray.from_arrays(pa.array(vecs.astype(np.float32).ravel()), d)
    writer.write("parts/part-00000-0000.parquet", pa.table([ids, codes], schema=schema), schema)
    return store.publish(writer, {"rows": len(vecs), "schema_names": ["doc_id", "code"]})


def clustered(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    """Vectors around 50 centres: structure an IVF can exploit, like real codes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    return (centres[rng.integers(0, 50, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def run(tmp_path, vecs: np.ndarray, **cfg: object) -> tuple[dict, IdIndex]:
    store = ArtifactStore(str(tmp_path / "store"))
    art = codes_artifact(store, vecs)
    out = store.writer("doc_index", "k")
    figures = index_stage.build(IndexConfig(recall_queries=100, **cfg), out, vectors=art)
    return figures, IdIndex.load(out.url)


@pytest.mark.parametrize(
    ("n", "cfg", "factory"),
    [
        (5_000, {}, "Flat"),
        (5_000, {"flat_max": 1000}, "HNSW32,Flat"),
        (5_000, {"flat_max": 1000, "memory_mb": 1}, "IVF128,Flat"),  # 5000*16*4 B = 0.3 MiB fits, HNSW does not
        (200_000, {"flat_max": 1000, "memory_mb": 8}, "IVF2048,PQ4x8"),  # raw 12 MiB > 8 MiB
        (300, {"kind": "ivf"}, "Flat"),  # 300 // 39 = 7 lists < 16: no IVF on so few points
        (5_000, {"kind": "ivfpq"}, "IVF128,Flat"),  # < 256*39 points: PQ cannot be trained
        (20_000, {"kind": "ivfpq"}, "IVF512,PQ4x8"),
        (1000, {"kind": "IVF16,SQ8"}, "IVF16,SQ8"),
    ],
)
def test_choose(n: int, cfg: dict, factory: str) -> None:
    choice = index_stage.choose(n, 16, IndexConfig(**cfg))
    assert choice.factory == factory, choice.reason
    if "IVF" in factory:
        nlist = int(factory.split(",")[0][3:])
        assert choice.train_points >= 39 * nlist or choice.train_points == n
        assert "nprobe" in choice.params


def test_nlist_never_below_39_points_per_list() -> None:
    assert index_stage.nlist_for(1_000_000) == 4096
    assert index_stage.nlist_for(1000) == 16 and index_stage.nlist_for(1000, 512) == 16


def test_flat_build_records_recall_one_and_zero_rows(tmp_path) -> None:
    vecs = clustered(2000)
    vecs[[3, 7]] = 0
    figures, index = run(tmp_path, vecs, kind="flat")
    assert figures["recall_at_10"] == 1.0 and figures["factory"] == "Flat"
    assert figures["zero_vectors_skipped"] == 2 and figures["zero_ids"] == ["d3", "d7"]
    assert figures["rows"] == index.size == 1998 and "d3" not in index
    assert figures["queries_per_second"] > 0 and figures["latency_ms_p50"] > 0 and figures["memory_bytes"] > 0


def test_ivf_params_raised_until_recall_holds_and_saved(tmp_path) -> None:
    figures, index = run(tmp_path, clustered(8000), kind="ivf", nprobe=1, min_recall=0.99)
    assert figures["factory"] == "IVF128,Flat"
    trail = figures["tuning"]
    assert trail[0]["nprobe"] == 1 and trail[0]["recall"] < 0.99  # one list is not enough here
    assert figures["recall_at_10"] >= 0.99 and figures["params"]["nprobe"] > 1
    assert [t["nprobe"] for t in trail] == [2 ** i for i in range(len(trail))]
    assert index.params == figures["params"]  # the query path searches as measured
    assert index.base.nprobe == figures["params"]["nprobe"]


def test_hnsw_unreachable_recall_fails_saying_what_it_reached(tmp_path) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(3000, 64)).astype(np.float32)  # no structure: the hard case
    with pytest.raises(ValueError, match=r"reached recall@10 0\.\d+ < index.min_recall=1.0 .*efSearch"):
        run(tmp_path, vecs, kind="HNSW4,Flat", ef_search=4, min_recall=1.0)


def test_auto_falls_back_to_exact_when_recall_cannot_hold(tmp_path) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(3000, 64)).astype(np.float32)
    figures, index = run(tmp_path, vecs, flat_max=100, hnsw_m=4, min_recall=1.0)
    assert figures["factory"] == "Flat" and figures["fallback"].startswith("HNSW4,Flat reached recall@10")
    assert figures["recall_at_10"] == 1.0 and index.factory == "Flat"


def test_recall_at_k_counts_ties() -> None:
    exact = [index_stage.Exact({"a", "c"}, 0.5)]
    assert index_stage.recall_at_k([[("a", 0.9), ("b", 0.4)]], exact, k=2) == 0.5
    assert index_stage.recall_at_k([[("a", 0.9), ("b", 0.4)]], [index_stage.Exact({"a", "b", "c"}, 0.4)], k=2) == 1.0
    # b was not kept in the exact list but ties with its k-th score: right when scores are true cosines
    assert index_stage.recall_at_k([[("a", 0.9), ("b", 0.5)]], exact, k=2, exact_scores=True) == 1.0
    assert index_stage.recall_at_k([[("a", 0.9), ("b", 0.5)]], exact, k=2, exact_scores=False) == 0.5


def test_flat_recall_is_one_with_more_duplicates_than_the_exact_list_keeps(tmp_path) -> None:
    vecs = clustered(1000)
    vecs[:60] = vecs[0]  # 60 identical vectors, far more than k + 11 kept per query
    figures, _ = run(tmp_path, vecs, kind="flat")
    assert figures["recall_at_10"] == 1.0


def test_update_adds_replaces_deletes_without_rebuilding(tmp_path) -> None:
    vecs = clustered(3000)
    store = ArtifactStore(str(tmp_path / "store"))
    art = codes_artifact(store, vecs)
    out = store.writer("doc_index", "base")
    index_stage.build(IndexConfig(kind="ivf", recall_queries=100), out, vectors=art)
    base = store.publish(out, {"rows": 3000})
    before = IdIndex.load(base.url)
    nprobe = before.params["nprobe"]
    new = clustered(3, seed=5)
    upd = store.writer("doc_index", "next")
    figures = index_stage.update(base, upd, [(["d10", "new1", "new2"], new)], deleted=["d11", "gone-already"])
    after = IdIndex.load(upd.url)
    assert (figures["added"], figures["replaced"], figures["deleted"], figures["rows"]) == (2, 1, 1, 3001)
    assert after.params == {"nprobe": nprobe} and after.factory == before.factory  # no retraining, no retuning
    assert after.label_of("d10") == 3000 and after.label_of("new2") == 3002  # fresh labels
    assert all(after.label_of(f"d{i}") == before.label_of(f"d{i}") for i in range(12, 3000))
    assert after.search(new[1], 1)[0][0][0] == "new1" and "d11" not in after
    assert IdIndex.load(base.url).size == 3000  # the published base is untouched
