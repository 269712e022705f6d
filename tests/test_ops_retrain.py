"""Retrain on new documents: only the delta is tokenized, word2vec continues, the ref moves once."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from ops_support import SAMPLE, check_store, lexiflow

FAST = ["--set", "word2vec.epochs=2", "--set", "lsa.dim=32", "--set", "corpus.partition_rows=500"]


def test_retrain_adds_new_documents_and_skips_known_ones(tmp_path):
    table = pq.read_table(SAMPLE).slice(0, 1600)
    base, new = table.slice(0, 1400), table.slice(1400)
    changed = table.slice(0, 1).to_pylist()[0]
    changed["text"] = "A completely rewritten description about quantum chromodynamics lattice solvers."
    known = table.slice(1, 50)  # already in the base with the same text: must be skipped
    pq.write_table(base, tmp_path / "base.parquet")
    pq.write_table(pa.concat_tables([new, known, pa.Table.from_pylist([changed], schema=table.schema)]),
                   tmp_path / "new.parquet")
    store = tmp_path / "store"
    lexiflow(["run", "--corpus", str(tmp_path / "base.parquet"), "--store", str(store), *FAST])
    before = json.loads((store / "refs" / "default.json").read_text())

    out = lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store)]).stdout
    assert "200 new, 1 changed, 50 already known" in out
    after = json.loads((store / "refs" / "default.json").read_text())
    assert after["retrained_from"] == "default" and after["artifacts"] != before["artifacts"]
    union = json.loads((store / "corpus_union" / after["artifacts"]["ingest"] / "manifest.json").read_text())
    assert union["rows"] == 1600 and union["figures"]["replaced_docs"] == 1
    tokens = json.loads((store / "tokens" / after["artifacts"]["tokens"] / "manifest.json").read_text())
    assert tokens["figures"]["parts_reused"] == tokens["parts"] - 1, "only the delta part may be tokenized"
    w2v = json.loads((store / "word2vec" / after["artifacts"]["word2vec"] / "manifest.json").read_text())
    assert w2v["figures"]["previous"] == before["artifacts"]["word2vec"]
    assert w2v["figures"]["update_lines"] == 201
    assert check_store(store) >= len(after["artifacts"])

    hits = lexiflow(["query", "docs", "quantum chromodynamics lattice", "--json", "-k", "3", "--store", str(store)])
    assert json.loads(hits.stdout.splitlines()[0])["doc_id"] == changed["doc_id"]

    again = lexiflow(["retrain", "--corpus", str(tmp_path / "new.parquet"), "--store", str(store)]).stdout
    assert "nothing new" in again
    assert json.loads((store / "refs" / "default.json").read_text())["artifacts"] == after["artifacts"]
