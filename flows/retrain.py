"""The retrain flow: a base build plus new documents, with the base build's own settings.

Only the delta (new or changed documents) is ingested and tokenized; word2vec continues from the base
model on the delta; the count-based stages (vocab, bow, tfidf) and LSA are recomputed over the union,
which their vectorised passes make cheap. The ref moves only when every artifact is published.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prefect import flow

from flows.build import Runner, selected
from flows.executor import StageSpec
from lexiflow.config import Config, load_config
from lexiflow.store import ArtifactStore
from tasks import delta, ingest, tokens, union, word2vec_update

log = logging.getLogger("lexiflow.retrain")


def base_config(store_root: str, base: str, overrides: list[str]) -> Config:
    """The config the base build ran with (its ref records it), then `overrides` on top."""
    ref = ArtifactStore(store_root).read_ref(base)
    if "config" not in ref:
        raise ValueError(f"ref {base!r} records no config (built by an older lexiflow); run a full build first")
    return load_config([], overrides, base=ref["config"])


def run_retrain(cfg: Config, corpus: str, base: str) -> dict[str, Any]:
    """Retrain `base` on the documents of `corpus`; returns figures (and builds nothing when nothing is new)."""
    runner = Runner(cfg)
    previous = runner.store.resolve(base)
    new_cfg = cfg.model_copy(update={"corpus": cfg.corpus.model_copy(update={"path": corpus})})
    try:
        new_docs = runner(StageSpec("ingest", ingest), {}, ingest.discover(new_cfg.corpus), cfg=new_cfg)
        changes = runner(StageSpec("corpus_delta", delta), {"base": previous["ingest"], "new": new_docs})
        if changes.num_rows == 0:
            message = (f"nothing new: all {changes.figures['unchanged_docs']} documents of {corpus} are already "
                       f"in build {base!r} with the same text; the ref stays where it is")
            log.info(message)
            return {"updated": False, "message": message, **changes.figures}
        built = {"ingest": runner(StageSpec("corpus_union", union),
                                  {"base": previous["ingest"], "delta": changes})}
        added_tokens = runner(StageSpec("tokens", tokens), {"corpus": changes})
        specs = selected(cfg)
        runner.graph([s for s in specs if s.name in ("tokens", "vocab")], built)
        if "word2vec" in previous and any(s.name == "word2vec" for s in specs):
            built["word2vec"] = runner(StageSpec("word2vec", word2vec_update),
                                       {"previous": previous["word2vec"], "tokens": added_tokens,
                                        "vocab": built["vocab"]})
        runner.graph(specs, built)
    finally:
        runner.close()
    runner.publish(built, runner.store.read_ref(base).get("corpus", ""), retrained_from=base, added_corpus=corpus)
    figures = {"updated": True, **changes.figures}
    log.info("retrain: %d new and %d changed documents added to build %r", figures["new_docs"],
             figures["changed_docs"], base)
    return figures


@flow(name="retrain", log_prints=True)
def retrain_flow(corpus: str, base: str = "default", store_root: str = "data/artifacts",
                 overrides: list[str] | None = None) -> dict[str, Any]:
    """Add the documents of `corpus` (a path or fsspec URL) to the build named `base` and move that ref."""
    cfg = base_config(store_root, base, [f"store.root={json.dumps(store_root)}", *(overrides or [])])
    return run_retrain(cfg, corpus, base)
