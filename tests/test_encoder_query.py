"""End to end on a slice of the sample corpus: encoder stages through the executor, a ref, then the query path."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from flows.build import GRAPH, needed
from flows.executor import run_stage
from lexiflow.config import load_config
from lexiflow.query import QueryEngine, QueryError
from lexiflow.store import ArtifactStore
from tasks import ingest

ENCODER_SET = ["encoder.hidden=[32]", "encoder.code_size=4", "encoder.max_epochs=6", "encoder.threads=1",
               "encoder.kl_weight=0.2", "encoder.lr=0.003", "encoder.batch_size=32",
               "encoder.input_vocab=300", "encoder.build=[lsa,vae]"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    corpus = root / "corpus.parquet"
    pq.write_table(pq.read_table("data/debian-sample.parquet").slice(0, 400), corpus)
    cfg = load_config(["conf/default.yaml"], [f"corpus.path={corpus}", f"store.root={root / 'store'}",
                                              *ENCODER_SET])
    store = ArtifactStore(cfg.store.root)
    source = ingest.discover(cfg.corpus)
    built = {}
    wanted = {"ingest", "tokens", "vocab", "bow", "tfidf", "lsa", "doc_index"}
    for spec in needed(None, cfg):
        if spec.name not in wanted and not spec.name.startswith(("codes_", "doc_index_")):
            continue
        inputs = {arg: built[up] for arg, up in spec.inputs.items()}
        built[spec.name] = run_stage(spec, cfg, store, inputs, source=source if spec.name == "ingest" else None)
    store.write_ref("default", built)
    return cfg, store, built


def test_full_build_makes_only_the_configured_encoders(built) -> None:
    _, _, artifacts = built
    assert {"codes_lsa", "doc_index_lsa", "codes_vae", "doc_index_vae"} <= set(artifacts)
    assert "codes_autoencoder" not in artifacts and "codes_denoising" not in artifacts
    assert artifacts["codes_vae"].num_rows == 400
    vae = artifacts["codes_vae"]
    assert len(vae.figures["loss_curve"]) == vae.figures["epochs"] >= 1
    assert os.path.getsize(vae.file("loss.png")) > 0
    assert {s.name for s in GRAPH} >= {f"codes_{k}" for k in ("lsa", "autoencoder", "denoising", "vae")}


def test_cache_key_ignores_other_encoders_settings(built) -> None:
    cfg, store, artifacts = built
    spec = next(s for s in GRAPH if s.name == "codes_lsa")
    changed = cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update={"kl_weight": 5.0, "build": ["lsa"]})})
    again = run_stage(spec, changed, store, {"tfidf": artifacts["tfidf"], "vocab": artifacts["vocab"]})
    assert again.key == artifacts["codes_lsa"].key


def test_query_docs_with_an_encoder_finds_the_document_itself(built) -> None:
    _, store, artifacts = built
    engine = QueryEngine(store, "default")
    doc = artifacts["ingest"].read_table(columns=["doc_id", "title"]).slice(7, 1).to_pylist()[0]
    for name in ("lsa", "vae"):
        hits = engine.docs(doc["title"], k=400, encoder=name)
        assert doc["doc_id"] in [h.doc_id for h in hits]
    with pytest.raises(QueryError, match="no 'autoencoder' encoder"):
        engine.docs("library", encoder="autoencoder")


def test_generate_prints_words_of_the_vocabulary(built) -> None:
    _, store, artifacts = built
    samples = QueryEngine(store, "default").generate("vae", samples=3, words=5, seed=1)
    terms = set(artifacts["vocab"].read_table(columns=["term"])["term"].to_pylist())
    assert len(samples) == 3 and all(len(s) == 5 for s in samples)
    assert all(w in terms and 0 < p < 1 for s in samples for w, p in s)
    with pytest.raises(QueryError, match="no generative decoder"):
        QueryEngine(store, "default").generate("lsa", 1, 3)
