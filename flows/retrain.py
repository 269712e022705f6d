"""The retrain flow: a base build plus new documents, with the base build's own settings.

Only the delta (new or changed documents) is ingested and tokenized; the vocabulary's counts are redone
over the union (cheap, vectorised); word2vec continues from the base model on the delta, and GloVe
trains on the union's counts starting from the base's parameters for the terms it knew. The document
side depends on `retrain.refit`: false (default) keeps what the base build fitted (vocab, idf, LSA
projection, encoders) and encodes only the delta, whose codes join copies of the base's doc indexes
(`index_update`); true refits bag-of-words, TF-IDF, LSA and the encoders over the union and rebuilds the
indexes. The ref moves only when every artifact is published.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from prefect import flow

from flows.build import Runner, selected, send_logs_to_prefect
from flows.executor import StageSpec
from lexiflow.config import ENCODERS, Config, load_config
from lexiflow.store import Artifact, ArtifactStore
from tasks import bow, delta, encode_delta, index_update, ingest, rows_union, tfidf, tokens, union, word2vec_update

log = logging.getLogger("lexiflow.retrain")


def base_config(store_root: str, base: str, overrides: list[str]) -> Config:
    """The config the base build ran with (its ref records it), then `overrides` on top."""
    ref = ArtifactStore(store_root).read_ref(base)
    if "config" not in ref:
        raise ValueError(f"ref {base!r} records no config (built by an older lexiflow); run a full build first")
    return load_config([], overrides, base=ref["config"])


def reads_doc_vocab(spec: StageSpec) -> StageSpec:
    """A stage that reads bow or tfidf rows takes `doc_vocab`: the vocabulary those rows' term ids come from."""
    ups = set(spec.inputs.values())
    if "vocab" not in ups or not ups & {"bow", "tfidf"}:
        return spec
    return dataclasses.replace(spec, inputs={arg: "doc_vocab" if up == "vocab" else up
                                             for arg, up in spec.inputs.items()})


def encode_new_docs(runner: Runner, previous: dict[str, Artifact], added_tokens: Artifact,
                    by_name: dict[str, StageSpec]) -> dict[str, Artifact]:
    """The document side without refitting: the delta through the base's fitted stages, joined to its artifacts.

    `doc_vocab` names the vocabulary the document side was fitted on (the base's `vocab` until a refit), so
    a later retrain applies the same term ids, idf and projection.
    """
    doc_vocab = previous.get("doc_vocab", previous["vocab"])
    new_bow = runner(StageSpec("bow", bow), {"tokens": added_tokens, "vocab": doc_vocab})
    new_tfidf = runner(StageSpec("tfidf", tfidf), {"bow": new_bow, "vocab": doc_vocab})
    out = {"doc_vocab": doc_vocab,
           "bow": runner(StageSpec("bow_union", rows_union), {"base": previous["bow"], "delta": new_bow}),
           "tfidf": runner(StageSpec("tfidf_union", rows_union), {"base": previous["tfidf"], "delta": new_tfidf})}
    for codes, index in [("lsa", "doc_index"), *((f"codes_{k}", f"doc_index_{k}") for k in ENCODERS)]:
        if codes not in previous:
            continue
        new_codes = runner(StageSpec(f"{codes}_delta", encode_delta),
                           {"codes": previous[codes], "tfidf": new_tfidf, "vocab": doc_vocab})
        out[codes] = runner(StageSpec(f"{codes}_union", rows_union), {"base": previous[codes], "delta": new_codes})
        if index in previous:
            out[index] = runner(StageSpec(f"{index}_update", index_update),
                                {"base": previous[index], "vectors": new_codes})
    for kind in runner.cfg.encoder.build:  # an encoder the base build lacks is fitted on the fitted vocab's rows
        codes, index = f"codes_{kind}", f"doc_index_{kind}"
        if codes not in out:
            out[codes] = runner(by_name[codes], {"tfidf": out["tfidf"], "vocab": doc_vocab})
            out[index] = runner(by_name[index], {"vectors": out[codes]})
    return out


def run_retrain(cfg: Config, corpus: str, base: str) -> dict[str, Any]:
    """Retrain `base` on the documents of `corpus`; returns figures (and builds nothing when nothing is new)."""
    runner = Runner(cfg)
    started = time.time()
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
        by_name = {s.name: s for s in specs}
        if "glove" in previous and "glove" in by_name:  # warm start: known terms begin where they ended
            runner.graph([by_name["cooc"]], built)
            built["glove"] = runner(by_name["glove"], {"cooc": built["cooc"], "vocab": built["vocab"],
                                                       "previous": previous["glove"]})
        if not cfg.retrain.refit and "doc_index" in previous:
            built.update(encode_new_docs(runner, previous, added_tokens, by_name))
            specs = [reads_doc_vocab(s) for s in specs]  # the rest of the document side too (cluster)
        runner.graph(specs, built)
    finally:
        runner.close()
    runner.publish(built, runner.store.read_ref(base).get("corpus", ""), retrained_from=base, added_corpus=corpus,
                   started=started)
    figures = {"updated": True, "refit": cfg.retrain.refit, **changes.figures}
    log.info("retrain: %d new and %d changed documents added to build %r", figures["new_docs"],
             figures["changed_docs"], base)
    return figures


@flow(name="retrain", log_prints=True)
def retrain_flow(corpus: str, base: str = "default", store_root: str = "data/artifacts",
                 overrides: list[str] | None = None) -> dict[str, Any]:
    """Add the documents of `corpus` (a path or fsspec URL) to the build named `base` and move that ref."""
    send_logs_to_prefect()
    cfg = base_config(store_root, base, [f"store.root={json.dumps(store_root)}", *(overrides or [])])
    return run_retrain(cfg, corpus, base)
