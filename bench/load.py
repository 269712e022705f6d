"""Bounded load test of `lexiflow serve` on loopback: requests/s, p50/p99 latency and errors per endpoint.

It starts the service as its own process on a free loopback port (the CLI, as a user would), then runs
--clients threads, each with one keep-alive connection, until --requests requests have been answered.
Queries are two random terms from the build's vocabulary (/search) and random words of the word index
(/similar), so every request should succeed: any non-200 answer counts as an error.

    .venv/bin/python bench/load.py --store /tmp/svc_desc --clients 20 --requests 10000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lexiflow.store import ArtifactStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workload(root: str, n: int, seed: int) -> list[str]:
    """n request paths: 80% /search with two vocabulary terms, 20% /similar with one word-index term."""
    arts = ArtifactStore(root).resolve("default")
    vocab = arts["vocab"].read_table(columns=["term", "count"]).sort_by([("count", "descending")])
    terms = vocab["term"].to_pylist()[:5000]
    words = arts["word2vec"].read_table(columns=["term"])["term"].to_pylist()[:5000]
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(n):
        if rng.random() < 0.8:
            q = " ".join(rng.choice(terms, 2))
            paths.append("/search?" + urllib.parse.urlencode({"q": q, "k": 10}))
        else:
            paths.append("/similar?" + urllib.parse.urlencode({"word": str(rng.choice(words)), "k": 10}))
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="service worker processes")
    args = p.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lexiflow.cli", "serve", "--store", args.store, "--port", str(port),
         "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                health = json.loads(conn.getresponse().read())
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - started > 120:
                    raise SystemExit(f"service did not start: {server.stderr.read()[-2000:]}") from None
                time.sleep(0.2)
        print(f"# service up in {time.monotonic() - started:.1f}s: index sizes {health['index_size']}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        conn.close()
        paths = workload(args.store, args.requests, args.seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # the idle one may have timed out
        for path in paths[:50]:  # warm-up, not counted
            conn.request("GET", path)
            conn.getresponse().read()
        results: list[tuple[str, int, float]] = []
        lock = threading.Lock()
        next_item = iter(range(len(paths)))

        def client() -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while True:
                with lock:
                    i = next(next_item, None)
                if i is None:
                    break
                t0 = time.perf_counter()
                try:
                    c.request("GET", paths[i])
                    response = c.getresponse()
                    response.read()
                    status = response.status
                except OSError:
                    status = -1
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine.append((paths[i].split("?")[0], status, time.perf_counter() - t0))
            with lock:
                results.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.clients} clients, {len(results)} requests in {wall:.1f}s: {len(results) / wall:.0f} req/s")
    for endpoint in [*sorted({r[0] for r in results}), "all"]:
        rows = [r for r in results if endpoint in ("all", r[0])]
        ms = np.array([r[2] for r in rows]) * 1000
        errors = sum(1 for r in rows if r[1] != 200)
        print(f"{endpoint:<9} n={len(rows):>6}  p50 {np.percentile(ms, 50):7.2f} ms  "
              f"p90 {np.percentile(ms, 90):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms  "
              f"max {ms.max():7.1f} ms  errors {errors}")


if __name__ == "__main__":
    main()
