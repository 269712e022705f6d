"""A benchmark corpus of a requested size, resampled from the real corpora with light perturbation.

Each output document is a real document (debian-descriptions or gcide) with its sentences shuffled, a new
id, and a small share of its words mutated into rarer variants (a suffix drawn from a Zipf law over an
unbounded set), so the vocabulary keeps growing with the corpus the way real text's does (Heaps' law)
instead of saturating at the source vocabulary. Deterministic from the seed: the same arguments give the
same rows. Prints the vocabulary growth (distinct lowercased \\w+ words at each doubling) and Heaps' beta.

    .venv/bin/python bench/make_corpus.py --mb 64 --out /tmp/corpus-64.parquet [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SOURCES = ("debian-descriptions.parquet", "gcide.parquet")
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("label", pa.string()),
    ]
)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"\w+")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
ROW_GROUP = 10_000


def load_sources(corpora: Path) -> tuple[list[str], list[str], list[str | None]]:
    titles: list[str] = []
    texts: list[str] = []
    labels: list[str | None] = []
    for name in SOURCES:
        table = pq.read_table(corpora / name, columns=["title", "text", "label"])
        titles += table["title"].to_pylist()
        texts += table["text"].to_pylist()
        labels += table["label"].to_pylist()
    return titles, texts, labels


def suffix(n: int) -> str:
    """A letters-only suffix for variant n, so the tokenizer keeps word and suffix as one token."""
    out = []
    while True:
        n, r = divmod(n, 26)
        out.append(LETTERS[r])
        if n == 0:
            return "".join(out)
        n -= 1


def perturb(text: str, rng: np.random.Generator, mutate: float, zipf_a: float) -> str:
    sentences = [s for s in SENTENCE.split(text) if s]
    if len(sentences) > 1:
        sentences = [sentences[i] for i in rng.permutation(len(sentences))]
    words = " ".join(sentences).split(" ")
    k = int(rng.binomial(len(words), mutate))
    if k:
        for pos, variant in zip(rng.integers(0, len(words), k), rng.zipf(zipf_a, k), strict=True):
            words[pos] = words[pos] + suffix(int(variant) - 1)
    return " ".join(words)


def make(out: str, mb: float, seed: int, mutate: float, zipf_a: float, corpora: Path) -> dict[str, float]:
    titles, texts, labels = load_sources(corpora)
    rng = np.random.default_rng(seed)
    target = int(mb * 1_000_000)
    written = docs = words = 0
    seen: set[str] = set()
    growth: list[tuple[int, int]] = []
    checkpoint = 100_000
    started = time.perf_counter()
    with pq.ParquetWriter(out, SCHEMA, compression="zstd") as writer:
        while written < target:
            picks = rng.integers(0, len(texts), ROW_GROUP)
            ids, out_titles, out_texts, out_labels = [], [], [], []
            for i in picks:
                text = perturb(texts[i], rng, mutate, zipf_a)
                ids.append(f"d{seed}-{docs:09d}")
                out_titles.append(titles[i])
                out_texts.append(text)
                out_labels.append(labels[i])
                docs += 1
                written += len(text.encode())
                tokens = WORD.findall(text.lower())
                words += len(tokens)
                seen.update(tokens)
                if words >= checkpoint:
                    growth.append((words, len(seen)))
                    checkpoint *= 2
                if written >= target:
                    break
            writer.write_table(pa.table([ids, out_titles, out_texts, out_labels], schema=SCHEMA))
    growth.append((words, len(seen)))
    print(f"{out}: {docs} docs, {written / 1e6:.1f} MB of text, {words} words, "
          f"{len(seen)} distinct words, {time.perf_counter() - started:.1f} s")
    print("words      distinct")
    for n, v in growth:
        print(f"{n:>10} {v:>9}")
    beta = float("nan")
    if len(growth) >= 3:
        xs = np.log([n for n, _ in growth[1:]])
        ys = np.log([v for _, v in growth[1:]])
        beta = float(np.polyfit(xs, ys, 1)[0])
        print(f"Heaps' law fit V = K n^beta from 200k words on: beta = {beta:.3f}")
    return {"docs": docs, "mb": written / 1e6, "words": words, "distinct": len(seen), "beta": beta}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, required=True, help="megabytes (1e6 bytes) of UTF-8 text")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutate", type=float, default=0.03, help="share of words given a variant suffix")
    parser.add_argument("--zipf", type=float, default=1.6, help="Zipf exponent of the variant draw (>1)")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    args = parser.parse_args()
    if not math.isfinite(args.mb) or args.mb <= 0:
        parser.error("--mb must be a positive number")
    make(args.out, args.mb, args.seed, args.mutate, args.zipf, args.corpora)


if __name__ == "__main__":
    main()
