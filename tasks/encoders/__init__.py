"""Document encoders behind one interface (`Encoder`): lsa, autoencoder, denoising, vae."""

from tasks.encoders.base import Encoder, TrainingError, load_encoder, make_encoder
from tasks.encoders.data import RowSource, restrict, top_terms
from tasks.encoders.lsa import LsaEncoder
from tasks.encoders.neural import DeepAutoencoder, DenoisingAutoencoder, VariationalAutoencoder

__all__ = [
    "DeepAutoencoder",
    "DenoisingAutoencoder",
    "Encoder",
    "LsaEncoder",
    "RowSource",
    "TrainingError",
    "VariationalAutoencoder",
    "load_encoder",
    "make_encoder",
    "restrict",
    "top_terms",
]
