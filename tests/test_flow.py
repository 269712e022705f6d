"""The Prefect build flow end to end on the embedded corpus: queries, caching, partial rebuilds, a killed build.

One full build is shared by the module (it takes most of this file's time); tests that change the store
work on a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from stage_util import ROOT, SAMPLE

from lexiflow.store import ArtifactStore

CONF = str(ROOT / "conf" / "default.yaml")
# One Dask worker process keeps the test light on a shared 2-core machine; the code path is the same.
LIGHT = ["dask.n_workers=1", "word2vec.epochs=3", "lsa.dim=64", "map.threads=1", "word_map.threads=1",
         "word_map.tsne_max_rows=1000", "word_map.lle_max_rows=1000", "word_map.laplacian_max_rows=1000"]
WORD_STAGES = {"word2vec", "word_index", "word_cluster", "word_map"}  # what a word2vec setting reaches


def build(root: Path, *extra: str) -> dict[str, str]:
    from flows.build import build_flow

    return build_flow(config=[CONF], overrides=[f"store.root={root}", f"corpus.path={SAMPLE}", *LIGHT, *extra])


def snapshot(root: Path) -> dict[tuple[str, str], float]:
    """Every published artifact with the time its manifest says it finished: changes iff it was rebuilt."""
    return {(a.stage, a.key): a.manifest["timings"]["finished"] for a in ArtifactStore(str(root)).artifacts()}


def folders(root: Path) -> set[str]:
    return {f"{d.parent.name}/{d.name}" for d in root.glob("*/*") if d.is_dir()}


@pytest.fixture(scope="module")
def built(prefect_harness: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("flow") / "store"
    keys = build(root)
    return {"root": root, "keys": keys, "snapshot": snapshot(root)}


def lexiflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lexiflow.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def test_build_publishes_every_stage_and_the_ref(built: dict[str, Any]) -> None:
    from flows.build import STAGES

    core = ["ingest", "tokens", "vocab", "bow", "tfidf", "word2vec", "lsa", "doc_index", "word_index"]
    assert [stage for stage in built["keys"] if stage in core] == core
    assert set(built["keys"]) <= set(STAGES)
    ref = ArtifactStore(str(built["root"])).read_ref("default")
    assert ref["artifacts"] == built["keys"]
    assert set(built["snapshot"]) == set(built["keys"].items())
    assert {"cluster", "word_cluster", "map", "word_map"} <= set(built["keys"])
    assert (built["root"] / "reports" / "default" / "index.html").stat().st_size > 10_000  # written at the end


def test_query_docs_finds_a_browser(built: dict[str, Any]) -> None:
    out = lexiflow("query", "docs", "web", "browser", "-k", "10", "--json", "--store", str(built["root"]))
    assert out.returncode == 0, out.stderr
    hits = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(hits) == 10 and [h["rank"] for h in hits] == list(range(1, 11))
    corpus = ArtifactStore(str(built["root"])).get("ingest", built["keys"]["ingest"]).read_table()
    text = dict(zip(corpus["doc_id"].to_pylist(), corpus["text"].to_pylist(), strict=True))
    assert any("browser" in text[h["doc_id"]].lower() for h in hits), hits


def test_query_similar_answers(built: dict[str, Any]) -> None:
    out = lexiflow("query", "similar", "kernel", "-k", "5", "--json", "--store", str(built["root"]))
    assert out.returncode == 0, out.stderr
    words = [json.loads(line)["term"] for line in out.stdout.splitlines()]
    assert len(words) == 5 and "kernel" not in words


def test_query_unknown_word_is_a_message(built: dict[str, Any]) -> None:
    out = lexiflow("query", "similar", "qqqxyzzy", "--store", str(built["root"]))
    assert out.returncode == 1
    assert "not in the word vectors' vocabulary" in out.stderr and "Traceback" not in out.stderr


def test_query_path_imports_neither_prefect_nor_dask(built: dict[str, Any]) -> None:
    script = (
        "import sys\n"
        "from lexiflow.cli import main\n"
        f"assert main(['query', 'docs', 'web browser', '--store', {str(built['root'])!r}]) == 0\n"
        f"assert main(['query', 'similar', 'kernel', '--store', {str(built['root'])!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'dask', 'distributed'))\n"
        "print('LOADED', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout


def test_second_run_recomputes_nothing(built: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    before = folders(built["root"])
    with caplog.at_level("INFO", logger="lexiflow.executor"):
        keys = build(built["root"])
    assert keys == built["keys"]
    assert snapshot(built["root"]) == built["snapshot"]
    assert folders(built["root"]) == before
    cached = [r.getMessage() for r in caplog.records if ": cached " in r.getMessage()]
    assert len(cached) == len(keys), caplog.text


def test_vector_size_change_rebuilds_only_word2vec_and_what_uses_it(built: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(built["root"], root)
    keys = build(root, "word2vec.vector_size=16")
    changed = {stage for stage in keys if keys[stage] != built["keys"][stage]}
    assert changed == WORD_STAGES
    after = snapshot(root)
    new = set(after) - set(built["snapshot"])
    assert {stage for stage, _ in new} == WORD_STAGES
    assert all(after[k] == t for k, t in built["snapshot"].items())  # nothing else was rewritten
    vec = ArtifactStore(str(root)).get("word2vec", keys["word2vec"]).read_table()
    assert vec.schema.field("vector").type.list_size == 16


KILL_SCRIPT = """
import sys
from flows.build import needed
from flows.executor import run_stage
from lexiflow.config import load_config
from lexiflow.store import ArtifactStore
from tasks import ingest

cfg = load_config([sys.argv[1]], sys.argv[3:])
store = ArtifactStore(cfg.store.root)
source = ingest.discover(cfg.corpus)
built = {}
for spec in needed(sys.argv[2]):
    inputs = {arg: built[up] for arg, up in spec.inputs.items()}
    built[spec.name] = run_stage(spec, cfg, store, inputs, source=source if spec.name == "ingest" else None)
print("DONE", flush=True)
"""


def test_killed_build_leaves_nothing_trusted_and_a_rerun_completes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    overrides = [f"store.root={root}", f"corpus.path={SAMPLE}", "word2vec.workers=1", "word2vec.epochs=5"]
    args = [sys.executable, "-c", KILL_SCRIPT, CONF, "word2vec", *overrides]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    stage_dir = root / "word2vec"
    try:
        while not list(stage_dir.glob(".tmp-*/corpus.txt")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "word2vec never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # Killed mid-stage: only a temp folder, no manifest, nothing the store lists or returns.
    leftovers = list(stage_dir.iterdir())
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    assert not any((p / "manifest.json").exists() for p in leftovers)
    store = ArtifactStore(str(root))
    assert "word2vec" not in {a.stage for a in store.artifacts()}
    published = [f for f in root.glob("*/[!.]*") if f.is_dir() and f.parent.name != "refs"]  # dot folders: private
    assert published and all((f / "manifest.json").exists() for f in published), published
    before = snapshot(root)

    rerun = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0 and "DONE" in rerun.stdout, rerun.stderr
    after = snapshot(root)
    assert {stage for stage, _ in set(after) - set(before)} == {"word2vec"}
    assert all(after[k] == t for k, t in before.items())  # upstream stages were reused, not rebuilt
