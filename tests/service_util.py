"""Helpers for service tests: small real builds of the embedded corpus made by calling the stages directly
(no Prefect), and uvicorn on a loopback port in a thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
from stage_util import SAMPLE

from lexiflow.config import Config, load_config
from lexiflow.store import Artifact, ArtifactStore

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


def corpus_slice(path: Path, start: int, stop: int) -> Path:
    pq.write_table(pq.read_table(SAMPLE).slice(start, stop - start), path)
    return path


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
