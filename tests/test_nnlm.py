"""Next-word model: learns a deterministic language, generates it back, and never crosses documents."""

from __future__ import annotations

import numpy as np
import pytest
from embedding_util import build_stage, tokens_and_vocab

from flows.executor import StageSpec
from lexiflow.sequences import IdBatch
from lexiflow.vectors import load_vectors
from tasks import nnlm

SPEC = StageSpec("nnlm", nnlm, {"tokens": "tokens", "vocab": "vocab"})
WORDS = [f"w{n}" for n in range(40)]


def cyclic_docs(n_docs: int = 150, length: int = 30) -> list[list[str]]:
    rng = np.random.default_rng(0)
    return [[WORDS[(s + k) % len(WORDS)] for k in range(length)] for s in rng.integers(0, len(WORDS), n_docs)]


def test_contexts_pad_at_document_start():
    batch = IdBatch(np.array([5, 6, 7, 8, 9], np.int32), np.array([0, 3, 5]))
    ctx, tgt = nnlm.contexts(batch, 2, pad=99)
    assert tgt.tolist() == [6, 7, 9]
    assert ctx.tolist() == [[99, 5], [5, 6], [99, 8]]


@pytest.mark.parametrize("combine,softmax", [("concat", "sampled"), ("sum", "full")])
def test_learns_and_generates_a_cyclic_language(tmp_path, combine, softmax):
    settings = {"context": 2, "vector_size": 16, "combine": combine, "softmax": softmax, "samples": 10,
                "epochs": 8, "batch_size": 128, "learning_rate": 0.02, "workers": 1}
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, cyclic_docs(), nnlm=settings)
    artifact = build_stage(SPEC, cfg, store, tokens=tokens, vocab=vocab)
    assert artifact.figures["perplexity"] < 1.5, artifact.figures  # uniform guessing would be 40
    assert load_vectors(artifact).vectors.shape == (40, 16)
    words = nnlm.Generator(artifact).generate(["w7", "w8"], n_words=6, temperature=0)
    assert words == ["w9", "w10", "w11", "w12", "w13", "w14"]


def test_unknown_prompt_is_an_error(tmp_path):
    settings = {"context": 2, "vector_size": 4, "epochs": 1, "samples": 5, "workers": 1}
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, cyclic_docs(20, 10), nnlm=settings)
    gen = nnlm.Generator(build_stage(SPEC, cfg, store, tokens=tokens, vocab=vocab))
    with pytest.raises(ValueError, match="none of the prompt words"):
        gen.generate(["zzz"])
