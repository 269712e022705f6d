"""The build flow: every stage as a Prefect task run named after it, through the one cached executor."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.cluster import LazyCluster
from flows.executor import StageSpec, run_stage
from lexiflow.config import ENCODERS, Config, load_config
from lexiflow.store import Artifact, ArtifactStore
from tasks import bow, encode, index, ingest, lsa, tfidf, tokens, vocab, word2vec

log = logging.getLogger("lexiflow.build")

# The build graph, in a valid execution order: stage name -> (module, {build kwarg: upstream stage}).
GRAPH: list[StageSpec] = [
    StageSpec("ingest", ingest),
    StageSpec("tokens", tokens, {"corpus": "ingest"}),
    StageSpec("vocab", vocab, {"tokens": "tokens"}),
    StageSpec("bow", bow, {"tokens": "tokens", "vocab": "vocab"}),
    StageSpec("tfidf", tfidf, {"bow": "bow", "vocab": "vocab"}),
    StageSpec("word2vec", word2vec, {"tokens": "tokens", "vocab": "vocab"}),
    StageSpec("lsa", lsa, {"tfidf": "tfidf", "vocab": "vocab"}),
    StageSpec("doc_index", index, {"vectors": "lsa"}),
    StageSpec("word_index", index, {"vectors": "word2vec"}),
    # Document encoders (issue 4): a codes artifact and a doc index each; a full build makes those in
    # `encoder.build` (default just lsa), `--only codes_vae` makes any of them.
    *(
        spec
        for kind in ENCODERS
        for spec in (
            StageSpec(f"codes_{kind}", encode.stage(kind), {"tfidf": "tfidf", "vocab": "vocab"}),
            StageSpec(f"doc_index_{kind}", index, {"vectors": f"codes_{kind}"}),
        )
    ),
]
STAGES = [s.name for s in GRAPH]


def needed(only: str | None) -> list[StageSpec]:
    """The stages to run for `--only STAGE`: that stage and everything it needs, in order."""
    if only is None:
        return list(GRAPH)
    return _closure(only)


def enabled(spec: StageSpec, cfg: Config) -> bool:
    """Whether a full build makes this stage: encoder stages only for the encoders in `encoder.build`."""
    for prefix in ("codes_", "doc_index_"):
        if spec.name.startswith(prefix) and spec.name[len(prefix):] in ENCODERS:
            return spec.name[len(prefix):] in cfg.encoder.build
    return True


def _closure(only: str) -> list[StageSpec]:
    by_name = {s.name: s for s in GRAPH}
    if only not in by_name:
        raise ValueError(f"--only {only!r}: unknown stage; stages are {', '.join(STAGES)}")
    wanted: set[str] = set()
    stack = [only]
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(by_name[name].inputs.values())
    return [s for s in GRAPH if s.name in wanted]


@task(cache_policy=NO_CACHE, persist_result=False)
def stage_task(
    spec: StageSpec, cfg: Config, store: ArtifactStore, inputs: dict[str, Artifact], source: Any, cluster: Any
) -> Artifact:
    return run_stage(spec, cfg, store, inputs, source=source, cluster=cluster)


def run_build(cfg: Config, only: str | None = None) -> dict[str, Artifact]:
    """Run the stages (inside a flow run when called from `build_flow`); moves the ref on a full build."""
    store = ArtifactStore(cfg.store.root)
    source = ingest.discover(cfg.corpus)
    cluster = LazyCluster(cfg.dask)
    built: dict[str, Artifact] = {}
    try:
        for spec in needed(only):
            if only is None and not enabled(spec, cfg):
                continue
            inputs = {arg: built[upstream] for arg, upstream in spec.inputs.items()}
            run = stage_task.with_options(name=spec.name, task_run_name=spec.name)
            built[spec.name] = run(
                spec, cfg, store, inputs, source if spec.name == "ingest" else None, cluster
            )
    finally:
        cluster.close()
    if only is None:
        store.write_ref(cfg.store.ref, built, {"corpus": cfg.corpus.path})
        log.info("ref %r now points at this build (%d artifacts)", cfg.store.ref, len(built))
    return built


@flow(name="build", log_prints=True)
def build_flow(
    config: list[str] | None = None, overrides: list[str] | None = None, only: str | None = None
) -> dict[str, str]:
    """Build every artifact for a config (files overlaid in order, then `section.key=value` overrides)."""
    cfg = load_config(config, overrides)
    built = run_build(cfg, only)
    return {name: a.key for name, a in built.items()}
