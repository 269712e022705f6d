"""word2vec: the stage against gensim called directly on the same corpus file, one worker, same seed.

With workers=1 gensim's corpus_file training is deterministic for a given seed (checked: two runs are
bit-equal), so the stage must equal gensim called with the same arguments bit for bit. gensim's one-call
constructor `Word2Vec(corpus_file=...)` also passes `total_examples`, which switches the learning-rate decay
from per-word to per-sentence progress; the stage (build_vocab + train with total_words only) is then not
bit-equal but agrees to cosine > 0.999 per word. Passing `total_examples=model.corpus_count` in the stage
makes it bit-equal to the one-call constructor too; either exact match passes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from stage_util import SAMPLE, config, ingest_texts, run

from lexiflow.store import ArtifactStore
from tasks import tokens, vocab, word2vec

SETTINGS = {"vector_size": 24, "epochs": 2, "workers": 1, "seed": 7, "min_count": 5, "window": 4}


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_stage_equals_gensim_directly(store: ArtifactStore, tmp_path: Path, model: str) -> None:
    from gensim.models import Word2Vec

    texts = pq.read_table(SAMPLE, columns=["text"])["text"].to_pylist()[:1500]
    cfg, corpus = ingest_texts(store, tmp_path, texts, config(word2vec={**SETTINGS, "model": model}))
    toks = run(tokens, cfg, store, corpus=corpus)
    voc = run(vocab, cfg, store, tokens=toks)
    art = run(word2vec, cfg, store, tokens=toks, vocab=voc)

    known = set(voc.read_table()["term"].to_pylist())
    lines = [" ".join(t for t in doc if t in known) for doc in toks.read_table()["tokens"].to_pylist()]
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("".join(line + "\n" for line in lines if line))
    settings = {"vector_size": 24, "window": 4, "min_count": 5, "sg": 1 if model == "skipgram" else 0,
                "workers": 1, "seed": 7}
    ref = Word2Vec(corpus_file=str(corpus_file), epochs=2, **settings)  # one call: per-sentence alpha decay
    two_step = Word2Vec(**settings)  # the documented two-step API with total_words: per-word alpha decay
    two_step.build_vocab(corpus_file=str(corpus_file))
    two_step.train(corpus_file=str(corpus_file), total_words=two_step.corpus_total_words, epochs=2)

    table = art.read_table()
    assert table.schema == word2vec.vector_schema(24)
    got_terms = table["term"].to_pylist()
    assert sorted(got_terms) == sorted(ref.wv.index_to_key)
    vectors = table["vector"].combine_chunks().flatten().to_numpy().reshape(-1, 24)
    expected = np.stack([ref.wv[t] for t in got_terms])
    exact = [np.array_equal(vectors, np.stack([m.wv[t] for t in got_terms])) for m in (ref, two_step)]
    assert any(exact), "the stage matches neither gensim call bit for bit"
    cosine = (vectors * expected).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.999
    # term ids follow the vocab's, not gensim's order
    ids = dict(zip(voc.read_table()["term"].to_pylist(), voc.read_table()["term_id"].to_pylist(), strict=True))
    assert table["term_id"].to_pylist() == [ids[t] for t in got_terms]
    assert table["term_id"].to_pylist() == sorted(table["term_id"].to_pylist())
    assert art.figures["corpus_words"] == sum(len(line.split()) for line in lines)
