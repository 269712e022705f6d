"""A fully cached `lexiflow run` against Prefect's own start-up for a trivial flow, side by side.

Each is a fresh process (Prefect starts its temporary API server per process), alternated so machine
noise hits both alike. Prints seconds per run, the medians and their ratio.

    .venv/bin/python bench/cached_run.py [--runs 3] [--corpus data/debian-sample.parquet]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIVIAL = """
from prefect import flow, task

@task
def one() -> int:
    return 1

@flow
def trivial() -> int:
    return one()

trivial()
"""


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", default="data/debian-sample.parquet")
    args = parser.parse_args()
    lexiflow = str(Path(sys.executable).parent / "lexiflow")
    with tempfile.TemporaryDirectory() as tmp:
        store = ["--store", str(Path(tmp) / "store"), "--corpus", args.corpus]
        script = Path(tmp) / "trivial.py"
        script.write_text(TRIVIAL)
        first = timed([lexiflow, "run", *store])
        print(f"first (building) run: {first:.1f} s")
        cached, trivial = [], []
        for _ in range(args.runs):
            cached.append(timed([lexiflow, "run", *store]))
            trivial.append(timed([sys.executable, str(script)]))
    c, t = statistics.median(cached), statistics.median(trivial)
    print("cached lexiflow run s:", " ".join(f"{x:.2f}" for x in cached))
    print("trivial prefect flow s:", " ".join(f"{x:.2f}" for x in trivial))
    print(f"median cached {c:.2f} s, median trivial {t:.2f} s, ratio {c / t:.2f}")


if __name__ == "__main__":
    main()
