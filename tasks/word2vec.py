"""word2vec (gensim): trained from the tokens artifact through gensim's `corpus_file` mode.

The tokens are streamed once into a LineSentence file (in-vocabulary terms only, one document a line),
which gensim reads on its own threads without the GIL: the fastest path gensim has, and the driver never
holds the corpus. gensim handles at most 10,000 words per sentence, so longer documents are written as
consecutive lines of at most that many words (counted in the figures), never truncated. Vectors are
written in vocab `term_id` order; the full gensim model is saved beside them so training can continue
(`update`: new documents, new words above the update's own min_count, dropped ones reported).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lexiflow.config import Word2VecConfig
from lexiflow.parallel import Progress
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import vector_schema as vector_schema  # re-exported for older callers
from lexiflow.vectors import write_vectors

NAME = "word2vec"
VERSION = 3  # 3: total_examples passed to train (learning-rate decay as gensim one-call)
SECTION = "word2vec"
USES_DASK = False
CORPUS_FILE = "corpus.txt"
MODEL_FILE = "model/word2vec.model"
MAX_WORDS = 10_000  # gensim's MAX_WORDS_IN_BATCH / sentence limit
DROPPED_FILE = "dropped.parquet"

log = logging.getLogger(__name__)


@dataclass
class CorpusFileStats:
    words: int = 0
    lines: int = 0
    split_docs: int = 0
    counts: Counter[str] = field(default_factory=Counter)


def write_corpus_file(tokens: Artifact, terms: pa.Array | None, path: str, count: bool = False) -> CorpusFileStats:
    """LineSentence file of the tokens (only those in `terms` unless it is None), <= MAX_WORDS per line."""
    stats = CorpusFileStats()
    with open(path, "w", encoding="utf-8") as fh:
        for batch in tokens.iter_batches(["tokens"], batch_rows=20_000):
            lists = batch.column("tokens")
            flat = pc.list_flatten(lists)
            parents = pc.list_parent_indices(lists)
            if terms is not None:
                known = pc.is_in(flat, value_set=terms)
                parents, flat = parents.filter(known), flat.filter(known)
            kept = flat.to_pylist()
            if count:
                stats.counts.update(kept)
            stats.words += len(kept)
            bounds = np.searchsorted(parents.to_numpy(), np.arange(len(lists) + 1))
            lines = []
            for i in range(len(lists)):
                lo, hi = int(bounds[i]), int(bounds[i + 1])
                if hi - lo > MAX_WORDS:
                    stats.split_docs += 1
                lines.extend(" ".join(kept[k : min(k + MAX_WORDS, hi)]) for k in range(lo, hi, MAX_WORDS))
            if lines:
                stats.lines += len(lines)
                fh.write("\n".join(lines))
                fh.write("\n")
    return stats


def epoch_progress(label: str, epochs: int) -> list[Any]:
    """A gensim callback logging epochs done, words/s and ETA (gensim's own lines give no ETA)."""
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochProgress(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.progress = Progress(label, epochs, unit="epochs")

        def on_epoch_end(self, model: Any) -> None:
            self.progress.update(rows=model.corpus_total_words)

    return [EpochProgress()]


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
        epochs=cfg.epochs,
    )
    model.build_vocab(corpus_file=corpus_file)
    if not model.wv.index_to_key:
        raise ValueError(f"word2vec: no word reaches word2vec.min_count={cfg.min_count}; lower it")
    model.train(corpus_file=corpus_file, total_words=model.corpus_total_words,
                total_examples=model.corpus_count, epochs=cfg.epochs,
                callbacks=epoch_progress(f"word2vec {cfg.model}", cfg.epochs))
    return model


def write_model_vectors(model: Any, out: ArtifactWriter, vocab: pa.Table | None) -> int:
    """Vectors in vocab term_id order (words the model has), or in the model's own order without a vocab."""
    if vocab is None:
        keys = model.wv.index_to_key
        write_vectors(out, np.arange(len(keys), dtype=np.int32), keys, model.wv.vectors, NAME)
        return len(keys)
    keys = pa.array(model.wv.index_to_key, pa.string())
    positions = pc.index_in(vocab["term"], value_set=keys)
    mask = positions.is_valid()
    rows = vocab.filter(mask)
    write_vectors(out, rows["term_id"], rows["term"], model.wv.vectors[positions.filter(mask).to_numpy()], NAME)
    return rows.num_rows


def build(cfg: Word2VecConfig, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    table = vocab.read_table(columns=["term_id", "term"])
    corpus_file = out.local_path(CORPUS_FILE)
    started = time.monotonic()
    stats = write_corpus_file(tokens, table["term"].combine_chunks(), corpus_file)
    written, cpu = time.monotonic(), time.process_time()
    try:
        model = train(cfg, corpus_file)
    finally:
        os.remove(corpus_file)
    trained, cpu = time.monotonic(), time.process_time() - cpu
    rows = write_model_vectors(model, out, table)
    model.save(out.local_path(MODEL_FILE))
    seconds = trained - written
    return {
        "rows": rows,
        "corpus_words": stats.words,
        "corpus_lines": stats.lines,
        "split_docs": stats.split_docs,
        "train_seconds": round(seconds, 3),
        "train_cpu_seconds": round(cpu, 3),
        "words_per_second": round(stats.words * cfg.epochs / max(seconds, 1e-9)),
        "corpus_file_seconds": round(written - started, 3),
    }


DROPPED_SCHEMA = pa.schema([pa.field("term", pa.string()), pa.field("count", pa.int64())])
DROPPED_SHOWN = 50


@dataclass
class UpdateResult:
    """What an incremental update did; `changed` is False for a no-op (nothing was written)."""

    changed: bool
    message: str
    figures: dict[str, Any]


def update(previous: Artifact, tokens: Artifact, out: ArtifactWriter, *, min_count: int | None = None,
           epochs: int | None = None, vocab: Artifact | None = None) -> UpdateResult:
    """Continue a word2vec artifact's training on added documents (`tokens`), gensim's online update.

    New words reaching `min_count` (the update's own; default the previous model's) enter the vocabulary;
    the unknown words below it are reported with their counts (figures and `dropped.parquet`). With no new
    word the update is a no-op that says so and writes nothing. Vectors go in `vocab` term_id order when a
    vocab artifact is given, else in the model's order (old words first, new words after).
    """
    from gensim.models import Word2Vec

    model_path = previous.file(MODEL_FILE)
    if not os.path.exists(model_path):
        raise FileNotFoundError(
            f"word2vec update: {previous.stage}/{previous.key} has no saved model ({MODEL_FILE}); it was built "
            f"by word2vec version {previous.manifest.get('version')}, rebuild it to continue training"
        )
    model = Word2Vec.load(model_path)
    threshold = min_count if min_count is not None else model.min_count
    corpus_file = out.local_path(CORPUS_FILE)
    try:
        stats = write_corpus_file(tokens, None, corpus_file, count=True)
        known = model.wv.key_to_index
        unknown = {w: c for w, c in stats.counts.items() if w not in known}
        entering = sorted((w for w, c in unknown.items() if c >= threshold), key=lambda w: (-unknown[w], w))
        dropped = sorted(((w, c) for w, c in unknown.items() if c < threshold), key=lambda wc: (-wc[1], wc[0]))
        figures: dict[str, Any] = {
            "previous": previous.key,
            "update_words": stats.words,
            "update_lines": stats.lines,
            "split_docs": stats.split_docs,
            "min_count": threshold,
            "new_words": len(entering),
            "new_word_examples": entering[:DROPPED_SHOWN],
            "dropped_words": len(dropped),
            "dropped_examples": [[w, c] for w, c in dropped[:DROPPED_SHOWN]],
        }
        if not entering:
            message = (
                f"word2vec update: no-op — none of the {len(unknown)} unknown words in the {stats.words} added "
                f"words reaches min_count={threshold}; the previous model {previous.key} stands"
            )
            return UpdateResult(False, message, figures)
        model.min_count = threshold
        model.build_vocab(corpus_file=corpus_file, update=True)
        started = time.monotonic()
        model.train(corpus_file=corpus_file, total_words=model.corpus_total_words, epochs=epochs or model.epochs,
                    callbacks=epoch_progress("word2vec update", epochs or model.epochs))
        figures["train_seconds"] = round(time.monotonic() - started, 3)
    finally:
        os.remove(corpus_file)
    table = vocab.read_table(columns=["term_id", "term"]) if vocab is not None else None
    figures["rows"] = write_model_vectors(model, out, table)
    out.write(DROPPED_FILE, pa.table([pa.array([w for w, _ in dropped], pa.string()),
                                      pa.array([c for _, c in dropped], pa.int64())], schema=DROPPED_SCHEMA),
              DROPPED_SCHEMA)
    model.save(out.local_path(MODEL_FILE))
    message = (f"word2vec update: {len(entering)} new words entered (min_count={threshold}), "
               f"{len(dropped)} unknown words below it dropped; trained on {stats.words} added words")
    return UpdateResult(True, message, figures)
