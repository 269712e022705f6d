"""LSA over the input vocabulary: exact truncated SVD from the streamed Gram matrix (PCA when centred).

With at most a few thousand input terms the Gram matrix X^T X (input_vocab^2 float64) is small, so one
streamed pass and one symmetric eigendecomposition give the exact top right singular vectors. This is the
linear autoencoder the neural encoders are measured against.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from tasks.encoders.base import Encoder
from tasks.encoders.data import RowSource


class LsaEncoder(Encoder):
    kind = "lsa"

    def fit(self, source: RowSource) -> dict[str, Any]:
        started = time.perf_counter()
        v = self.n_inputs
        gram = np.zeros((v, v))
        total = np.zeros(v)
        n = 0
        for _, x in source.ordered():
            x64 = x.astype(np.float64)
            gram += (x64.T @ x64).toarray()
            total += np.asarray(x64.sum(axis=0)).ravel()
            n += x.shape[0]
        mean = total / max(n, 1)
        if self.cfg.center:
            gram -= n * np.outer(mean, mean)
        k = min(self.code_size, v)
        # Only the top k eigenpairs: much cheaper than a full decomposition when k << input_vocab.
        top_vals, top_vecs = scipy.linalg.eigh(gram, subset_by_index=[v - k, v - 1])
        order = np.argsort(top_vals)[::-1]
        components = top_vecs[:, order]
        # Deterministic signs: the largest-magnitude entry of each component is positive.
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(k)])
        signs[signs == 0] = 1.0
        self.components_ = (components * signs).astype(np.float32)
        self.mean_ = (mean if self.cfg.center else np.zeros(v)).astype(np.float32)
        self.figures_ = {
            "rows": n,
            "explained": round(float(np.clip(top_vals, 0.0, None).sum() / max(np.trace(gram), 1e-12)), 4),
            "train_seconds": round(time.perf_counter() - started, 3),
        }
        return self.figures_

    def encode(self, rows: sp.csr_matrix) -> np.ndarray:
        codes = np.asarray(rows @ self.components_, dtype=np.float32)
        if self.cfg.center:
            codes -= self.mean_ @ self.components_
        return codes

    def arrays(self) -> dict[str, np.ndarray]:
        return {"components": self.components_, "mean": self.mean_}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.components_, self.mean_ = arrays["components"], arrays["mean"]
