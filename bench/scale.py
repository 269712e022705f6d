"""The default pipeline at three corpus sizes: seconds and peak memory per stage, and how they scale.

Each size runs in a fresh process (so the driver's peak is that size's alone): the corpus is made by
bench/make_corpus.py (cached under --work), then the stages run one by one through the cached executor
on one LocalCluster, while a thread samples the RSS of the driver and of every worker process (psutil,
every 0.1 s) and charges each sample to the stage running. The table shows, per stage and size, the
seconds, the driver's peak RSS and the largest worker's peak RSS, then the time ratio largest/smallest
against the size ratio (goal: at 16x the size, at most 17x the time) and the peak-memory ratios (goal:
at most 1.5x). word2vec runs 1 epoch (the bench's `--set word2vec.epochs=1`), as its cost is linear in
epochs anyway. `--ivf` also builds both indexes with `index.kind=ivf` (rows "... ivf"): `auto` picks HNSW
for these sizes, whose insertion cost grows with log n, while an IVF build (k-means on a sample of
~39 points per list, then one assignment per vector) stays about linear.

    .venv/bin/python bench/scale.py --sizes 16 64 256 [--work /tmp/lexiflow-scale] [--ivf] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
INDEXES = ["doc_index", "word_index"]
STAGES = ["ingest", "tokens", "vocab", "bow", "tfidf", "word2vec", "lsa", *INDEXES]
IVF = " ivf"  # suffix of the rows that rebuild INDEXES with index.kind=ivf
BENCH_SETTINGS = ["word2vec.epochs=1", "embeddings.models=[\"word2vec\"]", "embeddings.evaluate=false"]
MB = 1024 * 1024


class Sampler(threading.Thread):
    """Peak RSS of the driver and of the largest child process, per stage label."""

    def __init__(self, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.stage = "setup"
        self.peaks: dict[str, dict[str, int]] = {}
        self.halt = threading.Event()
        self.me = psutil.Process()

    def sample(self) -> None:
        driver = self.me.memory_info().rss
        worker = 0
        for child in self.me.children(recursive=True):
            try:
                worker = max(worker, child.memory_info().rss)
            except psutil.Error:
                continue
        peak = self.peaks.setdefault(self.stage, {"driver": 0, "worker": 0})
        peak["driver"] = max(peak["driver"], driver)
        peak["worker"] = max(peak["worker"], worker)

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            time.sleep(self.every)

    def enter(self, stage: str) -> None:
        self.sample()
        self.stage = stage
        self.sample()


def run_one(corpus: str, store: str, settings: list[str], ivf: bool) -> dict[str, Any]:
    """Every stage once on `corpus`, in a fresh store; {stage: {seconds, driver, worker, rows}}."""
    from flows.build import needed
    from flows.cluster import LazyCluster
    from flows.executor import run_stage
    from lexiflow.config import load_config
    from lexiflow.store import ArtifactStore
    from tasks import ingest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S", force=True)
    logging.getLogger("gensim").setLevel(logging.WARNING)
    base = [f"corpus.path={json.dumps(corpus)}", f"store.root={json.dumps(store)}", *settings]
    cfg = load_config([ROOT / "conf" / "default.yaml"], base)
    runs = [(spec, cfg, spec.name) for spec in needed(None, cfg) if spec.name in STAGES]
    if ivf:
        ivf_cfg = load_config([ROOT / "conf" / "default.yaml"], [*base, "index.kind=ivf"])
        runs += [(spec, ivf_cfg, spec.name + IVF) for spec in needed(None, ivf_cfg) if spec.name in INDEXES]
    store_obj = ArtifactStore(cfg.store.root)
    sampler = Sampler()
    sampler.start()
    cluster = LazyCluster(cfg.dask)
    cluster.ensure()
    built: dict[str, Any] = {}
    result: dict[str, Any] = {}
    try:
        for spec, stage_cfg, label in runs:
            sampler.enter(label)
            started = time.perf_counter()
            source = ingest.discover(cfg.corpus) if spec.name == "ingest" else None
            inputs = {arg: built[up] for arg, up in spec.inputs.items()}
            artifact = run_stage(spec, stage_cfg, store_obj, inputs, source=source, cluster=cluster)
            built.setdefault(spec.name, artifact)
            seconds = time.perf_counter() - started
            sampler.enter("idle")
            result[label] = {"seconds": seconds, **sampler.peaks[label], "rows": artifact.num_rows,
                             "factory": artifact.figures.get("factory")}
    finally:
        sampler.halt.set()
        cluster.close()
    return result


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def table(sizes: list[float], runs: dict[float, dict[str, Any]]) -> str:
    small, large = sizes[0], sizes[-1]
    span = large / small
    head = ["stage"]
    for size in sizes:
        head += [f"{size:g}MB s", "drv MB", "wrk MB"]
    head += ["time x", "size x", "drv x", "wrk x", "goals"]
    rows = [head]
    for stage in [*STAGES, *(name + IVF for name in INDEXES)]:
        if not all(stage in runs[s] for s in sizes):
            continue
        row = [stage]
        for size in sizes:
            r = runs[size][stage]
            row += [f"{r['seconds']:.1f}", f"{r['driver'] / MB:.0f}", f"{r['worker'] / MB:.0f}"]
        a, b = runs[small][stage], runs[large][stage]
        tx = ratio(b["seconds"], a["seconds"])
        dx = ratio(b["driver"], a["driver"])
        wx = ratio(b["worker"], a["worker"])
        misses = []
        if tx > span * 17 / 16:
            misses.append("time")
        if dx > 1.5:
            misses.append("driver mem")
        if wx > 1.5:
            misses.append("worker mem")
        goals = "ok" if not misses else "MISS " + ",".join(misses)
        row += [f"{tx:.1f}", f"{span:.0f}", f"{dx:.2f}", f"{wx:.2f}", goals]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[16, 64, 256], help="MB of text")
    parser.add_argument("--work", default="/tmp/lexiflow-scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="settings", action="append", default=[], help="extra config override")
    parser.add_argument("--ivf", action="store_true", help="also build both indexes with index.kind=ivf")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = BENCH_SETTINGS + args.settings
    if args.one is not None:
        store = work / f"store-{args.one:g}"
        subprocess.run(["rm", "-rf", str(store)], check=True)
        result = run_one(str(work / f"corpus-{args.one:g}.parquet"), str(store), settings, args.ivf)
        (work / f"result-{args.one:g}.json").write_text(json.dumps(result, indent=1))
        return
    sizes = sorted(args.sizes)
    runs: dict[float, dict[str, Any]] = {}
    for size in sizes:
        corpus = work / f"corpus-{size:g}.parquet"
        if not corpus.exists():
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_corpus.py"), "--mb", str(size),
                            "--out", str(corpus), "--seed", str(args.seed)], check=True)
        cmd = [sys.executable, __file__, "--one", str(size), "--work", str(work), *(["--ivf"] if args.ivf else [])]
        for s in args.settings:
            cmd += ["--set", s]
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"size {size:g} MB: {time.perf_counter() - started:.0f} s in all", flush=True)
        runs[size] = json.loads((work / f"result-{size:g}.json").read_text())
    print(f"settings: {' '.join(settings)}")
    print(table(sizes, runs))
    print("index factories: " + "; ".join(f"{size:g}MB " + ", ".join(
        f"{stage} {r['factory']}" for stage, r in runs[size].items() if r.get("factory")) for size in sizes))


if __name__ == "__main__":
    main()
