"""Embedding benchmark on conf/embeddings.yaml (Debian descriptions + GCIDE, about 10M tokens).

Prints: co-occurrence records and seconds; GloVe seconds per epoch and loss; word2vec words/s through
lexiflow vs gensim called directly on the same LineSentence file; and the evaluation table of every model.
Run: `.venv/bin/python bench/embeddings.py [--store bench/out/store] [--set section.key=value ...]`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flows.build import needed
from flows.cluster import LazyCluster
from flows.executor import run_stage
from lexiflow.config import load_config
from lexiflow.store import ArtifactStore
from tasks import evaluate, ingest, word2vec


def gensim_direct(cfg, tokens, vocab) -> dict:
    """gensim on the exact file the stage trains on, with the same settings: the overhead reference."""
    terms = vocab.read_table(columns=["term"])["term"].combine_chunks()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.txt")
        words = word2vec.write_corpus_file(tokens, terms, path).words
        started, cpu = time.monotonic(), time.process_time()
        word2vec.train(cfg, path)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return {"words": words, "seconds": seconds, "cpu": cpu, "words_per_second": words * cfg.epochs / seconds}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="bench/out/store")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--direct", default="word2vec,word2vec_cbow",
                    help="models to re-train with gensim directly as the overhead reference ('' for none)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    cfg = load_config(["conf/default.yaml", "conf/embeddings.yaml"], [f"store.root={args.store}", *args.set])
    store = ArtifactStore(cfg.store.root)
    source = ingest.discover(cfg.corpus)
    cluster = LazyCluster(cfg.dask)
    built, wall = {}, {}
    try:
        embedding = ("ingest", "tokens", "vocab", "cooc", "glove", "nnlm", "word2vec", "word2vec_cbow")
        specs = [s for s in needed(None, cfg) if s.name in embedding or s.name.startswith("eval_")]
        first = ("ingest", "tokens", "vocab", "cooc", "glove")  # the count-based side first, then the trainers
        specs.sort(key=lambda s: (first.index(s.name) if s.name in first else len(first), s.name.startswith("eval_")))
        for spec in specs:
            cpu = time.process_time()
            inputs = {arg: built[up] for arg, up in spec.inputs.items()}
            started = time.monotonic()
            built[spec.name] = run_stage(spec, cfg, store, inputs, source=source if spec.name == "ingest" else None,
                                         cluster=cluster)
            wall[spec.name] = time.monotonic() - started
            seconds = built[spec.name].manifest["timings"]["seconds"]
            print(f"# {spec.name}: {wall[spec.name]:.1f}s wall (manifest {seconds}s), driver CPU "
                  f"{time.process_time() - cpu:.1f}s; load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        cluster.close()

    def stage_seconds(name: str) -> float:
        return built[name].manifest["timings"]["seconds"]

    print("\n## corpus")
    voc = built["vocab"].figures
    print(f"docs {voc['num_docs']:,}  tokens {voc['num_tokens']:,}  vocab (min_count {cfg.vocab.min_count}) "
          f"{voc['rows']:,}")
    if "cooc" in built:
        f = built["cooc"].figures
        print(f"\n## cooc (window {cfg.cooc.window}, symmetric {cfg.cooc.symmetric}, {cfg.cooc.weighting})")
        cpu = f.get("count_cpu_seconds", float("nan")) + f.get("merge_cpu_seconds", float("nan"))
        print(f"records {f['rows']:,}  seconds {stage_seconds('cooc'):.1f} wall, {cpu:.1f} CPU in tasks  "
              f"runs {f['runs']}  shards {f['shards']}  (GloVe C cooccur: 20.9M records, 10.8 s)")
    if "glove" in built:
        f = built["glove"].figures
        print(f"\n## glove ({cfg.glove.vector_size}-d, {cfg.glove.epochs} epochs, x_max {cfg.glove.x_max}, "
              f"alpha {cfg.glove.alpha}, lr {cfg.glove.learning_rate}, output {cfg.glove.output}, "
              f"{f['threads']} threads)")
        print(f"seconds/epoch {f['seconds_per_epoch']:.2f} wall, {f['cpu_seconds_per_epoch']:.2f} CPU (all threads; "
              f"GloVe C: about 29 s wall on 2 threads)  total {stage_seconds('glove'):.1f}s  "
              f"loss first/last {f['loss'][0]:.4f}/{f['loss'][-1]:.4f}  skipped {f['skipped_updates']}")
    print("\n## word2vec: lexiflow stage vs gensim direct on the same file")
    for name in ("word2vec", "word2vec_cbow"):
        if name not in built:
            continue
        section = getattr(cfg, name)
        f = built[name].figures
        stage_wps = f["corpus_words"] * section.epochs / stage_seconds(name)
        line = (f"{name} ({section.model}): stage {stage_seconds(name):.1f}s = {stage_wps:,.0f} words/s "
                f"(train only {f['words_per_second']:,} words/s, {f['train_cpu_seconds']:.1f} CPU s; "
                f"corpus file {f['corpus_file_seconds']:.1f}s)")
        if name in args.direct.split(","):
            ref = gensim_direct(section, built["tokens"], built["vocab"])
            line += (f"; gensim direct {ref['seconds']:.1f}s = {ref['words_per_second']:,.0f} words/s, "
                     f"{ref['cpu']:.1f} CPU s; overhead wall {stage_seconds(name) / ref['seconds'] - 1:+.1%} "
                     f"(train only {f['train_seconds'] / ref['seconds'] - 1:+.1%}, train CPU "
                     f"{f['train_cpu_seconds'] / ref['cpu'] - 1:+.1%})")
        print(line, flush=True)
    rows = [dict(built[n].figures, model=n[len("eval_"):]) for n in built if n.startswith("eval_")]
    if rows:
        print("\n## evaluation (analogy = 3CosAdd accuracy of answered questions, top "
              f"{cfg.evaluate.restrict_vocab:,} words)")
        print(evaluate.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
