"""LSA: truncated SVD of the TF-IDF matrix by randomized subspace iteration, streamed over row batches.

Only V x (dim + oversample) dense matrices are held, in float32 (three at a pass's peak: Q, the running
A^T (A Q) and one batch's product), so memory does not grow with the number of documents and, with
`vocab.max_size`, is bounded whatever the corpus; the small (dim + oversample)^2 Gram matrix and its
eigenproblem stay float64. Codes are A V_k (= U S) with rows L2-normalised for
cosine search; the projection V_k is saved so the query path projects a query the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.linalg
import scipy.sparse as sp

from lexiflow.config import LsaConfig
from lexiflow.parallel import Progress
from lexiflow.sparse import to_csr
from lexiflow.store import Artifact, ArtifactWriter, write_table

NAME = "lsa"
VERSION = 2
SECTION = "lsa"
USES_DASK = False
PROJECTION = "projection.safetensors"

log = logging.getLogger(__name__)


def code_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [pa.field("doc_id", pa.string(), nullable=False), pa.field("code", pa.list_(pa.float32(), dim))]
    )


def _batches(tfidf: Artifact, n_terms: int, batch_rows: int) -> Iterator[tuple[pa.RecordBatch, sp.csr_matrix]]:
    for batch in tfidf.iter_batches(["doc_id", "term_ids", "values"], batch_rows=batch_rows):
        yield batch, to_csr(batch, n_terms).astype(np.float32, copy=False)


def _gram_pass(tfidf: Artifact, q: np.ndarray, batch_rows: int, label: str) -> np.ndarray:
    """A^T (A Q), one streamed pass."""
    z = np.zeros_like(q)
    progress = Progress(label, tfidf.num_rows, unit="docs")
    for batch, a in _batches(tfidf, q.shape[0], batch_rows):
        z += a.T @ (a @ q)
        progress.update(parts=batch.num_rows, rows=batch.num_rows)
    return z


def fit(tfidf: Artifact, n_terms: int, cfg: LsaConfig) -> tuple[np.ndarray, np.ndarray]:
    """Right singular vectors (n_terms x dim) and singular values of the streamed TF-IDF matrix."""
    dim = min(cfg.dim, n_terms, tfidf.num_rows)
    width = min(dim + cfg.oversample, n_terms)
    rng = np.random.default_rng(cfg.seed)
    q = rng.standard_normal((n_terms, width), dtype=np.float32)
    for it in range(cfg.power_iters + 1):
        z = _gram_pass(tfidf, q, cfg.batch_rows, f"lsa pass {it + 1}")
        del q  # the old basis goes before QR allocates the new one
        q = scipy.linalg.qr(z, mode="economic", overwrite_a=True, check_finite=False)[0]
        del z
    gram = np.zeros((width, width))
    for _, a in _batches(tfidf, n_terms, cfg.batch_rows):
        b = (a @ q).astype(np.float64)
        gram += b.T @ b
    eigvals, eigvecs = np.linalg.eigh(gram)
    order = np.argsort(eigvals)[::-1][:dim]
    components = q @ eigvecs[:, order].astype(np.float32)
    # Deterministic signs: the largest-magnitude entry of each component is positive.
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(dim)])
    signs[signs == 0] = 1.0
    return components * signs, np.sqrt(np.clip(eigvals[order], 0.0, None))


def normalize_rows(codes: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return codes / norms


def build(cfg: LsaConfig, out: ArtifactWriter, *, tfidf: Artifact, vocab: Artifact) -> dict[str, Any]:
    from safetensors.numpy import save_file

    n_terms = vocab.num_rows
    components, singular = fit(tfidf, n_terms, cfg)
    save_file(
        {"components": components.astype(np.float32), "singular_values": singular.astype(np.float32)},
        out.local_path(PROJECTION),
    )
    figures = write_codes(out, tfidf, components, cfg.batch_rows)
    total = float(np.sum(singular**2))
    return {
        **figures,
        "singular_values_top5": [round(float(s), 4) for s in singular[:5]],
        "energy_captured": round(total, 4),
    }


def write_codes(out: ArtifactWriter, tfidf: Artifact, components: np.ndarray, batch_rows: int) -> dict[str, Any]:
    """L2-normalised codes A V_k of every TF-IDF row, in row order (a retrain applies a fitted V_k this way)."""
    dim = components.shape[1]
    schema = code_schema(dim)
    rows = zero = 0
    for i, (batch, a) in enumerate(_batches(tfidf, components.shape[0], batch_rows)):
        codes = np.asarray(a @ components)
        zero += int((np.abs(codes).sum(axis=1) == 0).sum())
        flat = pa.array(normalize_rows(codes).astype(np.float32).reshape(-1))
        table = pa.table([batch.column("doc_id"), pa.FixedSizeListArray.from_arrays(flat, dim)], schema=schema)
        write_table(out.part(i), table, schema)
        rows += batch.num_rows
    return {"rows": rows, "dim": dim, "zero_codes": zero}


def load_projection(lsa: Artifact) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(lsa.file(PROJECTION))["components"]
