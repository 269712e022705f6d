"""Encoder speed: training samples/s and encode docs/s per encoder, on a synthetic Zipfian TF-IDF corpus.

Every encoder trains one epoch (no early stopping) on the same rows with `--threads` torch threads (default 2,
the machine's cores); the reference in the same run is scikit-learn's TruncatedSVD on the same matrix, so the
ratios say how each encoder compares with a standard linear method on this machine at this moment.

    .venv/bin/python bench/encoders.py [--docs 20000] [--code-size 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from lexiflow.config import EncoderConfig
from lexiflow.sparse import ROW_SCHEMA
from lexiflow.store import ArtifactStore, write_table
from tasks.encoders import RowSource, make_encoder, top_terms

VOCAB_SCHEMA = pa.schema([pa.field("term_id", pa.int32()), pa.field("term", pa.string()),
                          pa.field("count", pa.int64()), pa.field("df", pa.int64())])


def synthetic(store: ArtifactStore, docs: int, terms: int, words_per_doc: int, seed: int):
    """Zipfian documents as a published TF-IDF-like artifact and its vocab (counts by frequency)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, terms + 1)
    p /= p.sum()
    rows, counts = [], np.zeros(terms, np.int64)
    for _ in range(docs):
        ids, tf = np.unique(rng.choice(terms, size=words_per_doc, p=p), return_counts=True)
        counts[ids] += tf
        w = tf / np.linalg.norm(tf)
        rows.append((ids.astype(np.int32).tolist(), w.astype(np.float32).tolist()))
    table = pa.table([pa.array([f"d{i}" for i in range(docs)]), pa.array([r[0] for r in rows], pa.list_(pa.int32())),
                      pa.array([r[1] for r in rows], pa.list_(pa.float32()))], schema=ROW_SCHEMA)
    vocab = pa.table([pa.array(np.arange(terms, dtype=np.int32)), pa.array([f"t{i}" for i in range(terms)]),
                      pa.array(counts), pa.array(counts)], schema=VOCAB_SCHEMA)
    out = []
    for stage, t, schema in (("tfidf", table, ROW_SCHEMA), ("vocab", vocab, VOCAB_SCHEMA)):
        writer = store.writer(stage, "bench")
        write_table(writer.part(0), t, schema)
        out.append(store.publish(writer, {"stage": stage, "rows": t.num_rows}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--terms", type=int, default=20000)
    ap.add_argument("--words-per-doc", type=int, default=60)
    ap.add_argument("--code-size", type=int, default=32)
    ap.add_argument("--hidden", default="500,250,125")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    store = ArtifactStore(tempfile.mkdtemp(prefix="bench-encoders-"))
    tfidf, vocab = synthetic(store, args.docs, args.terms, args.words_per_doc, seed=0)
    cfg = EncoderConfig(code_size=args.code_size, hidden=[int(h) for h in args.hidden.split(",")], max_epochs=1,
                        threads=args.threads, device="cpu")
    term_ids = top_terms(vocab, cfg.input_vocab)
    source = RowSource(tfidf, term_ids, vocab.num_rows, cfg.read_rows)
    x = sp.vstack([rows for _, rows in source.ordered()], format="csr")

    from sklearn.decomposition import TruncatedSVD

    started = time.perf_counter()
    TruncatedSVD(args.code_size, algorithm="randomized", random_state=0).fit_transform(x)
    ref = x.shape[0] / (time.perf_counter() - started)
    print(f"{args.docs} docs, input_vocab {len(term_ids)}, nnz/doc {x.nnz / x.shape[0]:.1f}, code {args.code_size}, "
          f"hidden {cfg.hidden}, torch threads {args.threads}")
    print(f"reference sklearn TruncatedSVD fit+transform: {ref:,.0f} docs/s")
    print(f"{'encoder':<12} {'train samples/s':>16} {'x ref':>7} {'encode docs/s':>14} {'x ref':>7}")
    for kind in ("lsa", "autoencoder", "denoising", "vae"):
        encoder = make_encoder(kind, cfg, term_ids)
        started = time.perf_counter()
        figures = encoder.fit(source)
        fit_rate = figures.get("train_samples_per_s") or x.shape[0] / (time.perf_counter() - started)
        started = time.perf_counter()
        encoder.encode(x)
        enc_rate = x.shape[0] / (time.perf_counter() - started)
        print(f"{kind:<12} {fit_rate:>16,.0f} {fit_rate / ref:>7.3f} {enc_rate:>14,.0f} {enc_rate / ref:>7.2f}")


if __name__ == "__main__":
    main()
