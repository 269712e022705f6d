"""Encoder stages: fit one document encoder on the TF-IDF artifact and write its codes (`doc_id, code`).

One module serves every encoder; `stage(kind)` gives the stage object the build graph registers as
`codes_<kind>`. Its cache key hashes only the settings that encoder uses, so enabling another encoder or
changing the VAE's KL weight does not retrain the others. The fitted encoder is saved in the artifact
(`model/`), so the query path encodes a query exactly as the documents were encoded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from lexiflow.config import ENCODERS, EncoderConfig
from lexiflow.store import Artifact, ArtifactWriter, write_table

VERSION = 1
SECTION = "encoder"
USES_DASK = False
MODEL_DIR = "model"
LOSS_PNG = "loss.png"

log = logging.getLogger(__name__)

COMMON = ("input_vocab", "code_size", "seed", "read_rows")
NEURAL = ("hidden", "activation", "batch_size", "shuffle_rows", "max_epochs", "patience", "min_delta", "holdout",
          "lr", "weight_decay", "max_train_rows")
USED: dict[str, tuple[str, ...]] = {
    "lsa": (*COMMON, "center"),
    "autoencoder": (*COMMON, *NEURAL),
    "denoising": (*COMMON, *NEURAL, "noise_rate"),
    "vae": (*COMMON, *NEURAL, "kl_weight", "kl_warmup_epochs"),
}


def code_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [pa.field("doc_id", pa.string(), nullable=False), pa.field("code", pa.list_(pa.float32(), dim))]
    )


def fit_encoder(kind: str, cfg: EncoderConfig, rows: Artifact, vocab: Artifact) -> Any:
    """Fit (and collapse-check) an encoder of `kind` on a sparse-row artifact; returns (encoder, source)."""
    from tasks.encoders import RowSource, make_encoder, top_terms
    from tasks.encoders.base import check_collapse

    term_ids = top_terms(vocab, cfg.input_vocab)
    source = RowSource(rows, term_ids, vocab.num_rows, cfg.read_rows)
    encoder = make_encoder(kind, cfg, term_ids)
    encoder.fit(source)
    encoder.figures_["collapse"] = check_collapse(encoder, source) if kind != "lsa" else None
    return encoder, source


def build(kind: str, cfg: EncoderConfig, out: ArtifactWriter, *, tfidf: Artifact, vocab: Artifact) -> dict[str, Any]:
    encoder, source = fit_encoder(kind, cfg, tfidf, vocab)
    encoder.save(out.local_path(MODEL_DIR))
    if encoder.figures_.get("loss_curve"):
        from lexiflow.figures import loss_curves

        loss_curves(out.local_path(LOSS_PNG), {f"{kind} code {cfg.code_size}": encoder.figures_["loss_curve"]})
    return {**write_codes(encoder, source, out), "encoder": kind, "code_size": encoder.code_size,
            "input_vocab": encoder.n_inputs, **encoder.figures_}


def write_codes(encoder: Any, source: Any, out: ArtifactWriter) -> dict[str, Any]:
    """Codes of every row of `source` in row order; a row without input terms gets the zero code."""
    schema = code_schema(encoder.code_size)
    rows = empty = 0
    started = time.perf_counter()
    for i, (doc_ids, x) in enumerate(source.ordered()):
        codes = encoder.encode(x)
        blank = np.diff(x.indptr) == 0
        codes[blank] = 0.0  # a document with no input term has no direction
        empty += int(blank.sum())
        flat = pa.array(codes.astype(np.float32).reshape(-1))
        write_table(out.part(i), pa.table([doc_ids, pa.FixedSizeListArray.from_arrays(flat, encoder.code_size)],
                                          schema=schema), schema)
        rows += len(doc_ids)
    encode_seconds = time.perf_counter() - started
    return {"rows": rows, "empty_docs": empty, "encode_seconds": round(encode_seconds, 3),
            "encode_docs_per_s": round(rows / max(encode_seconds, 1e-9), 1)}


def load_model(codes: Artifact) -> Any:
    """The encoder a codes artifact was made with."""
    from tasks.encoders import load_encoder

    return load_encoder(codes.file(MODEL_DIR))


@dataclass(frozen=True)
class EncoderStage:
    """What the executor needs of a stage module, for one encoder kind."""

    kind: str
    VERSION: int = VERSION
    SECTION: str = SECTION
    USES_DASK: bool = USES_DASK

    @property
    def NAME(self) -> str:
        return f"codes_{self.kind}"

    def build(self, cfg: EncoderConfig, out: ArtifactWriter, **inputs: Artifact) -> dict[str, Any]:
        return build(self.kind, cfg, out, **inputs)

    def cache_config(self, config_json: dict[str, Any]) -> dict[str, Any]:
        return {k: config_json[k] for k in USED[self.kind]}


def stage(kind: str) -> EncoderStage:
    if kind not in ENCODERS:
        raise ValueError(f"encoder {kind!r}: unknown; choose one of {', '.join(ENCODERS)}")
    return EncoderStage(kind)
