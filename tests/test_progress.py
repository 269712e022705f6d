"""Every long stage reports progress (done/total, rows, rate, ETA) on the `lexiflow.progress` logger.

The per-partition stages report through `map_parts` (tests/test_streaming.py covers the line format);
here the trainers and the index, which run in one process and would otherwise sit silent for minutes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from stage_util import SAMPLE, config, preprocess, run

from lexiflow.parallel import Progress
from lexiflow.store import ArtifactStore
from tasks import cooc, encode, glove, index, lsa, nnlm, word2vec

LINE = re.compile(r"^(?P<label>.+): (?P<done>\d+)/(?P<total>\d+) .+, (?P<rows>\d+) rows, \d+ rows/s, eta (\d+|nan)s$")


def lines_by_label(records: list[logging.LogRecord]) -> dict[str, list[re.Match]]:
    out: dict[str, list[re.Match]] = {}
    for record in records:
        if record.name == "lexiflow.progress":
            match = LINE.match(record.getMessage())
            assert match, record.getMessage()
            out.setdefault(match["label"], []).append(match)
    return out


def test_trainers_and_index_log_progress_with_an_eta(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "DEFAULT_EVERY", 0.0)  # every update prints
    texts = pq.read_table(SAMPLE, columns=["text"])["text"].to_pylist()[:600]
    cfg = config(glove={"epochs": 3, "vector_size": 16}, nnlm={"epochs": 2, "vector_size": 16, "batch_size": 512},
                 word2vec={"epochs": 2, "vector_size": 16, "min_count": 2},
                 encoder={"input_vocab": 300, "hidden": [32], "code_size": 4, "max_epochs": 2, "patience": 5,
                          "max_mean_cosine": 1.0},  # two epochs on 600 docs: progress, not quality, is tested
                 lsa={"dim": 8}, index={"kind": "hnsw", "batch_rows": 200})
    store = ArtifactStore(str(tmp_path / "store"))
    arts = preprocess(store, tmp_path, texts, cfg)
    toks, voc = arts["tokens"], arts["vocab"]
    with caplog.at_level(logging.INFO, logger="lexiflow.progress"):
        run(glove, cfg, store, cooc=run(cooc, cfg, store, tokens=toks, vocab=voc), vocab=voc)
        run(nnlm, cfg, store, tokens=toks, vocab=voc)
        w2v = run(word2vec, cfg, store, tokens=toks, vocab=voc)
        run(encode.stage("autoencoder"), cfg, store, tfidf=arts["tfidf"], vocab=voc)
        run(index, cfg, store, vectors=run(lsa, cfg, store, tfidf=arts["tfidf"], vocab=voc))
    lines = lines_by_label(caplog.records)

    assert [int(m["done"]) for m in lines["glove"]] == [1, 2, 3]
    assert all(m["total"] == "3" for m in lines["glove"])
    assert [int(m["done"]) for m in lines["word2vec skipgram"]] == [1, 2]
    assert int(lines["word2vec skipgram"][-1]["rows"]) == 2 * w2v.figures["corpus_words"]
    examples = [int(m["done"]) for m in lines["nnlm"]]
    assert examples == sorted(examples) and len(examples) >= 2  # one line per batch, growing
    assert 0 < examples[-1] <= int(lines["nnlm"][0]["total"])  # the ETA's total bounds the examples done
    assert [int(m["done"]) for m in lines["autoencoder code 4"]] == [1, 2]
    added = lines["index add (HNSW32,Flat)"]
    assert [int(m["done"]) for m in added] == [200, 400, 600] and added[-1]["total"] == "600"
    assert added[-1].group(5) == "0"  # eta 0s once every vector is in
