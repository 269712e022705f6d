"""Small stores for the embedding tests: tokens and vocab artifacts from token lists, no Prefect."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from flows.executor import StageSpec, run_stage
from lexiflow.config import Config, TokenizeConfig
from lexiflow.store import Artifact, ArtifactStore
from tasks import tokens as tokens_stage
from tasks import vocab as vocab_stage


def tokens_artifact(store: ArtifactStore, docs: list[list[str]], parts: int = 1) -> Artifact:
    """A tokens artifact holding `docs`, split into `parts` part files in order."""
    writer = store.writer("tokens", f"test-{abs(hash(str(docs))) % 10**12}-{parts}")
    size = max(1, -(-len(docs) // parts))
    for k in range(0, len(docs), size):
        chunk = docs[k : k + size]
        table = pa.table(
            [pa.array([f"d{k + n}" for n in range(len(chunk))], pa.string()), pa.array(chunk, pa.list_(pa.string()))],
            schema=tokens_stage.SCHEMA,
        )
        writer.write(f"parts/part-{k:05d}-0000.parquet", table, tokens_stage.SCHEMA)
    config = TokenizeConfig().model_dump(mode="json")
    return store.publish(writer, {"stage": "tokens", "rows": len(docs), "config": config})


def build_stage(spec: StageSpec, cfg: Config, store: ArtifactStore, **inputs: Any) -> Artifact:
    return run_stage(spec, cfg, store, inputs)


def tokens_and_vocab(tmp_path: Any, docs: list[list[str]], parts: int = 1, min_count: int = 1,
                     **overrides: Any) -> tuple[Config, ArtifactStore, Artifact, Artifact]:
    store = ArtifactStore(str(tmp_path / "store"))
    cfg = Config.model_validate({"vocab": {"min_count": min_count}, **overrides})
    tokens = tokens_artifact(store, docs, parts)
    vocab = build_stage(StageSpec("vocab", vocab_stage, {"tokens": "tokens"}), cfg, store, tokens=tokens)
    return cfg, store, tokens, vocab
