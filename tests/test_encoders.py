"""Every encoder behind the one interface: planted topics recovered, save/load exact, collapse caught, KL right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from encoder_fixtures import planted_topics, precision_at

from lexiflow.config import EncoderConfig
from lexiflow.store import ArtifactStore
from tasks import encode
from tasks.encoders import TrainingError, load_encoder
from tasks.encoders.neural import kl_to_standard_normal

SMALL = {"hidden": [64, 32], "code_size": 8, "batch_size": 32, "max_epochs": 25, "patience": 3, "lr": 3e-3,
         "holdout": 0.1, "threads": 1, "device": "cpu"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    store = ArtifactStore(str(tmp_path_factory.mktemp("store")))
    return planted_topics(store)


@pytest.fixture(scope="module")
def fitted(planted):
    tfidf, vocab, _labels = planted
    out = {}
    for kind in ("lsa", "autoencoder", "denoising", "vae"):
        encoder, source = encode.fit_encoder(kind, EncoderConfig(**SMALL), tfidf, vocab)
        out[kind] = (encoder, source)
    return out


def _codes(encoder, source) -> np.ndarray:
    return np.concatenate([encoder.encode(x) for _, x in source.ordered()])


@pytest.mark.parametrize("kind", ["lsa", "autoencoder", "denoising", "vae"])
def test_recovers_planted_topics(fitted, planted, kind: str) -> None:
    encoder, source = fitted[kind]
    codes = _codes(encoder, source)
    assert codes.shape == (360, 8)
    assert precision_at(codes, planted[2], 10) > 0.9


@pytest.mark.parametrize("kind", ["lsa", "autoencoder", "denoising", "vae"])
def test_save_load_round_trip_gives_identical_codes(fitted, tmp_path, kind: str) -> None:
    encoder, source = fitted[kind]
    encoder.save(str(tmp_path / kind))
    loaded = load_encoder(str(tmp_path / kind))
    assert type(loaded) is type(encoder)
    np.testing.assert_array_equal(loaded.term_ids, encoder.term_ids)
    np.testing.assert_array_equal(_codes(loaded, source), _codes(encoder, source))


def test_neural_loss_curve_recorded_and_improves(fitted) -> None:
    figures = fitted["autoencoder"][0].figures_
    curve = figures["loss_curve"]
    assert len(curve) == figures["epochs"] >= 2
    assert curve[figures["best_epoch"] - 1]["holdout_loss"] < curve[0]["holdout_loss"]


def test_collapse_detector_fires_on_overweighted_kl(planted) -> None:
    tfidf, vocab, _ = planted
    broken = EncoderConfig(**{**SMALL, "kl_weight": 1000.0, "kl_warmup_epochs": 0, "max_epochs": 6})
    with pytest.raises(TrainingError, match="collapsed"):
        encode.fit_encoder("vae", broken, tfidf, vocab)


def test_non_finite_loss_names_the_step(planted) -> None:
    tfidf, vocab, _ = planted
    with pytest.raises(TrainingError, match=r"at step \d+ \(epoch 1\)"):
        encode.fit_encoder("autoencoder", EncoderConfig(**{**SMALL, "lr": 1e30, "max_epochs": 2}), tfidf, vocab)


def test_vae_kl_matches_hand_computed_value() -> None:
    # KL(N(mu, s^2) || N(0,1)) = 0.5 * sum(mu^2 + s^2 - 1 - ln s^2)
    # dim 1: mu=1, s^2=1 -> 0.5 * (1 + 1 - 1 - 0) = 0.5
    # dim 2: mu=0, s^2=2 -> 0.5 * (0 + 2 - 1 - ln 2) = 0.5 - 0.5 ln 2
    mean = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    expected = 1.0 - 0.5 * math.log(2.0)  # 0.65342640...
    assert kl_to_standard_normal(mean, logvar).item() == pytest.approx(expected, abs=1e-6)
    assert kl_to_standard_normal(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_encode_delta_applies_the_fitted_encoder_exactly(planted, tmp_path, kind: str) -> None:
    """A retrain without refit encodes new rows with the saved encoder: the same rows give the same codes."""
    from stage_util import run

    from lexiflow.config import Config
    from tasks import encode_delta

    tfidf, vocab, _ = planted
    cfg = Config.model_validate({"encoder": {**SMALL, "max_epochs": 2}})
    store = ArtifactStore(str(tmp_path / "s"))
    codes = run(encode.stage(kind), cfg, store, tfidf=tfidf, vocab=vocab)
    again = run(encode_delta, cfg, store, codes=codes, tfidf=tfidf, vocab=vocab)
    assert again.figures["encoder"] == kind and again.num_rows == codes.num_rows == 360
    first, second = codes.read_table(), again.read_table()
    assert first["doc_id"] == second["doc_id"]
    np.testing.assert_array_equal(first["code"].combine_chunks().flatten().to_numpy(),
                                  second["code"].combine_chunks().flatten().to_numpy())
