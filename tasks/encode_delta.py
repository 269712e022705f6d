"""Codes of a retrain's new TF-IDF rows from an encoder the base build fitted (LSA projection or a neural model).

Fit and apply are different steps: without `retrain.refit` the document side keeps what the base build
fitted, so new documents are encoded exactly as the old ones were and their codes can join the old
index as they are.
"""

from __future__ import annotations

from typing import Any

from lexiflow.store import Artifact, ArtifactWriter, list_files
from tasks import encode, lsa

NAME = "encode_delta"
VERSION = 1
SECTION = None
USES_DASK = False
LSA_BATCH_ROWS = 8192


def build(cfg: None, out: ArtifactWriter, *, codes: Artifact, tfidf: Artifact, vocab: Artifact) -> dict[str, Any]:
    fitted = f"{codes.stage}/{codes.key}"
    if lsa.PROJECTION in list_files(codes.url):
        components = lsa.load_projection(codes)
        if components.shape[0] != vocab.num_rows:
            raise ValueError(f"{out.stage}: projection of {fitted} has {components.shape[0]} term rows, the vocab "
                             f"{vocab.stage}/{vocab.key} has {vocab.num_rows}; the fitted vocab must be given")
        return {**lsa.write_codes(out, tfidf, components, LSA_BATCH_ROWS), "encoder": "lsa", "fitted": fitted}
    from tasks.encoders import RowSource

    model = encode.load_model(codes)
    source = RowSource(tfidf, model.term_ids, vocab.num_rows, model.cfg.read_rows)
    return {**encode.write_codes(model, source, out), "encoder": model.kind, "fitted": fitted}
