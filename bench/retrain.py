"""Retrain with 10% new documents against a full rebuild of the same final corpus, side by side.

    .venv/bin/python bench/retrain.py [--corpus ../shared/corpora/debian-descriptions.parquet] [--new 0.1]

The corpus is split (seeded) into a base and a new share. Timed: a full build of base+new in a fresh
store, and `lexiflow retrain` of new onto a base build (the base build itself is not timed), once with
the default `retrain.refit=false` and once, on a copy of the base store, with `retrain.refit=true`. Both are
whole CLI runs, so both include Prefect's start-up; that start-up is also printed on its own.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpora/debian-descriptions.parquet")
    parser.add_argument("--new", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lexiflow = str(Path(sys.executable).parent / "lexiflow")
    table = pq.read_table(args.corpus)
    mask = np.random.default_rng(args.seed).random(table.num_rows) < args.new
    with tempfile.TemporaryDirectory() as tmp:
        base, new, full = Path(tmp, "base.parquet"), Path(tmp, "new.parquet"), Path(tmp, "full.parquet")
        pq.write_table(table.filter(~mask), base)
        pq.write_table(table.filter(mask), new)
        pq.write_table(table, full)
        print(f"corpus {args.corpus}: {table.num_rows} docs, base {int((~mask).sum())}, new {int(mask.sum())}")
        rebuild = timed([lexiflow, "run", "--corpus", str(full), "--store", f"{tmp}/full"])
        print(f"full rebuild: {rebuild:.1f} s")
        base_build = timed([lexiflow, "run", "--corpus", str(base), "--store", f"{tmp}/rt"])
        print(f"base build (untimed in the ratio): {base_build:.1f} s")
        shutil.copytree(f"{tmp}/rt", f"{tmp}/rt-refit")
        retrain = timed([lexiflow, "retrain", "--corpus", str(new), "--store", f"{tmp}/rt"])
        print(f"retrain with {int(mask.sum())} new docs (retrain.refit=false, the default): {retrain:.1f} s")
        refit = timed([lexiflow, "retrain", "--corpus", str(new), "--store", f"{tmp}/rt-refit",
                       "--set", "retrain.refit=true"])
        print(f"retrain with {int(mask.sum())} new docs (retrain.refit=true): {refit:.1f} s")
        nothing = timed([lexiflow, "retrain", "--corpus", str(new), "--store", f"{tmp}/rt"])
        print(f"retrain again (nothing new): {nothing:.1f} s")
    print(f"retrain / full rebuild = {retrain / rebuild:.2f} (goal < 0.25); with refit {refit / rebuild:.2f}")


if __name__ == "__main__":
    main()
