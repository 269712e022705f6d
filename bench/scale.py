"""The default pipeline at three corpus sizes: seconds and peak memory per stage, and how they scale.

Each stage of each size runs in a fresh process with a fresh LocalCluster, so a peak is that stage's
alone (a Python process rarely gives memory back: in one long process every stage would inherit the
peaks of the stages before it). The corpus is made by bench/make_corpus.py (cached under --work); the
stages before the measured one are cache hits from the same store; a thread samples the RSS of the
driver and of every worker process (psutil, every 0.1 s) while the measured stage runs. The table
shows, per stage and size, the seconds, the driver's peak RSS and the largest worker's peak RSS, then
the time ratio largest/smallest against the size ratio (goal: at 16x the size, at most 17x the time)
and the peak-memory ratios (goal: at most 1.5x). word2vec runs 1 epoch (the bench's
`--set word2vec.epochs=1`), as its cost is linear in epochs anyway. `--ivf` also builds both indexes
with `index.kind=ivf` (rows "... ivf"): `auto` picks HNSW for these sizes, whose insertion cost grows
with log n; IVF trades that for k-means training and one assignment per vector.

    .venv/bin/python bench/scale.py --sizes 16 64 256 [--work /tmp/lexiflow-scale] [--ivf] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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


def labels(ivf: bool) -> list[str]:
    return STAGES + [name + IVF for name in INDEXES] * ivf


def run_one(corpus: str, store: str, settings: list[str], label: str) -> dict[str, Any]:
    """One stage (`label`) on `corpus`, its inputs taken from the store: {seconds, driver, worker, rows}."""
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
    if label.endswith(IVF):
        ivf_cfg = load_config([ROOT / "conf" / "default.yaml"], [*base, "index.kind=ivf"])
        runs += [(spec, ivf_cfg, spec.name + IVF) for spec in needed(None, ivf_cfg) if spec.name in INDEXES]
    store_obj = ArtifactStore(cfg.store.root)
    cluster = LazyCluster(cfg.dask)
    built: dict[str, Any] = {}
    sampler = Sampler()
    try:
        for spec, stage_cfg, name in runs:
            source = ingest.discover(cfg.corpus) if spec.name == "ingest" else None
            inputs = {arg: built[up] for arg, up in spec.inputs.items()}
            if name != label:  # an input of the measured stage: a cache hit, built by an earlier process
                built.setdefault(spec.name, run_stage(spec, stage_cfg, store_obj, inputs, source=source))
                continue
            if spec.module.USES_DASK:
                cluster.ensure()  # the cluster's start-up is not the stage's time
            sampler.start()
            sampler.enter(label)
            started = time.perf_counter()
            artifact = run_stage(spec, stage_cfg, store_obj, inputs, source=source, cluster=cluster)
            seconds = time.perf_counter() - started
            sampler.enter("idle")
            return {"seconds": seconds, **sampler.peaks[label], "rows": artifact.num_rows,
                    "factory": artifact.figures.get("factory")}
    finally:
        sampler.halt.set()
        cluster.close()
    raise ValueError(f"{label}: not a stage of this build")


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
    for stage in labels(ivf=True):
        if not all(stage in runs[s] for s in sizes):
            continue
        row = [stage]
        for size in sizes:
            r = runs[size][stage]
            row += [f"{r['seconds']:.1f}", f"{r['driver'] / MB:.0f}", f"{r['worker'] / MB:.0f}" if r["worker"] else "-"]
        a, b = runs[small][stage], runs[large][stage]
        tx = ratio(b["seconds"], a["seconds"])
        dx = ratio(b["driver"], a["driver"])
        wx = ratio(b["worker"], a["worker"])
        misses = []
        if tx > span * 17 / 16:
            misses.append("time")
        if dx > 1.5:
            misses.append("driver mem")
        if wx > 1.5:  # nan (no worker: an in-driver stage) is not a miss
            misses.append("worker mem")
        goals = "ok" if not misses else "MISS " + ",".join(misses)
        row += [f"{tx:.1f}", f"{span:.0f}", f"{dx:.2f}", "-" if math.isnan(wx) else f"{wx:.2f}", goals]
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
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = BENCH_SETTINGS + args.settings
    if args.one is not None:
        result = run_one(str(work / f"corpus-{args.one:g}.parquet"), str(work / f"store-{args.one:g}"), settings,
                         args.stage)
        (work / f"result-{args.one:g}-{args.stage}.json").write_text(json.dumps(result, indent=1))
        return
    sizes = sorted(args.sizes)
    runs: dict[float, dict[str, Any]] = {}
    for size in sizes:
        corpus = work / f"corpus-{size:g}.parquet"
        if not corpus.exists():
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_corpus.py"), "--mb", str(size),
                            "--out", str(corpus), "--seed", str(args.seed)], check=True)
        subprocess.run(["rm", "-rf", str(work / f"store-{size:g}")], check=True)
        started = time.perf_counter()
        runs[size] = {}
        for label in labels(args.ivf):
            cmd = [sys.executable, __file__, "--one", str(size), "--stage", label, "--work", str(work)]
            for s in args.settings:
                cmd += ["--set", s]
            subprocess.run(cmd, check=True)
            runs[size][label] = json.loads((work / f"result-{size:g}-{label}.json").read_text())
        (work / f"result-{size:g}.json").write_text(json.dumps(runs[size], indent=1))
        print(f"size {size:g} MB: {time.perf_counter() - started:.0f} s in all", flush=True)
    print(f"settings: {' '.join(settings)}")
    print(table(sizes, runs))
    print("index factories: " + "; ".join(f"{size:g}MB " + ", ".join(
        f"{stage} {r['factory']}" for stage, r in runs[size].items() if r.get("factory")) for size in sizes))


if __name__ == "__main__":
    main()
