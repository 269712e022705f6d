"""Real components for the operations tests: a Prefect server, a Dask scheduler and workers, CLI runs.

Each starts on loopback with a free port and a temporary home, and is stopped (its whole process group)
when the test that started it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = REPO / "data" / "debian-sample.parquet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def start(args: list[str], env: dict[str, str] | None = None, log: Path | None = None,
          cwd: Path = REPO) -> subprocess.Popen:
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process and everything it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[dict[str, str]]:
    """A real `prefect server start` on loopback; yields the env that points clients at it."""
    port = free_port()
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    proc = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                 env, home / "server.log")
    try:
        wait_for(lambda: urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2).status == 200,
                 180, "prefect server")
        yield env
    finally:
        stop(proc)


@contextlib.contextmanager
def dask_cluster(workdir: Path, n_workers: int = 2, memory_limit: str = "1GiB") -> Iterator[str]:
    """A real `dask scheduler` and `n_workers` separate `dask worker` processes; yields the address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                    "--no-dashboard"], log=workdir / "scheduler.log")]
    try:
        for i in range(n_workers):
            procs.append(start([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                "--memory-limit", memory_limit, "--no-dashboard", "--name", f"w{i}"],
                               log=workdir / f"worker{i}.log"))
        from distributed import Client

        def ready() -> bool:
            with Client(address, timeout=5) as client:
                return len(client.scheduler_info()["workers"]) == n_workers

        wait_for(ready, 120, "dask workers", interval=1.0)
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc)


def lexiflow(args: list[str], env: dict[str, str] | None = None, timeout: float = 600,
             check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "lexiflow"), *args], cwd=REPO, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"lexiflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def small_corpus(path: Path, rows: int = 400) -> Path:
    """The first `rows` documents of the embedded corpus: real text, fast to build."""
    pq.write_table(pq.read_table(SAMPLE).slice(0, rows), path)
    return path


def check_store(root: Path) -> int:
    """Every published artifact is complete: manifest parses, parts read, rows add up. Returns the count."""
    checked = 0
    for manifest_path in root.glob("*/*/manifest.json"):
        folder = manifest_path.parent
        assert not folder.name.startswith(".tmp-"), f"temp folder has a manifest: {folder}"
        manifest = json.loads(manifest_path.read_text())
        parts = sorted((folder / "parts").glob("*.parquet"))
        assert len(parts) == manifest["parts"], f"{folder}: {len(parts)} parts, manifest says {manifest['parts']}"
        rows = sum(pq.read_metadata(p).num_rows for p in parts)
        if parts:
            assert rows == manifest["rows"], f"{folder}: {rows} rows, manifest says {manifest['rows']}"
        for p in parts:
            pq.read_table(p)  # raises on a truncated file
        checked += 1
    return checked
