"""Evaluation figures agree with plain numpy/scipy computations on the same gensim-shipped sets."""

from __future__ import annotations

import numpy as np
from gensim.test.utils import datapath
from scipy.stats import spearmanr

from lexiflow.config import EvaluateConfig
from lexiflow.vectors import WordVectors
from tasks.evaluate import ANALOGIES, WORDSIM, evaluate, table


def questions() -> list[list[str]]:
    with open(datapath(ANALOGIES)) as fh:
        return [line.lower().split() for line in fh if line.strip() and not line.startswith(":")]


def test_analogy_and_similarity_match_numpy_reference():
    rng = np.random.default_rng(0)
    qs = questions()
    words = sorted({w for q in qs[:600] for w in q})  # first sections: capitals and countries
    words = words[: int(len(words) * 0.8)]  # leave some out: their questions are OOV
    with open(datapath(WORDSIM)) as fh:
        sim_words = sorted({w for line in fh if not line.startswith("#") for w in line.lower().split("\t")[:2]})
    terms = [*words, *[w for w in sim_words[:120] if w not in words], *[f"filler{n}" for n in range(50)]]
    vectors = rng.normal(size=(len(terms), 8)).astype(np.float32)
    cfg = EvaluateConfig(restrict_vocab=len(terms))
    figures = evaluate(WordVectors(terms, vectors), cfg)

    known = set(terms)
    answered = [q for q in qs if all(w in known for w in q)]
    assert figures["analogy_questions"] == len(qs)
    assert figures["analogy_answered"] == len(answered)
    assert figures["analogy_oov"] == len(qs) - len(answered)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pos = {t: n for n, t in enumerate(terms)}
    correct = 0
    for a, b, c, expected in answered:
        scores = unit @ (unit[pos[b]] - unit[pos[a]] + unit[pos[c]])
        scores[[pos[a], pos[b], pos[c]]] = -np.inf
        correct += terms[int(np.argmax(scores))] == expected
    assert figures["analogy_correct"] == correct

    with open(datapath(WORDSIM)) as fh:
        pairs = [line.lower().split("\t") for line in fh if not line.startswith("#")]
    pairs = [(a, b, float(s)) for a, b, s in pairs if a in pos and b in pos]
    assert len(pairs) > 10
    if len(pairs) > 2:
        cos = [float(unit[pos[a]] @ unit[pos[b]]) for a, b, _ in pairs]
        rho = spearmanr([s for _, _, s in pairs], cos).statistic
        assert abs(figures["wordsim353_spearman"] - rho) < 1e-3


def test_table_has_one_row_per_model():
    text = table([{"model": "glove", "analogy_accuracy": 0.1, "analogy_oov_ratio": 0.5,
                   "wordsim353_spearman": 0.3, "simlex999_spearman": 0.2}])
    assert text.splitlines()[2] == "| glove | 10.00% | 50.0% | 0.300 | 0.200 |"
