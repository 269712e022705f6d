"""Retrain on new documents: only the delta is tokenized, word2vec continues, the ref moves once.

With `retrain.refit: false` (the default) the delta is encoded with what the base build fitted and its
codes join a copy of the base index; with `true` the document side is refit over the union. GloVe
warm-starts from the base's parameters either way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ops_support import SAMPLE, check_store, lexiflow

from lexiflow.idindex import IdIndex
from lexiflow.store import ArtifactStore
from tasks.lsa import load_projection

FAST = ["--set", "word2vec.epochs=2", "--set", "lsa.dim=32", "--set", "corpus.partition_rows=500",
        "--set", "explore.stages=[]"]  # the report is still written; its maps are tested elsewhere
REWRITTEN = "A completely rewritten description about quantum chromodynamics lattice solvers."


def base_and_new(tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    """A base build of 1,400 sample documents; a new corpus of 200 more, 50 known ones and 1 rewritten one."""
    table = pq.read_table(SAMPLE).slice(0, 1600)
    base, new = table.slice(0, 1400), table.slice(1400)
    changed = table.slice(0, 1).to_pylist()[0]
    changed["text"] = REWRITTEN
    known = table.slice(1, 50)  # already in the base with the same text: must be skipped
    pq.write_table(base, tmp_path / "base.parquet")
    pq.write_table(pa.concat_tables([new, known, pa.Table.from_pylist([changed], schema=table.schema)]),
                   tmp_path / "new.parquet")
    store = tmp_path / "store"
    lexiflow(["run", "--corpus", str(tmp_path / "base.parquet"), "--store", str(store), *FAST, *extra])
    return changed, store


def manifest(store: Path, ref: dict, role: str) -> dict:
    stage = ref.get("stages", {}).get(role, role)
    return json.loads((store / stage / ref["artifacts"][role] / "manifest.json").read_text())


def check_delta_only(store: Path, before: dict, after: dict) -> None:
    assert after["retrained_from"] == "default" and after["artifacts"] != before["artifacts"]
    union = manifest(store, after, "ingest")
    assert union["rows"] == 1600 and union["figures"]["replaced_docs"] == 1
    tokens = manifest(store, after, "tokens")
    assert tokens["figures"]["parts_reused"] == tokens["parts"] - 1, "only the delta part may be tokenized"
    w2v = manifest(store, after, "word2vec")
    assert w2v["figures"]["previous"] == before["artifacts"]["word2vec"]
    assert w2v["figures"]["update_lines"] == 201
    assert check_store(store) >= len(after["artifacts"])


def test_retrain_refit_recomputes_the_document_side(tmp_path):
    changed, store = base_and_new(tmp_path)
    before = json.loads((store / "refs" / "default.json").read_text())
    out = lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store),
                    "--set", "retrain.refit=true"]).stdout
    assert "200 new, 1 changed, 50 already known" in out
    after = json.loads((store / "refs" / "default.json").read_text())
    check_delta_only(store, before, after)
    assert manifest(store, after, "lsa")["module"] == "lsa" and "doc_vocab" not in after["artifacts"]

    hits = lexiflow(["query", "docs", "quantum chromodynamics lattice", "--json", "-k", "3", "--store", str(store)])
    assert json.loads(hits.stdout.splitlines()[0])["doc_id"] == changed["doc_id"]

    again = lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store)]).stdout
    assert "nothing new" in again
    assert json.loads((store / "refs" / "default.json").read_text())["artifacts"] == after["artifacts"]


def test_retrain_without_refit_encodes_only_the_delta_into_the_base_index(tmp_path):
    changed, store = base_and_new(tmp_path, "--set", "embeddings.models=[word2vec,glove]", "--set",
                                  "glove.epochs=2", "--set", "glove.vector_size=16")
    before = json.loads((store / "refs" / "default.json").read_text())
    old = ArtifactStore(str(store)).resolve("default")
    lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store)])
    after = json.loads((store / "refs" / "default.json").read_text())
    check_delta_only(store, before, after)
    new = ArtifactStore(str(store)).resolve("default")

    # the document side keeps the fitted vocab, idf and projection; only the 201 delta rows were encoded
    assert after["artifacts"]["doc_vocab"] == before["artifacts"]["vocab"] != after["artifacts"]["vocab"]
    assert (new["tfidf"].read_table("idf.parquet") == old["tfidf"].read_table("idf.parquet"))
    assert manifest(store, after, "lsa")["figures"]["added_rows"] == 201
    np.testing.assert_array_equal(load_projection(new["lsa"]), load_projection(old["lsa"]))
    assert new["tfidf"].num_rows == new["lsa"].num_rows == 1600
    index = manifest(store, after, "doc_index")
    assert index["module"] == "index_update" and index["figures"]["base"] == before["artifacts"]["doc_index"]
    assert (index["figures"]["added"], index["figures"]["replaced"]) == (200 - index["figures"]
                                                                        ["zero_vectors_skipped"], 1)

    # surviving documents keep their labels and codes; the rewritten one got a fresh label
    old_index, new_index = IdIndex.load(old["doc_index"].url), IdIndex.load(new["doc_index"].url)
    survivors = [i for i in old_index.ids() if i != changed["doc_id"]]
    assert all(new_index.label_of(i) == old_index.label_of(i) for i in survivors)
    assert new_index.label_of(changed["doc_id"]) >= old_index.next_label
    np.testing.assert_array_equal(new_index.vector(survivors[5]), old_index.vector(survivors[5]))
    assert new_index.size == old_index.size + index["figures"]["added"]

    # GloVe warm-started from the base's parameters for every term the base knew
    glove = manifest(store, after, "glove")["figures"]
    assert glove["previous"] == before["artifacts"]["glove"]
    assert glove["warm_started_terms"] == manifest(store, before, "glove")["rows"]

    # a new document is found by its own title, through the fitted vocab
    first_new = pq.read_table(SAMPLE).slice(1400, 1).to_pylist()[0]
    hits = lexiflow(["query", "docs", first_new["title"], "--json", "-k", "5", "--store", str(store)])
    assert first_new["doc_id"] in [json.loads(line)["doc_id"] for line in hits.stdout.splitlines()]


def test_retrain_without_refit_clusters_documents_with_the_vocab_their_rows_use(tmp_path):
    """The union's TF-IDF rows carry the base's term ids: the cluster stage must read them with that vocab
    (with the recounted vocab, ids pointed at other terms or past its end, and scipy read out of bounds)."""
    _, store = base_and_new(tmp_path, "--set", "explore.stages=[cluster]", "--set", "cluster.methods=[kmeans]",
                            "--set", "cluster.k=5", "--set", "vocab.min_count=3")
    lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store)])
    after = json.loads((store / "refs" / "default.json").read_text())
    assert after["artifacts"]["doc_vocab"] != after["artifacts"]["vocab"]
    clusters = manifest(store, after, "cluster")
    assert clusters["rows"] == 1600
    assert clusters["inputs"]["vocab"] == after["artifacts"]["doc_vocab"]
    assert clusters["inputs"]["tfidf"] == after["artifacts"]["tfidf"]
    resolved = ArtifactStore(str(store)).resolve("default")
    fitted = set(resolved["doc_vocab"].read_table(columns=["term"])["term"].to_pylist())
    tops = resolved["cluster"].read_table("top_terms.parquet")["terms"].to_pylist()
    assert len(tops) == 5 and all(t and set(t) <= fitted for t in tops)
