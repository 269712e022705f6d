"""Streaming where it matters: LSA over a TF-IDF matrix too large for its memory bound gives the same result.

The bound is a quarter of the bytes the whole matrix takes as a float64 CSR (what a collect-then-SVD would
hold at least). Python and numpy allocations are measured by tracemalloc; Arrow's buffers are bounded by
the part files, which the pipeline writes one per input partition, as here.
"""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lexiflow.config import LsaConfig
from lexiflow.parallel import Progress, track
from lexiflow.sparse import ROW_SCHEMA, from_flat, to_csr
from lexiflow.store import Artifact, ArtifactStore
from tasks import lsa

N_DOCS, N_TERMS, NNZ_PER_DOC, RANK = 30_000, 800, 30, 8


def tfidf_rows(seed: int = 0) -> pa.Table:
    """Each doc draws most terms from its topic's block of terms: a spectrum with a clear top 8."""
    rng = np.random.default_rng(seed)
    block = N_TERMS // RANK
    topic = np.arange(N_DOCS) % RANK
    own = topic[:, None] * block + rng.integers(0, block, (N_DOCS, NNZ_PER_DOC - 5))
    anywhere = rng.integers(0, N_TERMS, (N_DOCS, 5))
    rows = np.repeat(np.arange(N_DOCS), NNZ_PER_DOC)
    cols = np.sort(np.hstack([own, anywhere]), axis=1).ravel()
    keep = np.ones(len(cols), bool)
    keep[1:] = (cols[1:] != cols[:-1]) | (rows[1:] != rows[:-1])  # one value per (doc, term)
    rows, cols = rows[keep], cols[keep]
    values = rng.uniform(0.5, 1.5, len(rows)) * (1.0 + topic[rows])
    doc_ids = pa.array([f"d{i}" for i in range(N_DOCS)], pa.string())
    return from_flat(doc_ids, rows, cols, values, N_DOCS)


def artifact(root: Path, table: pa.Table, parts: int) -> Artifact:
    store = ArtifactStore(str(root))
    writer = store.writer("tfidf", f"test-{parts}")
    size = -(-table.num_rows // parts)
    for i, start in enumerate(range(0, table.num_rows, size)):
        writer.write(f"parts/part-{i:05d}-0000.parquet", table.slice(start, size), ROW_SCHEMA)
    return store.publish(writer, {"stage": "tfidf", "rows": table.num_rows})


def traced_fit(tfidf: Artifact, cfg: LsaConfig) -> tuple[np.ndarray, np.ndarray, int]:
    tracemalloc.start()
    try:
        components, singular = lsa.fit(tfidf, N_TERMS, cfg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return components, singular, peak


def test_lsa_streams_under_a_bound_too_small_for_the_matrix(tmp_path: Path) -> None:
    table = tfidf_rows()
    full = to_csr(table, N_TERMS).astype(np.float64)
    limit = (full.data.nbytes + full.indices.nbytes + full.indptr.nbytes) // 4
    exact = np.sqrt(np.linalg.eigvalsh((full.T @ full).toarray())[::-1][:RANK])
    del full

    streamed_cfg = LsaConfig(dim=RANK, oversample=16, power_iters=4, batch_rows=1_000, seed=0)
    whole_cfg = streamed_cfg.model_copy(update={"batch_rows": N_DOCS})
    # The whole run goes first, so lazy imports inside fit are not charged to the streamed run.
    v_w, s_w, peak_whole = traced_fit(artifact(tmp_path / "b", table, parts=1), whole_cfg)
    v_s, s_s, peak_streamed = traced_fit(artifact(tmp_path / "a", table, parts=16), streamed_cfg)

    assert peak_streamed < limit, (peak_streamed, limit)
    assert peak_whole > limit, (peak_whole, limit)  # the bound is real: one batch of everything breaks it
    # Same result with and without the bound: only the float32 summation order differs (stated tolerance:
    # 1e-6 relative for singular values, 1e-5 absolute for the unit-norm components) ...
    np.testing.assert_allclose(s_s, s_w, rtol=1e-6)
    np.testing.assert_allclose(v_s, v_w, atol=1e-5)
    # ... and the top singular values (those clear of the noise bulk) equal the exact ones of the whole matrix.
    np.testing.assert_allclose(s_s[:5], exact[:5], rtol=1e-6)


def test_track_logs_rows_done_rate_and_eta(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "DEFAULT_EVERY", 0.0)
    batches = [list(range(n)) for n in (3, 4, 5)]
    with caplog.at_level(logging.INFO, logger="lexiflow.progress"):
        assert list(track(batches, "lsa codes", total=12, unit="docs")) == batches
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines] == ["lsa codes: 3/12 docs", "lsa codes: 7/12 docs",
                                                      "lsa codes: 12/12 docs"]
    assert all("rows/s" in line and "eta" in line for line in lines)
    assert lines[-1].endswith("eta 0s")


def test_a_task_over_the_worker_memory_limit_fails_naming_the_stage_and_the_limit() -> None:
    """The nanny kills a worker that outgrows dask.memory_limit; the stage then stops with a message saying so."""
    import dask
    from distributed import Client, LocalCluster

    from lexiflow.parallel import WorkerKilled, map_parts

    def hold(part: str, mib: int, seconds: float) -> int:  # defined here so cloudpickle ships it by value
        import time

        import numpy as np

        block = np.ones(mib * 2**20 // 8)  # touched pages: real resident memory
        time.sleep(seconds)  # held long enough for the nanny's memory monitor (every 100 ms)
        return int(block[0])

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first kill is final
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="400MiB", processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster, set_as_default=True)
        try:
            assert map_parts(hold, [("part-00001", 8, 0.0)], "tokens") == [1]  # under the limit: runs
            with pytest.raises(WorkerKilled, match=r"^tokens: a task \(part-00007\) killed every worker .*"
                                                   r"dask\.memory_limit, now 400\.00 MiB"):
                map_parts(hold, [("part-00007", 1024, 10.0)], "tokens")
        finally:
            client.close()
            cluster.close()


def test_fold_parts_holds_a_bounded_number_of_partial_results() -> None:
    from lexiflow.parallel import fold_parts

    handed: list[int] = []

    def fold(parts: list[int]) -> int:
        handed.append(len(parts))
        return sum(parts)

    total = fold_parts(lambda x: x * x, [(i,) for i in range(100)], "vocab", fold, width=8)
    assert total == sum(i * i for i in range(100))
    assert max(handed) == 9  # the running total + 8 new results, never all 100
    assert len(handed) == 13  # 12 folds on the way (at 9, 17, ..., 97 results), then total + the last 3
