"""`lexiflow eval | export | generate` on a small build, and the build graph's model switch."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from embedding_util import tokens_and_vocab
from gensim.models import KeyedVectors

from flows.build import GRAPH, needed
from flows.executor import run_stage
from lexiflow.cli import main
from lexiflow.config import Config

WORDS = [f"w{n}" for n in range(30)]


@pytest.fixture(autouse=True)
def _restore_logging():
    """`main` binds our loggers to the (captured) stderr of the moment; unbind them for later tests."""
    yield
    for name in ("lexiflow", "tasks", "flows"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def test_default_build_leaves_out_slow_models():
    names = [s.name for s in needed(None, Config())]
    assert "word2vec" in names and "glove" not in names and "cooc" not in names and "nnlm" not in names
    assert not any(n.startswith(("eval_", "codes_", "doc_index_")) for n in names)
    cfg = Config.model_validate({"embeddings": {"models": ["glove", "nnlm"], "evaluate": True}})
    names = [s.name for s in needed(None, cfg)]
    assert {"cooc", "glove", "nnlm", "eval_glove", "eval_nnlm"} <= set(names)
    assert "word2vec" not in names and "word_index" not in names


def test_eval_export_generate_commands(tmp_path, capsys):
    rng = np.random.default_rng(0)
    docs = [[WORDS[(s + k) % 30] for k in range(20)] for s in rng.integers(0, 30, 100)]
    overrides = {"word2vec": {"vector_size": 8, "min_count": 1, "workers": 1, "epochs": 1},
                 "glove": {"vector_size": 8, "epochs": 2}, "cooc": {"window": 3},
                 "nnlm": {"context": 2, "vector_size": 8, "epochs": 3, "samples": 8, "learning_rate": 0.02},
                 "embeddings": {"models": ["word2vec", "glove", "nnlm"], "evaluate": True}}
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, docs, **overrides)
    built = {"tokens": tokens, "vocab": vocab}
    for spec in needed(None, cfg):
        if spec.name in built or not spec.inputs or not set(spec.inputs.values()) <= set(built):
            continue
        built[spec.name] = run_stage(spec, cfg, store, {a: built[u] for a, u in spec.inputs.items()})
    store.write_ref("default", built)
    common = ["--store", str(tmp_path / "store")]

    assert main(["eval", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| model | analogy") and [ln.split(" | ")[0] for ln in lines[2:]] == [
        "| word2vec", "| glove", "| nnlm"]

    out = tmp_path / "glove.txt"
    assert main(["export", "glove", "word2vec", str(out), *common]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    kv = KeyedVectors.load_word2vec_format(str(out))
    assert len(kv.index_to_key) == 30 and kv.vector_size == 8

    assert main(["generate", "w3", "W4", "-n", "3", "--temperature", "0", *common]) == 0
    assert capsys.readouterr().out.split()[:2] == ["w3", "w4"]
    assert main(["export", "word2vec_cbow", "tsv", str(tmp_path / "x"), *common]) == 1


def test_graph_names_are_unique():
    names = [s.name for s in GRAPH]
    assert len(names) == len(set(names))
