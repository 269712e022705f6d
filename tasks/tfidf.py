"""TF-IDF: idf fitted once from the vocab's document frequencies, applied to every bag-of-words part.

Defaults equal scikit-learn's TfidfVectorizer (smooth idf, raw tf, l2 norm). The fitted idf is saved
beside the rows (`idf.parquet`, the vocab with an `idf` column) so the query path applies the same
weights to a query without refitting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.config import TfidfConfig
from lexiflow.parallel import map_parts
from lexiflow.sparse import ROW_SCHEMA, row_figures, summarize
from lexiflow.store import Artifact, ArtifactWriter, read_table, write_table

NAME = "tfidf"
VERSION = 1
SECTION = "tfidf"
USES_DASK = True
SCHEMA = ROW_SCHEMA
IDF_FILE = "idf.parquet"


def fit_idf(df: np.ndarray, num_docs: int, smooth: bool) -> np.ndarray:
    df = df.astype(np.float64)
    if smooth:
        return np.log((1.0 + num_docs) / (1.0 + df)) + 1.0
    return np.log(num_docs / df) + 1.0


def weigh(term_ids: pa.ListArray, counts: pa.ListArray, idf: np.ndarray, cfg: TfidfConfig) -> pa.ListArray:
    """tf (raw or 1+log) times idf, normalised per row; rows and term order unchanged."""
    ids = pc.list_flatten(term_ids).to_numpy(zero_copy_only=False)
    tf = pc.list_flatten(counts).to_numpy(zero_copy_only=False).astype(np.float64)
    if cfg.sublinear_tf:
        tf = 1.0 + np.log(tf)
    values = tf * idf[ids]
    if cfg.norm != "none" and len(values):
        rows = pc.list_parent_indices(term_ids).to_numpy()
        norms = np.bincount(rows, values * values if cfg.norm == "l2" else np.abs(values), minlength=len(term_ids))
        if cfg.norm == "l2":
            norms = np.sqrt(norms)
        norms[norms == 0] = 1.0
        values = values / norms[rows]
    offsets = term_ids.offsets
    return pa.ListArray.from_arrays(
        pa.array(offsets.to_numpy() - offsets[0].as_py()), pa.array(values.astype(np.float32))
    )


def tfidf_task(in_part: str, out_part: str, idf_file: str, cfg_json: dict[str, Any]) -> dict[str, Any]:
    cfg = TfidfConfig.model_validate(cfg_json)
    idf = read_table(idf_file, ["idf"])["idf"].to_numpy()
    table = read_table(in_part)
    term_ids = table["term_ids"].combine_chunks()
    values = weigh(term_ids, table["values"].combine_chunks(), idf, cfg)
    write_table(out_part, pa.table([table["doc_id"], term_ids, values], schema=SCHEMA), SCHEMA)
    return row_figures(table["doc_id"], term_ids)


def build(cfg: TfidfConfig, out: ArtifactWriter, *, bow: Artifact, vocab: Artifact) -> dict[str, Any]:
    table = vocab.read_table()
    num_docs = int(vocab.figures["num_docs"])
    idf = fit_idf(table["df"].to_numpy(), num_docs, cfg.smooth_idf)
    out.write(IDF_FILE, table.append_column("idf", pa.array(idf, pa.float64())))
    calls = [(p, out.part_for(p), out.file(IDF_FILE), cfg.model_dump(mode="json")) for p in bow.parts()]
    return {**summarize(map_parts(tfidf_task, calls, "tfidf")), "num_docs": num_docs}
