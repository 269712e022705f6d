"""No lost or corrupted work: kills at random points, racing builds, failing stages, dying workers."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from ops_support import BIN, check_store, lexiflow, small_corpus, start, stop

from flows.executor import StageSpec, run_stage
from lexiflow.config import Config
from lexiflow.store import ArtifactStore
from tasks import ingest

FAST = ["--set", "word2vec.epochs=1", "--set", "lsa.dim=16", "--set", "corpus.partition_rows=100",
        "--set", "explore.stages=[]", "--set", "explore.report=false"]  # faults in the core stages, not the maps


STAGES = ["ingest", "tokens", "vocab", "bow", "tfidf", "word2vec", "lsa", "doc_index", "word_index"]


def test_kill_minus_nine_in_every_stage_never_leaves_a_corrupt_artifact(tmp_path):
    """One kill per stage, at a random moment after the stage before it finished (bounded: one loop over them)."""
    corpus = small_corpus(tmp_path / "corpus.parquet", rows=1500)
    store = tmp_path / "store"
    rng = random.Random(7)
    kills, checked, killed_in = 0, 0, []
    for previous in [None, *STAGES[:-1]]:
        log = tmp_path / f"run-after-{previous}.log"
        proc = start([str(BIN / "lexiflow"), "run", "--corpus", str(corpus), "--store", str(store), *FAST], log=log)
        deadline = time.monotonic() + 240
        marks = ("Beginning flow run",) if previous is None else (f"{previous}: built", f"{previous}: cached")
        while not any(m in log.read_text(errors="replace") for m in marks) and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            stop(proc, signal.SIGKILL)
            kills += 1
            text = log.read_text(errors="replace")
            done = [s for s in STAGES if f"{s}: built" in text or f"{s}: cached" in text]
            killed_in.append(f"after:{done[-1] if done else 'start'}")
        else:
            proc.wait()
        checked += check_store(store)
        for ref_file in store.glob("refs/*.json"):  # a ref only ever names published artifacts
            named = json.loads(ref_file.read_text())
            for role, key in named["artifacts"].items():
                assert (store / named.get("stages", {}).get(role, role) / key / "manifest.json").exists()
    lexiflow(["run", "--corpus", str(corpus), "--store", str(store), *FAST])
    ref = json.loads((store / "refs" / "default.json").read_text())
    assert check_store(store) >= len(ref["artifacts"])
    for stage, key in ref["artifacts"].items():
        assert (store / stage / key / "manifest.json").exists()
    assert kills >= len(STAGES) // 2, f"only {kills} runs were still going when the kill came: {killed_in}"
    print(f"kills={kills} artifact checks={checked} corrupt=0 killed in: {' '.join(killed_in)}")


def test_two_builds_at_once_publish_one_artifact_per_key(tmp_path):
    corpus = small_corpus(tmp_path / "corpus.parquet", rows=600)
    store = tmp_path / "store"
    procs = [start([str(BIN / "lexiflow"), "run", "--corpus", str(corpus), "--store", str(store), *FAST],
                   log=tmp_path / f"race{i}.log") for i in range(2)]
    codes = [p.wait(timeout=600) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"race{i}.log").read_text()[-2000:] for i in range(2)]
    ref = json.loads((store / "refs" / "default.json").read_text())
    for stage in ref["artifacts"]:
        published = [d for d in (store / stage).iterdir() if not d.name.startswith(".")]
        assert len(published) == 1, f"{stage}: {published}"
    assert check_store(store) == len(ref["artifacts"])


class Boom(RuntimeError):
    pass


def test_failing_stage_publishes_nothing_and_a_rerun_recomputes(tmp_path, monkeypatch):
    corpus = small_corpus(tmp_path / "corpus.parquet", rows=50)
    cfg = Config.model_validate({"corpus": {"path": str(corpus)}, "store": {"root": str(tmp_path / "s")}})
    store = ArtifactStore(cfg.store.root)
    spec = StageSpec("ingest", ingest)
    source = ingest.discover(cfg.corpus)
    real_build = ingest.build

    def failing(*args, **kwargs):
        real_build(*args, **kwargs)  # writes parts into the temp folder, then dies before publishing
        raise Boom("disk vanished")

    monkeypatch.setattr(ingest, "build", failing)
    with pytest.raises(Boom):
        run_stage(spec, cfg, store, {}, source=source)
    assert list((tmp_path / "s" / "ingest").iterdir()) == []  # no artifact, and the temp folder is gone
    monkeypatch.setattr(ingest, "build", real_build)
    artifact = run_stage(spec, cfg, store, {}, source=source)
    assert artifact.num_rows == 50 and check_store(tmp_path / "s") == 1


def _die_once(marker: str, value: int) -> dict:
    """Kills its worker process the first time it runs for value 3: Dask must rerun it elsewhere."""
    if value == 3 and not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return {"rows": 1, "value": value * value}


def test_worker_killed_mid_stage_is_survived_without_doubled_rows(tmp_path):
    from distributed import Client, LocalCluster

    from lexiflow.parallel import map_parts

    marker = str(tmp_path / "died")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        results = map_parts(_die_once, [(marker, v) for v in range(8)], "test")
    assert os.path.exists(marker), "the worker never died: the test exercised nothing"
    assert [r["value"] for r in results] == [v * v for v in range(8)]
