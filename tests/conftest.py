"""Shared fixtures: a temp store, a temporary Prefect API, and small real builds of the embedded corpus made
by calling the stages directly (no Prefect)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lexiflow.config import Config, load_config
from lexiflow.store import Artifact, ArtifactStore

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "debian-sample.parquet"
SMALL = ["word2vec.epochs=2", "word2vec.min_count=2", "word2vec.vector_size=32", "lsa.dim=24", "lsa.power_iters=2",
         "index.recall_queries=100", "cluster.k=8", "word_cluster.k=8", "map.lle_max_rows=400",
         "word_map.tsne_max_rows=400", "word_map.lle_max_rows=400", "word_map.laplacian_max_rows=400",
         "map.threads=1", "word_map.threads=1"]


def build_store(root: Path, corpus: Path, ref: str = "default", overrides: list[str] | None = None
                ) -> dict[str, Artifact]:
    """Every stage of the build graph on `corpus`, in this process, then the ref moved to the result."""
    from flows.build import needed
    from flows.executor import run_stage
    from tasks import ingest

    cfg: Config = load_config([], [f"corpus.path={corpus}", f"store.root={root}", *SMALL, *(overrides or [])])
    store = ArtifactStore(cfg.store.root)
    source = ingest.discover(cfg.corpus)
    built: dict[str, Artifact] = {}
    for spec in needed(None, cfg):
        inputs = {arg: built[up] for arg, up in spec.inputs.items()}
        built[spec.name] = run_stage(spec, cfg, store, inputs, source=source if spec.name == "ingest" else None)
    store.write_ref(ref, built, {"corpus": str(corpus)})
    return built


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


@pytest.fixture(scope="session")
def prefect_harness() -> Any:
    """A temporary Prefect API for flow runs (started once per session; only flow tests pay for it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def corpus_slice(path: Path, start: int, stop: int) -> Path:
    pq.write_table(pq.read_table(SAMPLE).slice(start, stop - start), path)
    return path


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose ref `default` names a build of the first 800 sample documents."""
    root = tmp_path_factory.mktemp("store")
    corpus = corpus_slice(root.parent / "small.parquet", 0, 800)
    build_store(root / "artifacts", corpus)
    return root / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on a loopback port in a thread, stopped at teardown."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(small_store: Path) -> Iterator[LiveServer]:
    from lexiflow.service import create_app

    with LiveServer(create_app(str(small_store))) as server:
        yield server
