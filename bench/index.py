"""Index kinds on random and real vectors: build seconds, queries/s at k=10, recall@10, memory, wrapper cost.

Each index is built by the index stage itself (tasks/index.py: choice, training, recall tuning to
--min-recall), from a vector artifact in a temp store, so the figures are those of the real build path.
Then 1000 queries at k=10 are searched through IdIndex (the wrapper the service uses) and through the
same faiss index called directly; the ratio is the wrapper's cost. Recall@10 here is measured afresh
against exact (flat) search: on random data with 1000 new random queries, on real data with 1000 sampled
indexed vectors (their own id counts in both lists).

    .venv/bin/python bench/index.py --random-n 200000 --store /tmp/svc_desc
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lexiflow.config import IndexConfig
from lexiflow.idindex import IdIndex
from lexiflow.store import Artifact, ArtifactStore
from tasks import index as index_stage

K = 10


def vectors_artifact(store: ArtifactStore, ids: list[str], vecs: np.ndarray, name: str) -> Artifact:
    d = vecs.shape[1]
    schema = pa.schema([pa.field("doc_id", pa.string()), pa.field("code", pa.list_(pa.float32(), d))])
    writer = store.writer("vectors", name)
    step = 100_000
    for part, start in enumerate(range(0, len(ids), step)):
        chunk = np.ascontiguousarray(vecs[start:start + step], dtype=np.float32)
        table = pa.table([pa.array(ids[start:start + step]), pa.FixedSizeListArray.from_arrays(
            pa.array(chunk.ravel()), d)], schema=schema)
        writer.write(f"parts/part-{part:05d}-0000.parquet", table, schema)
    return store.publish(writer, {"rows": len(ids), "schema_names": ["doc_id", "code"]})


def load_real(root: str, stage: str) -> tuple[list[str], np.ndarray]:
    art = ArtifactStore(root).resolve("default")[stage]
    id_col, vec_col = index_stage.columns_of(art)
    table = art.read_table(columns=[id_col, vec_col])
    col = table[vec_col].combine_chunks()
    return table[id_col].to_pylist(), col.flatten().to_numpy().reshape(len(table), -1).astype(np.float32)


def normalise(mat: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return np.ascontiguousarray(np.divide(mat, norms, out=np.zeros_like(mat), where=norms > 0), dtype=np.float32)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def bench_one(tmp: str, name: str, kind: str, ids: list[str], vecs: np.ndarray, queries: np.ndarray,
              exact: list[index_stage.Exact], min_recall: float) -> dict:
    store = ArtifactStore(os.path.join(tmp, f"{name}-{kind}".replace(",", "_")))
    art = vectors_artifact(store, ids, vecs, "v")
    out = store.writer("index", "k")
    cfg = IndexConfig(kind=kind, min_recall=min_recall, recall_queries=500)
    started = time.perf_counter()
    try:
        figures = index_stage.build(cfg, out, vectors=art)
    except ValueError as exc:
        return {"data": name, "kind": kind, "failed": str(exc)[:300],
                "seconds": round(time.perf_counter() - started, 1)}
    build_s = time.perf_counter() - started
    index = IdIndex.load(out.url)
    qn = normalise(queries)
    found = index.search(qn, K)
    recall = index_stage.recall_at_k(found, exact, exact_scores=index_stage.true_cosines(index.factory))
    # wall-clock q/s with faiss's threads (what a caller sees on this machine) ...
    batch_wall = timed(lambda: index.search(qn, K))
    single = qn[:200]
    single_wall = timed(lambda: [index.search(q, K) for q in single])
    # ... and the wrapper's cost as CPU time on one thread, interleaved, best of 5: the machine is shared, so
    # wall time mostly measures waiting for a core; CPU time of one thread measures the work itself.
    cost = cpu_costs(index, qn, single)
    return {
        "data": name, "kind": kind, "factory": figures["factory"], "params": figures["params"],
        "fallback": figures["fallback"], "n": len(ids), "dim": vecs.shape[1],
        "build_s": round(build_s, 2), "train_s": figures["train_seconds"], "add_s": figures["add_seconds"],
        "stage_recall": figures["recall_at_10"], "recall_at_10": round(recall, 4),
        "qps_batch": round(len(qn) / batch_wall), "qps_single": round(len(single) / single_wall), **cost,
        "memory_mb": round(figures["memory_bytes"] / 2**20, 1),
    }


def cpu_costs(index: IdIndex, qn: np.ndarray, single: np.ndarray) -> dict[str, float]:
    """CPU seconds per query through IdIndex and through the same faiss index directly, one OpenMP thread."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    best = dict.fromkeys(("bw", "bd", "sw", "sd"), float("inf"))
    runs = {
        "bw": lambda: index.search(qn, K), "bd": lambda: index.index.search(qn, K),
        "sw": lambda: [index.search(q, K) for q in single],
        "sd": lambda: [index.index.search(q.reshape(1, -1), K) for q in single],
    }
    try:
        for _ in range(5):
            for key, fn in runs.items():
                started = time.process_time()
                fn()
                best[key] = min(best[key], time.process_time() - started)
    finally:
        faiss.omp_set_num_threads(threads)
    return {
        "cpu_us_batch": round(best["bw"] / len(qn) * 1e6, 1),
        "cpu_us_batch_faiss": round(best["bd"] / len(qn) * 1e6, 1),
        "wrapper_cost_batch": round(best["bw"] / best["bd"] - 1, 4),
        "cpu_us_single": round(best["sw"] / len(single) * 1e6, 1),
        "cpu_us_single_faiss": round(best["sd"] / len(single) * 1e6, 1),
        "wrapper_cost_single": round(best["sw"] / best["sd"] - 1, 4),
    }


