"""Co-occurrence counts: the hand-checked case, and exact agreement with a plain-Python reference."""

from __future__ import annotations

import random
from collections import defaultdict
from fractions import Fraction

import numpy as np
import pytest
from embedding_util import build_stage, tokens_and_vocab

from flows.executor import StageSpec
from lexiflow.config import CoocConfig
from tasks import cooc
from tasks.cooc import row_ranges

SPEC = StageSpec("cooc", cooc, {"tokens": "tokens", "vocab": "vocab"})


def dense(artifact, terms: list[str]) -> dict[tuple[str, str], float]:
    table = artifact.read_table()
    return {
        (terms[i], terms[j]): x
        for i, j, x in zip(table["i"].to_pylist(), table["j"].to_pylist(), table["x"].to_pylist(), strict=True)
    }


def reference(docs: list[list[str]], vocab: set[str], window: int, symmetric: bool, harmonic: bool,
              scope: str = "window") -> dict[tuple[str, str], float]:
    """cooccur.c's loop, in plain Python with exact fractions: OOV words skipped, no crossing documents."""
    counts: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for doc in docs:
        words = [w for w in doc if w in vocab]
        if scope == "document":
            distinct = sorted(set(words))
            for a in distinct:
                for b in distinct:
                    if a != b:
                        counts[a, b] += 1
            continue
        for k, w in enumerate(words):
            for d in range(1, window + 1):
                if k - d < 0:
                    break
                weight = Fraction(1, d) if harmonic else Fraction(1)
                counts[w, words[k - d]] += weight
                if symmetric:
                    counts[words[k - d], w] += weight
    return {key: float(np.float32(float(v))) for key, v in counts.items()}


def run(tmp_path, docs, parts=1, min_count=1, **section):
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, docs, parts, min_count, cooc=section)
    artifact = build_stage(SPEC, cfg, store, tokens=tokens, vocab=vocab)
    terms = vocab.read_table()["term"].to_pylist()
    return artifact, terms


def test_abcba_window_one_symmetric_unweighted(tmp_path):
    artifact, terms = run(tmp_path, [["a", "b", "c", "b", "a"]], window=1, symmetric=True, weighting="none")
    assert dense(artifact, terms) == {("a", "b"): 2.0, ("b", "a"): 2.0, ("b", "c"): 2.0, ("c", "b"): 2.0}
    assert artifact.manifest["schema_names"] == ["i", "j", "x"]


def test_windows_do_not_cross_documents(tmp_path):
    artifact, terms = run(tmp_path, [["a", "b"], ["c", "d"]], window=5, symmetric=True, weighting="none")
    assert set(dense(artifact, terms)) == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("symmetric", [True, False])
def test_weighted_matches_reference_exactly(tmp_path, seed, symmetric):
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(12)]
    docs = [[rng.choice(words) for _ in range(rng.randint(0, 40))] for _ in range(rng.randint(5, 30))]
    window = rng.randint(1, 8)
    artifact, terms = run(tmp_path / f"{seed}{symmetric}", docs, parts=3, min_count=2, window=window,
                          symmetric=symmetric, weighting="harmonic")
    assert dense(artifact, terms) == reference(docs, set(terms), window, symmetric, harmonic=True)


def test_document_scope_matches_reference(tmp_path):
    rng = random.Random(7)
    docs = [[f"w{rng.randint(0, 9)}" for _ in range(rng.randint(0, 15))] for _ in range(20)]
    artifact, terms = run(tmp_path, docs, parts=2, scope="document")
    assert dense(artifact, terms) == reference(docs, set(terms), 0, True, False, scope="document")


def test_small_memory_budget_spills_and_shards_with_same_result(tmp_path, monkeypatch):
    """A budget far below the data forces several runs per part and several merge shards."""
    rng = np.random.default_rng(3)
    docs = [[f"t{v}" for v in rng.zipf(1.3, size=rng.integers(20, 120)) % 500] for _ in range(60)]
    big, terms = run(tmp_path / "big", docs, parts=1, window=10)
    assert big.figures["runs"] == 1 and big.figures["shards"] == 1
    monkeypatch.setattr(cooc, "budget_records", lambda cfg: 1500)
    small, _ = run(tmp_path / "small", docs, parts=2, window=10, memory_limit="17MiB")
    assert small.figures["runs"] > 2 and small.figures["shards"] > 2
    assert dense(small, terms) == dense(big, terms)
    assert dense(small, terms) == reference(docs, set(terms), 10, True, harmonic=True)


def test_row_ranges_respect_the_budget():
    per_row = np.array([5, 5, 5, 20, 1, 1, 1])
    ranges = row_ranges(per_row, 10)
    assert ranges == [(0, 2), (2, 3), (3, 4), (4, 7)]
    assert all(per_row[lo:hi].sum() <= 10 or hi - lo == 1 for lo, hi in ranges)


def test_window_limit_is_validated():
    with pytest.raises(ValueError, match="window"):
        CoocConfig(window=21)
