"""word2vec (gensim): trained from the tokens artifact through gensim's `corpus_file` mode.

The tokens are streamed once into a LineSentence file (in-vocabulary terms only, one document a line),
which gensim reads on its own threads without the GIL: the fastest path gensim has, and the driver never
holds the corpus. Vectors are written in vocab `term_id` order.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.config import Word2VecConfig
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import vector_schema as vector_schema  # re-exported for older callers
from lexiflow.vectors import write_vectors

NAME = "word2vec"
VERSION = 1
SECTION = "word2vec"
USES_DASK = False
CORPUS_FILE = "corpus.txt"

log = logging.getLogger(__name__)


def write_corpus_file(tokens: Artifact, terms: pa.Array, path: str) -> int:
    """LineSentence file of in-vocabulary tokens; returns the number of words written."""
    words = 0
    with open(path, "w", encoding="utf-8") as fh:
        for batch in tokens.iter_batches(["tokens"], batch_rows=20_000):
            lists = batch.column("tokens")
            flat = pc.list_flatten(lists)
            known = pc.is_in(flat, value_set=terms)
            parents = pc.list_parent_indices(lists).filter(known).to_numpy()
            kept = flat.filter(known).to_pylist()
            words += len(kept)
            bounds = np.searchsorted(parents, np.arange(len(lists) + 1))
            lines = [" ".join(kept[bounds[i] : bounds[i + 1]]) for i in range(len(lists)) if bounds[i + 1] > bounds[i]]
            if lines:
                fh.write("\n".join(lines))
                fh.write("\n")
    return words


def train(cfg: Word2VecConfig, corpus_file: str) -> Any:
    from gensim.models import Word2Vec

    workers = cfg.workers or os.cpu_count() or 1
    model = Word2Vec(
        vector_size=cfg.vector_size,
        window=cfg.window,
        min_count=cfg.min_count,
        sample=cfg.sample,
        sg=1 if cfg.model == "skipgram" else 0,
        hs=1 if cfg.hs else 0,
        negative=cfg.negative,
        ns_exponent=cfg.ns_exponent,
        cbow_mean=1 if cfg.cbow_mean else 0,
        alpha=cfg.alpha,
        min_alpha=cfg.min_alpha,
        seed=cfg.seed,
        workers=workers,
    )
    model.build_vocab(corpus_file=corpus_file)
    if not model.wv.index_to_key:
        raise ValueError(f"word2vec: no word reaches word2vec.min_count={cfg.min_count}; lower it")
    model.train(
        corpus_file=corpus_file,
        total_words=model.corpus_total_words,
        epochs=cfg.epochs,
    )
    return model


def build(cfg: Word2VecConfig, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    table = vocab.read_table(columns=["term_id", "term"])
    corpus_file = out.local_path(CORPUS_FILE)
    started = time.monotonic()
    words = write_corpus_file(tokens, table["term"].combine_chunks(), corpus_file)
    written = time.monotonic()
    try:
        model = train(cfg, corpus_file)
    finally:
        os.remove(corpus_file)
    trained = time.monotonic()
    keys = pa.array(model.wv.index_to_key, pa.string())
    positions = pc.index_in(table["term"], value_set=keys)
    mask = positions.is_valid()
    rows = table.filter(mask)
    vectors = model.wv.vectors[positions.filter(mask).to_numpy()]
    write_vectors(out, rows["term_id"], rows["term"], vectors, NAME)
    seconds = trained - written
    return {
        "rows": rows.num_rows,
        "corpus_words": words,
        "train_seconds": round(seconds, 3),
        "words_per_second": round(words * cfg.epochs / max(seconds, 1e-9)),
        "corpus_file_seconds": round(written - started, 3),
    }
