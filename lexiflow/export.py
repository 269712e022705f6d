"""Word-vector artifacts out to the formats other tools read.

word2vec text and binary (gensim `KeyedVectors.load_word2vec_format` reads both back bit for bit: text
uses each float32's shortest round-trip digits), GloVe's headerless text, and the TensorBoard projector's
pair of TSV files. A term with whitespace would corrupt every one of these formats, so it is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Literal

import numpy as np

from lexiflow.vectors import WordVectors

Format = Literal["word2vec", "word2vec-binary", "glove", "tsv"]
FORMATS: tuple[str, ...] = ("word2vec", "word2vec-binary", "glove", "tsv")
_SPACE = re.compile(r"\s")


def _check_terms(terms: list[str]) -> None:
    for n, term in enumerate(terms):
        if not term or _SPACE.search(term):
            raise ValueError(f"term #{n} {term!r} is empty or contains whitespace: no vector text format can hold it")


def _text_rows(wv: WordVectors, sep: str = " ") -> Iterator[str]:
    for term, row in zip(wv.terms, wv.vectors, strict=True):
        yield term + sep + sep.join(np.format_float_positional(v, unique=True, trim="-") for v in row) + "\n"


def export(wv: WordVectors, fmt: Format, path: str) -> list[str]:
    """Write `wv` in `fmt` at `path` (a folder for tsv); returns the files written."""
    _check_terms(wv.terms)
    if fmt == "word2vec":
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{len(wv.terms)} {wv.dim}\n")
            fh.writelines(_text_rows(wv))
        return [path]
    if fmt == "word2vec-binary":
        with open(path, "wb") as fh:
            fh.write(f"{len(wv.terms)} {wv.dim}\n".encode())
            for term, row in zip(wv.terms, wv.vectors.astype("<f4"), strict=True):
                fh.write(term.encode("utf-8") + b" " + row.tobytes() + b"\n")
        return [path]
    if fmt == "glove":
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(_text_rows(wv))
        return [path]
    if fmt == "tsv":
        os.makedirs(path, exist_ok=True)
        vectors, metadata = os.path.join(path, "vectors.tsv"), os.path.join(path, "metadata.tsv")
        with open(vectors, "w", encoding="utf-8") as fh:
            fh.writelines(row.split(" ", 1)[1].replace(" ", "\t") for row in _text_rows(wv))
        with open(metadata, "w", encoding="utf-8") as fh:
            fh.writelines(t + "\n" for t in wv.terms)
        return [vectors, metadata]
    raise ValueError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
