"""Retrieval measures: a hand-checked ranking, and average precision agreeing with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from lexiflow.retrieval import RECALL_LEVELS, cosine_of, evaluate


def test_hand_checked_ranking() -> None:
    # Database labels a, b, a ranked by similarity 0.9, 0.8, 0.1: relevant at ranks 1 and 3.
    sims = np.array([[0.9, 0.8, 0.1]])
    r = evaluate(lambda part: sims[part], np.array(["a"]), np.array(["a", "b", "a"]), ks=(1, 2, 10))
    assert r.precision_at == {1: 1.0, 2: 0.5, 10: pytest.approx(0.2)}
    assert r.mean_ap == pytest.approx((1.0 + 2.0 / 3.0) / 2.0)
    expected = [1.0 if level <= 0.5 else 2.0 / 3.0 for level in RECALL_LEVELS]
    assert r.pr_curve == pytest.approx(expected)


def test_average_precision_agrees_with_sklearn() -> None:
    rng = np.random.default_rng(3)
    queries, database = rng.standard_normal((40, 6)), rng.standard_normal((300, 6))
    q_labels, db_labels = rng.integers(0, 4, 40), rng.integers(0, 4, 300)
    sims = cosine_of(queries, database)
    r = evaluate(sims, q_labels, db_labels)
    full = sims(slice(0, 40))
    reference = [average_precision_score(db_labels == q_labels[i], full[i]) for i in range(40)]
    np.testing.assert_allclose(r.per_query_ap, reference, atol=1e-6)
    assert r.macro_map == pytest.approx(np.mean([np.mean(np.array(reference)[q_labels == c]) for c in range(4)]))


def test_tied_scores_take_successive_ranks() -> None:
    # All three documents score the same: the two relevant ones take ranks 1 and 2 (ties in their favour).
    sims = np.zeros((1, 3))
    r = evaluate(lambda part: sims[part], np.array([0]), np.array([0, 1, 0]), ks=(1, 2))
    assert r.precision_at == {1: 1.0, 2: 1.0}
    assert r.mean_ap == 1.0