def exact_sets(vecs: np.ndarray, ids: list[str], queries: np.ndarray) -> tuple[list[index_stage.Exact], float]:
    import faiss

    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(normalise(vecs))
    started = time.perf_counter()
    scores, rows = flat.search(normalise(queries), K + 10)
    seconds = time.perf_counter() - started
    out = []
    for s, r in zip(scores, rows, strict=True):
        kth = s[K - 1]
        out.append(index_stage.Exact({ids[j] for v, j in zip(s, r, strict=True) if j >= 0 and v >= kth - 1e-5},
                                     float(kth)))
    return out, len(queries) / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--random-n", type=int, default=1_000_000, help="random 128-d vectors (0: skip)")
    p.add_argument("--store", help="a built store (ref default) for real word vectors and doc codes")
    p.add_argument("--kinds", default="flat,hnsw,ivf,auto")
    p.add_argument("--min-recall", type=float, default=0.95)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--out", default="bench/out/index.json")
    p.add_argument("--threads", type=int, default=0, help="faiss OpenMP threads (0: faiss's default, all cores)")
    args = p.parse_args()
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"# faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP thread(s), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    datasets = []
    rng = np.random.default_rng(0)
    if args.random_n:
        vecs = rng.random((args.random_n, 128), dtype=np.float32)
        datasets.append((f"random{args.random_n}x128", [f"r{i}" for i in range(args.random_n)], vecs,
                         rng.random((args.queries, 128), dtype=np.float32)))
    if args.store:
        for stage, label in (("word2vec", "word-vectors"), ("lsa", "doc-codes")):
            ids, vecs = load_real(args.store, stage)
            pick = rng.choice(len(ids), size=min(args.queries, len(ids)), replace=False)
            datasets.append((label, ids, vecs, vecs[pick]))
    rows = []
    with tempfile.TemporaryDirectory(prefix="lexiflow-bench-") as tmp:
        for name, ids, vecs, queries in datasets:
            exact, flat_qps = exact_sets(vecs, ids, queries)
            print(f"# {name}: {len(ids)} x {vecs.shape[1]}, exact reference (faiss IndexFlatIP direct) "
                  f"{flat_qps:.0f} q/s for {len(queries)} queries", flush=True)
            for kind in args.kinds.split(","):
                row = bench_one(tmp, name, kind, ids, vecs, queries, exact, args.min_recall)
                rows.append(row)
                print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print(f"{'data':<20}{'kind':<6}{'factory':<15}{'params':<18}{'build s':>8}{'recall':>7}{'q/s':>7}{'1q/s':>6}"
          f"{'cpu us':>8}{'faiss':>7}{'cost':>7}{'1q us':>7}{'faiss':>7}{'cost':>7}{'MiB':>7}")
    for r in rows:
        if "failed" in r:
            print(f"{r['data']:<20}{r['kind']:<6}FAILED after {r['seconds']} s: {r['failed']}")
            continue
        print(f"{r['data']:<20}{r['kind']:<6}{r['factory']:<15}{json.dumps(r['params']):<18}{r['build_s']:>8}"
              f"{r['recall_at_10']:>7}{r['qps_batch']:>7}{r['qps_single']:>6}{r['cpu_us_batch']:>8}"
              f"{r['cpu_us_batch_faiss']:>7}{r['wrapper_cost_batch']:>7.1%}{r['cpu_us_single']:>7}"
              f"{r['cpu_us_single_faiss']:>7}{r['wrapper_cost_single']:>7.1%}{r['memory_mb']:>7}")

if __name__ == "__main__":
    main()
