"""Helpers for stage tests: run stages directly, without Prefect or Dask.

`run` goes through the one cached executor (flows/executor.py imports neither Prefect nor Dask), so a test
sees the same keys, manifests and publishing as a real build, in-process.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.executor import StageSpec, run_stage
from lexiflow.config import Config
from lexiflow.store import Artifact, ArtifactStore
from tasks import bow, ingest, tfidf, tokens, vocab

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "debian-sample.parquet"
FULL_CORPUS = Path("/work/shared/corpora/debian-descriptions.parquet")


def config(**sections: dict[str, Any]) -> Config:
    """A Config with some sections' keys overridden, e.g. config(vocab={"min_count": 1})."""
    return Config.model_validate(sections)


def run(module: ModuleType, cfg: Config, store: ArtifactStore, source: Any = None, **inputs: Artifact) -> Artifact:
    """Build one stage through the cached executor, in-process."""
    spec = StageSpec(module.NAME, module, {name: a.stage for name, a in inputs.items()})
    return run_stage(spec, cfg, store, inputs, source=source)


def write_corpus(path: Path, texts: list[str | None], ids: list[str] | None = None) -> Path:
    ids = ids if ids is not None else [f"d{i}" for i in range(len(texts))]
    pq.write_table(pa.table({"doc_id": ids, "text": pa.array(texts, pa.string())}), path)
    return path


def ingest_texts(
    store: ArtifactStore, tmp_path: Path, texts: list[str | None], cfg: Config | None = None
) -> tuple[Config, Artifact]:
    """Ingest a list of texts written as a Parquet corpus; returns the config used and the corpus artifact."""
    path = write_corpus(tmp_path / "corpus.parquet", texts)
    base = (cfg or Config()).model_dump()
    base["corpus"]["path"] = str(path)
    cfg = Config.model_validate(base)
    return cfg, run(ingest, cfg, store, source=ingest.discover(cfg.corpus))


def preprocess(store: ArtifactStore, tmp_path: Path, texts: list[str | None], cfg: Config | None = None) -> dict:
    """ingest → tokens → vocab → bow → tfidf on a list of texts; returns every artifact by stage."""
    cfg, corpus = ingest_texts(store, tmp_path, texts, cfg)
    toks = run(tokens, cfg, store, corpus=corpus)
    voc = run(vocab, cfg, store, tokens=toks)
    bag = run(bow, cfg, store, tokens=toks, vocab=voc)
    weights = run(tfidf, cfg, store, bow=bag, vocab=voc)
    return {"cfg": cfg, "ingest": corpus, "tokens": toks, "vocab": voc, "bow": bag, "tfidf": weights}

