"""The build flow: every stage as a Prefect task run named after it, through the one cached executor."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.cluster import LazyCluster
from flows.executor import StageSpec, run_stage
from lexiflow.config import ENCODERS, Config, load_config
from lexiflow.report import write_report
from lexiflow.store import Artifact, ArtifactStore
from tasks import bow, cluster, cooc, encode, evaluate, glove, index, ingest, lsa, nnlm, tfidf, tokens, vocab, word2vec
from tasks import map as map_stage

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
    StageSpec("word2vec_cbow", word2vec, {"tokens": "tokens", "vocab": "vocab"}, section_name="word2vec_cbow"),
    StageSpec("cooc", cooc, {"tokens": "tokens", "vocab": "vocab"}),
    StageSpec("glove", glove, {"cooc": "cooc", "vocab": "vocab"}),
    StageSpec("nnlm", nnlm, {"tokens": "tokens", "vocab": "vocab"}),
    *(StageSpec(f"eval_{m}", evaluate, {"vectors": m}) for m in ("word2vec", "word2vec_cbow", "glove", "nnlm")),
    # Document encoders (issue 4): a codes artifact and a doc index each; a full build makes those in
    # `encoder.build` (default none: the `lsa` stage already gives LSA codes), `--only codes_vae` makes any of them.
    *(
        spec
        for kind in ENCODERS
        for spec in (
            StageSpec(f"codes_{kind}", encode.stage(kind), {"tfidf": "tfidf", "vocab": "vocab"}),
            StageSpec(f"doc_index_{kind}", index, {"vectors": f"codes_{kind}"}),
        )
    ),
    # Exploration (issue 7): clusters and 2-D maps of the document codes and the word vectors (explore.stages).
    StageSpec("cluster", cluster, {"vectors": "lsa", "tfidf": "tfidf", "vocab": "vocab", "corpus": "ingest"}),
    StageSpec("word_cluster", cluster, {"vectors": "word2vec"}, section_name="word_cluster"),
    StageSpec("map", map_stage, {"vectors": "lsa"}),
    StageSpec("word_map", map_stage, {"vectors": "word2vec"}, section_name="word_map"),
]
STAGES = [s.name for s in GRAPH]
# Word-vector models a config may leave out (`embeddings.models`), and the stages only they need.
MODELS = {"word2vec", "word2vec_cbow", "glove", "nnlm"}
MODEL_ONLY = {"cooc": "glove", "word_index": "word2vec", "word_cluster": "word2vec", "word_map": "word2vec"}
EXPLORE = {"cluster", "word_cluster", "map", "word_map"}


def selected(cfg: Config) -> list[StageSpec]:
    """The default graph minus the word-vector models (and their eval stages) the config does not ask for."""
    models = set(cfg.embeddings.models)
    out = []
    for spec in GRAPH:
        model = spec.inputs.get("vectors") if spec.name.startswith("eval_") else spec.name
        model = MODEL_ONLY.get(spec.name, model)
        if model in MODELS and model not in models:
            continue
        if spec.name.startswith("eval_") and not cfg.embeddings.evaluate:
            continue
        if not _encoder_wanted(spec, cfg):
            continue
        if spec.name in EXPLORE and spec.name not in cfg.explore.stages:
            continue
        out.append(spec)
    return out


def _encoder_wanted(spec: StageSpec, cfg: Config) -> bool:
    """Encoder stages (codes_X, doc_index_X) join a full build only for the encoders in `encoder.build`."""
    for prefix in ("codes_", "doc_index_"):
        if spec.name.startswith(prefix) and spec.name[len(prefix):] in ENCODERS:
            return spec.name[len(prefix):] in cfg.encoder.build
    return True


def needed(only: str | None, cfg: Config | None = None) -> list[StageSpec]:
    """The stages to run for `--only STAGE`: that stage and everything it needs, in order."""
    if only is None:
        return selected(cfg) if cfg is not None else list(GRAPH)
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


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what another try can fix: bad input and bad config (ValueError) fail at once."""
    exc = state.result(raise_on_failure=False)
    return not isinstance(exc, ValueError)


