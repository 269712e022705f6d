"""Export round trips: gensim reads our word2vec files back bit for bit; GloVe and TSV parse exactly."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors

from lexiflow.export import export
from lexiflow.vectors import WordVectors


@pytest.fixture
def wv():
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(50, 7)) * 10.0 ** rng.integers(-8, 8, size=(50, 7))).astype(np.float32)
    return WordVectors([f"w{n}" for n in range(49)] + ["café"], vectors)


@pytest.mark.parametrize("fmt,binary", [("word2vec", False), ("word2vec-binary", True)])
def test_word2vec_round_trip_is_exact(tmp_path, wv, fmt, binary):
    path = str(tmp_path / "v.bin")
    export(wv, fmt, path)
    kv = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert kv.index_to_key == wv.terms
    assert np.array_equal(kv.vectors, wv.vectors)


def test_glove_and_tsv_are_exact(tmp_path, wv):
    export(wv, "glove", str(tmp_path / "g.txt"))
    rows = [line.split(" ") for line in (tmp_path / "g.txt").read_text(encoding="utf-8").splitlines()]
    assert [r[0] for r in rows] == wv.terms
    assert np.array_equal(np.array([r[1:] for r in rows], dtype=np.float32), wv.vectors)
    export(wv, "tsv", str(tmp_path / "tb"))
    vectors = np.loadtxt(tmp_path / "tb" / "vectors.tsv", delimiter="\t", dtype=np.float32)
    assert np.array_equal(vectors, wv.vectors)
    assert (tmp_path / "tb" / "metadata.tsv").read_text(encoding="utf-8").splitlines() == wv.terms


def test_whitespace_term_is_refused(tmp_path):
    bad = WordVectors(["ok", "new york"], np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="'new york'"):
        export(bad, "glove", str(tmp_path / "g.txt"))


def test_whitespace_tokens_never_reach_the_vocabulary(tmp_path):
    from embedding_util import tokens_and_vocab

    _, _, _, vocab = tokens_and_vocab(tmp_path, [["new york", "a", "b"], ["new york", "a"]])
    assert vocab.read_table()["term"].to_pylist() == ["a", "b"]
    assert vocab.figures["dropped"]["whitespace"] == 1
