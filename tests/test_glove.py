"""GloVe: planted structure is recovered; divergence and bad hyperparameters fail loudly and publish nothing."""

from __future__ import annotations

import random

import numpy as np
import pydantic
import pytest
from embedding_util import build_stage, tokens_and_vocab

from flows.executor import StageSpec
from lexiflow.config import GloveConfig
from lexiflow.vectors import load_vectors
from tasks import cooc, glove

COOC = StageSpec("cooc", cooc, {"tokens": "tokens", "vocab": "vocab"})
GLOVE = StageSpec("glove", glove, {"cooc": "cooc", "vocab": "vocab"})


def two_groups(seed: int = 0) -> list[list[str]]:
    """Documents drawn from one of two disjoint word groups: the groups never co-occur."""
    rng = random.Random(seed)
    groups = [[f"a{n}" for n in range(15)], [f"b{n}" for n in range(15)]]
    return [[rng.choice(groups[d % 2]) for _ in range(30)] for d in range(200)]


def train(tmp_path, docs, **glove_cfg):
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path, docs, parts=2, cooc={"window": 5}, glove=glove_cfg)
    counts = build_stage(COOC, cfg, store, tokens=tokens, vocab=vocab)
    return store, build_stage(GLOVE, cfg, store, cooc=counts, vocab=vocab)


def test_planted_groups_separate(tmp_path):
    _, artifact = train(tmp_path, two_groups(), vector_size=16, epochs=40, workers=1)  # one block: deterministic
    wv = load_vectors(artifact)
    unit = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    group = np.array([t[0] for t in wv.terms])
    sims = unit @ unit.T
    same = group[:, None] == group[None, :]
    np.fill_diagonal(same, False)
    within = sims[same].mean()
    across = sims[group[:, None] != group[None, :]].mean()
    assert within - across > 0.3, (within, across)
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    assert (group[nearest] == group).all()
    losses = artifact.figures["loss"]
    assert len(losses) == 40 and all(np.isfinite(losses)) and losses[-1] < losses[0] / 2


def test_output_word_and_concat_shapes(tmp_path):
    _, word = train(tmp_path / "w", two_groups(1), vector_size=8, epochs=2, output="word")
    _, both = train(tmp_path / "c", two_groups(1), vector_size=8, epochs=2, output="concat")
    assert load_vectors(word).dim == 8 and load_vectors(both).dim == 16


def test_divergence_names_the_epoch_and_publishes_nothing(tmp_path):
    with pytest.raises(glove.GloveDiverged, match=r"at epoch \d+ of 30"):
        train(tmp_path, two_groups(2), vector_size=8, epochs=30, learning_rate=1e30, grad_clip=1e38)
    assert not list((tmp_path / "store").glob("glove/[!.]*"))
    assert not list((tmp_path / "store").glob("glove/.tmp-*"))


@pytest.mark.parametrize("bad", [{"x_max": 0}, {"alpha": 0}, {"alpha": 1.5}, {"learning_rate": 0}])
def test_hyperparameters_validated(bad):
    with pytest.raises(pydantic.ValidationError):
        GloveConfig(**bad)


def test_warm_start_begins_known_terms_where_they_ended(tmp_path):
    """A retrain's GloVe starts known terms from the previous parameters; new terms start fresh."""
    _, old = train(tmp_path / "old", two_groups(3), vector_size=8, epochs=5, workers=1)
    grown = two_groups(3) + [["c0", "c1", "c2", "a0"] * 5 for _ in range(20)]  # new terms c0..c2
    # a learning rate so small that training moves nothing: the output is the starting point
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path / "new", grown, parts=2, cooc={"window": 5},
                                                 glove={"vector_size": 8, "epochs": 1, "workers": 1,
                                                        "learning_rate": 1e-12})
    counts = build_stage(COOC, cfg, store, tokens=tokens, vocab=vocab)
    warm = build_stage(StageSpec("glove", glove, {"cooc": "cooc", "vocab": "vocab", "previous": "glove"}), cfg,
                       store, cooc=counts, vocab=vocab, previous=old)
    before, after = load_vectors(old), load_vectors(warm)
    assert warm.figures["warm_started_terms"] == len(before.terms) == len(after.terms) - 3
    assert warm.figures["previous"] == old.key
    row = {t: i for i, t in enumerate(after.terms)}
    for i, term in enumerate(before.terms):
        np.testing.assert_allclose(after.vectors[row[term]], before.vectors[i], atol=1e-6)
    fresh = after.vectors[[row["c0"], row["c1"], row["c2"]]]
    assert np.abs(fresh).max() <= 1.0 / 8  # the random start: (U[0,1) - 0.5) / dim, twice summed


def test_warm_start_refuses_another_vector_size(tmp_path):
    _, old = train(tmp_path / "old", two_groups(4), vector_size=8, epochs=1, workers=1)
    cfg, store, tokens, vocab = tokens_and_vocab(tmp_path / "new", two_groups(4), cooc={"window": 5},
                                                 glove={"vector_size": 16, "epochs": 1})
    counts = build_stage(COOC, cfg, store, tokens=tokens, vocab=vocab)
    with pytest.raises(ValueError, match="cannot warm-start 16-d vectors"):
        build_stage(StageSpec("glove", glove, {"cooc": "cooc", "vocab": "vocab", "previous": "glove"}), cfg, store,
                    cooc=counts, vocab=vocab, previous=old)