@task(cache_policy=NO_CACHE, persist_result=False, retry_condition_fn=transient)
def stage_task(
    spec: StageSpec, cfg: Config, store: ArtifactStore, inputs: dict[str, Artifact], source: Any, cluster: Any
) -> Artifact:
    return run_stage(spec, cfg, store, inputs, source=source, cluster=cluster)


OUR_LOGGERS = ("lexiflow", "tasks", "flows")


def send_logs_to_prefect() -> None:
    """Our stage summaries and progress lines go to the flow run's logs too (the UI of a server shows them)."""
    from prefect.logging.handlers import APILogHandler

    for name in OUR_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        if not any(isinstance(h, APILogHandler) for h in logger.handlers):
            logger.addHandler(APILogHandler())


class Runner:
    """Runs stages as Prefect task runs named after them, with the config's retries, on one lazy cluster."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.store = ArtifactStore(cfg.store.root)
        self.cluster = LazyCluster(cfg.dask)

    def __call__(self, spec: StageSpec, inputs: dict[str, Artifact], source: Any = None,
                 cfg: Config | None = None) -> Artifact:
        run = stage_task.with_options(
            name=spec.name,
            task_run_name=spec.name,
            retries=self.cfg.run.retries,
            retry_delay_seconds=self.cfg.run.retry_delay,
        )
        return run(spec, cfg or self.cfg, self.store, inputs, source, self.cluster)

    def graph(self, specs: list[StageSpec], built: dict[str, Artifact]) -> dict[str, Artifact]:
        """Run specs in order, each fed from `built` by upstream name; returns `built`, extended."""
        for spec in specs:
            if spec.name not in built:
                built[spec.name] = self(spec, {arg: built[up] for arg, up in spec.inputs.items()})
        return built

    def publish(self, built: dict[str, Artifact], corpus: str, **extra: Any) -> None:
        """Move the ref to a finished build (it records the config so a retrain can apply the same settings),
        then write the build's report (explore.report)."""
        body = {"corpus": corpus, "config": self.cfg.model_dump(mode="json"), **extra}
        self.store.write_ref(self.cfg.store.ref, built, body)
        log.info("ref %r now points at this build (%d artifacts)", self.cfg.store.ref, len(built))
        if self.cfg.explore.report:
            write_report(self.store, self.cfg.store.ref, map_words=self.cfg.explore.map_words,
                         retrieval=self.cfg.explore.retrieval)

    def close(self) -> None:
        self.cluster.close()


def run_build(cfg: Config, only: str | None = None) -> dict[str, Artifact]:
    """Run the stages (inside a flow run when called from `build_flow`); moves the ref on a full build."""
    runner = Runner(cfg)
    started = time.time()
    try:
        specs = needed(only, cfg)
        built = {"ingest": runner(specs[0], {}, ingest.discover(cfg.corpus))}
        runner.graph(specs[1:], built)
    finally:
        runner.close()
    if only is None:
        runner.publish(built, cfg.corpus.path, started=started)
    return built


@flow(name="build", log_prints=True)
def build_flow(
    config: list[str] | None = None,
    overrides: list[str] | None = None,
    only: str | None = None,
    corpus: str | None = None,
) -> dict[str, str]:
    """Build every artifact for a config (files overlaid in order, then `section.key=value` overrides).

    `corpus` (a path or fsspec URL) overrides `corpus.path`: the parameter a scheduled deployment sets.
    """
    send_logs_to_prefect()
    overrides = list(overrides or [])
    if corpus:
        overrides.append(f"corpus.path={json.dumps(corpus)}")
    cfg = load_config(config, overrides)
    built = run_build(cfg, only)
    return {name: a.key for name, a in built.items()}
