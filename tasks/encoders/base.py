"""The one contract every document encoder keeps: fit on streamed rows, encode sparse rows, save and load.

An encoder lives in a folder: `encoder.json` (kind, settings, sizes, fit figures) and `encoder.safetensors`
(its arrays, including the input vocabulary's term ids), so the query path rebuilds it without the config
that trained it. Collapse is checked on held-out codes after fitting: near-identical codes or mostly dead
units make the stage fail with a message that says which, instead of publishing useless codes.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lexiflow.config import EncoderConfig
from tasks.encoders.data import RowSource

META_FILE = "encoder.json"
WEIGHTS_FILE = "encoder.safetensors"
COLLAPSE_SAMPLE = 2000


class TrainingError(RuntimeError):
    """Training that went wrong (non-finite loss, collapsed codes), with the step or the measure that shows it."""


class Encoder(ABC):
    """A fitted map from input-space sparse rows (n x input_vocab) to dense codes (n x code_size)."""

    kind: ClassVar[str]
    # Codes on a fixed scale (a VAE's prior is N(0, I)) judge dead units against it, not only the largest unit.
    prior_scale: ClassVar[float] = 0.0
    registry: ClassVar[dict[str, type[Encoder]]] = {}

    def __init__(self, cfg: EncoderConfig, term_ids: np.ndarray) -> None:
        self.cfg = cfg
        self.term_ids = np.asarray(term_ids, dtype=np.int64)
        self.figures_: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "kind", None):
            Encoder.registry[cls.kind] = cls

    @property
    def n_inputs(self) -> int:
        return len(self.term_ids)

    @property
    def code_size(self) -> int:
        return self.cfg.code_size

    @abstractmethod
    def fit(self, source: RowSource) -> dict[str, Any]:
        """Learn from the rows; returns summary figures (loss curve, epochs, timings)."""

    @abstractmethod
    def encode(self, rows: sp.csr_matrix) -> np.ndarray:
        """Codes (float32, one row per input row) of rows already in input space."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """Everything learned, as named arrays."""

    @abstractmethod
    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what `arrays` returned."""

    def save(self, folder: str) -> None:
        from safetensors.numpy import save_file

        os.makedirs(folder, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays().items()}
        save_file({**arrays, "term_ids": self.term_ids}, os.path.join(folder, WEIGHTS_FILE))
        meta = {"kind": self.kind, "config": self.cfg.model_dump(mode="json"), "n_inputs": self.n_inputs,
                "code_size": self.code_size}
        with open(os.path.join(folder, META_FILE), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True)


def load_encoder(folder: str) -> Encoder:
    """The encoder saved in `folder`, ready to encode; names the file when something is missing."""
    from safetensors.numpy import load_file

    meta_path = os.path.join(folder, META_FILE)
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: no saved encoder here") from None
    kind = meta.get("kind")
    if kind not in Encoder.registry:
        raise ValueError(f"{meta_path}: kind {kind!r} is not an encoder; known: {sorted(Encoder.registry)}")
    arrays = load_file(os.path.join(folder, WEIGHTS_FILE))
    encoder = Encoder.registry[kind](EncoderConfig.model_validate(meta["config"]), arrays.pop("term_ids"))
    encoder.load_arrays(arrays)
    return encoder


def make_encoder(kind: str, cfg: EncoderConfig, term_ids: np.ndarray) -> Encoder:
    if kind not in Encoder.registry:
        raise ValueError(f"encoder {kind!r}: unknown; choose one of {sorted(Encoder.registry)}")
    return Encoder.registry[kind](cfg, term_ids)


def collapse_figures(codes: np.ndarray, cfg: EncoderConfig, prior_scale: float = 0.0) -> dict[str, Any]:
    """Dead units (std below `dead_unit_ratio` of the largest unit's, or of the prior's scale when larger) and
    the mean cosine between distinct documents' codes."""
    codes = codes[np.abs(codes).sum(axis=1) > 0].astype(np.float64)
    if len(codes) < 2:
        return {"sampled": len(codes), "dead_units": 0, "dead_fraction": 0.0, "mean_cosine": 0.0}
    std = codes.std(axis=0)
    top = float(std.max())
    reference = max(top, prior_scale)
    dead = int((std <= cfg.dead_unit_ratio * reference).sum()) if reference > 0 else codes.shape[1]
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    n = len(unit)
    total = unit.sum(axis=0)
    mean_cos = float((total @ total - n) / (n * (n - 1)))
    return {"sampled": n, "dead_units": dead, "dead_fraction": round(dead / codes.shape[1], 4),
            "mean_cosine": round(mean_cos, 4), "max_unit_std": round(top, 6)}


def check_collapse(encoder: Encoder, source: RowSource) -> dict[str, Any]:
    """Fail with TrainingError when held-out codes are near-identical or most units are dead."""
    cfg = encoder.cfg
    sample: list[sp.csr_matrix] = []
    held = 0
    for x in source.split(cfg.holdout, held_out=True):
        sample.append(x)
        held += x.shape[0]
        if held >= COLLAPSE_SAMPLE:
            break
    if not sample:
        return {"sampled": 0}
    figures = collapse_figures(encoder.encode(sp.vstack(sample, format="csr")[:COLLAPSE_SAMPLE]), cfg,
                               encoder.prior_scale)
    name = f"{encoder.kind} (code_size {encoder.code_size})"
    if figures["mean_cosine"] > cfg.max_mean_cosine:
        raise TrainingError(
            f"{name} collapsed: codes of distinct documents are near-identical (mean cosine "
            f"{figures['mean_cosine']} > encoder.max_mean_cosine={cfg.max_mean_cosine} over "
            f"{figures['sampled']} held-out documents); try a lower encoder.lr or kl_weight"
        )
    if figures["dead_fraction"] > cfg.max_dead_fraction:
        raise TrainingError(
            f"{name} collapsed: {figures['dead_units']} of {encoder.code_size} code units are dead (std below "
            f"{cfg.dead_unit_ratio} of the largest unit's or the prior's) > "
            f"encoder.max_dead_fraction={cfg.max_dead_fraction}; "
            "for a vae lower encoder.kl_weight or lengthen encoder.kl_warmup_epochs"
        )
    return figures
