"""word2vec: long documents split (never truncated), and incremental training from a saved model."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from embedding_util import build_stage, tokens_and_vocab, tokens_artifact

from flows.executor import StageSpec
from lexiflow.vectors import load_vectors
from tasks import word2vec

SPEC = StageSpec("word2vec", word2vec, {"tokens": "tokens", "vocab": "vocab"})
SMALL = {"vector_size": 8, "min_count": 1, "epochs": 2, "workers": 1, "window": 2}


def corpus(seed: int, words: list[str], docs: int = 40) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(words) for _ in range(20)] for _ in range(docs)]


@pytest.fixture
def trained(tmp_path):
    docs = corpus(0, [f"w{n}" for n in range(20)])
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, docs, word2vec=SMALL)
    return store, build_stage(SPEC, cfg, store, tokens=tokens, vocab=vocab)


def test_long_documents_are_split_not_truncated(tmp_path):
    words = [f"t{n % 7}" for n in range(25_000)]
    store = tokens_and_vocab(tmp_path, [["x"]])[1]
    tokens = tokens_artifact(store, [words, ["t1", "t2"]])
    stats = word2vec.write_corpus_file(tokens, pa.array([f"t{n}" for n in range(7)]), str(tmp_path / "c.txt"))
    lines = (tmp_path / "c.txt").read_text().splitlines()
    assert [len(line.split()) for line in lines] == [10_000, 10_000, 5_000, 2]
    assert stats.words == 25_002 and stats.split_docs == 1
    assert " ".join(lines[:3]).split() == words


def test_update_adds_new_words_reports_dropped_and_continues(tmp_path, trained):
    store, previous = trained
    before = load_vectors(previous)
    added = corpus(1, [f"w{n}" for n in range(20)], docs=10)
    added[0][:5] = ["zeta"] * 5
    added[1][0] = "eta"
    tokens = tokens_artifact(store, added)
    writer = store.writer("word2vec", "update-1")
    result = word2vec.update(previous, tokens, writer, min_count=2)
    assert result.changed, result.message
    assert result.figures["new_words"] == 1 and result.figures["new_word_examples"] == ["zeta"]
    assert result.figures["dropped_words"] == 1 and result.figures["dropped_examples"] == [["eta", 1]]
    artifact = store.publish(writer, {"stage": "word2vec", "figures": result.figures})
    after = load_vectors(artifact)
    assert set(after.terms[: len(before.terms)]) == set(before.terms)  # old words first, new ones after
    assert after.terms[len(before.terms):] == ["zeta"]
    old = np.array([after.vectors[after.terms.index(t)] for t in before.terms])
    assert np.isfinite(after.vectors).all() and not np.allclose(old, before.vectors)  # training continued
    assert artifact.read_table(word2vec.DROPPED_FILE).to_pylist() == [{"term": "eta", "count": 1}]


def test_update_without_new_words_is_a_noop(tmp_path, trained):
    store, previous = trained
    tokens = tokens_artifact(store, [*corpus(2, ["w1", "w2", "w3"], docs=5), ["unseen"]])
    writer = store.writer("word2vec", "update-2")
    result = word2vec.update(previous, tokens, writer, min_count=2)
    assert not result.changed and "no-op" in result.message and "min_count=2" in result.message
    assert result.figures["dropped_examples"] == [["unseen", 1]]
    assert not any((tmp_path / "store" / "word2vec").glob(".tmp-update-2-*/parts/*"))


@pytest.mark.parametrize("settings,expected", [
    ({"model": "cbow", "hs": True, "negative": 0, "window": 3, "cbow_mean": False},
     {"sg": 0, "hs": 1, "negative": 0, "window": 3, "cbow_mean": 0}),
    ({"model": "skipgram", "negative": 7, "sample": 0.0, "ns_exponent": 0.5},
     {"sg": 1, "hs": 0, "negative": 7, "sample": 0.0, "ns_exponent": 0.5}),
])
def test_config_reaches_gensim(tmp_path, settings, expected):
    from gensim.models import Word2Vec

    docs = corpus(3, [f"w{n}" for n in range(10)], docs=10)
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, docs, word2vec={**SMALL, **settings})
    artifact = build_stage(SPEC, cfg, store, tokens=tokens, vocab=vocab)
    model = Word2Vec.load(artifact.file(word2vec.MODEL_FILE))
    assert {k: getattr(model, k) for k in expected} == expected
    assert model.vector_size == 8 and model.epochs == 2
    assert load_vectors(artifact).terms == vocab.read_table()["term"].to_pylist()
