"""Answer queries against a named build: no Prefect, no Dask, only what the build fitted.

A query text goes through the build's own tokenizer settings, vocab, idf and SVD projection (read from
the artifacts' manifests and files, never from the current config), then the FAISS index.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lexiflow.config import QueryConfig, TfidfConfig, TokenizeConfig
from lexiflow.store import Artifact, ArtifactStore


class QueryError(ValueError):
    """A query that cannot be answered (unknown word, no known term, empty index), said plainly."""


@dataclass(frozen=True)
class DocHit:
    rank: int
    doc_id: str
    title: str | None
    label: str | None
    score: float


@dataclass(frozen=True)
class WordHit:
    rank: int
    term: str
    score: float


class Index:
    """A FAISS index and its id map, as the index stage wrote them."""

    def __init__(self, artifact: Artifact) -> None:
        import faiss

        from tasks.index import IDS_FILE, INDEX_FILE

        self.artifact = artifact
        self.index = faiss.read_index(artifact.file(INDEX_FILE))
        self.ids = artifact.read_table(IDS_FILE)["id"].combine_chunks()

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @functools.cached_property
    def position(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.ids.to_pylist())}

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float, int]]:
        """Top-k (id, score, position); never a padding id, and k beyond the index returns what exists."""
        if self.size == 0:
            raise QueryError(f"the index {self.artifact.stage}/{self.artifact.key} is empty")
        k = min(k, self.size)
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, positions = self.index.search(query, k)
        return [
            (self.ids[int(p)].as_py(), float(s), int(p))
            for s, p in zip(scores[0], positions[0], strict=True)
            if p >= 0
        ]


class QueryEngine:
    """Loads the artifacts a ref names on first use of each side (documents, words)."""

    def __init__(self, store: ArtifactStore, ref: str = "default", settings: QueryConfig | None = None) -> None:
        self.store = store
        self.ref = ref
        self.settings = settings or QueryConfig()
        self.artifacts = store.resolve(ref)

    def _need(self, stage: str) -> Artifact:
        if stage not in self.artifacts:
            raise QueryError(f"build {self.ref!r} has no {stage} artifact; rebuild with `lexiflow run`")
        return self.artifacts[stage]

    # Documents ------------------------------------------------------------------------------------------

    @functools.cached_property
    def _doc_side(self) -> dict[str, Any]:
        from tasks.lsa import load_projection
        from tasks.tfidf import IDF_FILE
        from tasks.tokens import load_stopwords

        tokens_cfg = TokenizeConfig.model_validate(self._need("tokens").manifest["config"])
        tfidf = self._need("tfidf")
        idf_table = tfidf.read_table(IDF_FILE, ["term", "idf"])
        return {
            "tokens_cfg": tokens_cfg,
            "stopwords": load_stopwords(tokens_cfg),
            "tfidf_cfg": TfidfConfig.model_validate(tfidf.manifest["config"]),
            "terms": idf_table["term"].combine_chunks(),
            "idf": idf_table["idf"].to_numpy(),
            "projection": load_projection(self._need("lsa")),
            "index": Index(self._need("doc_index")),
        }

    def tokens(self, text: str) -> list[str]:
        from tasks.tokens import tokenize

        side = self._doc_side
        return tokenize([text], side["tokens_cfg"], side["stopwords"])[0].as_py()

    def query_weights(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The query's TF-IDF row (term ids, weights), with the build's tokenizer, vocab and idf."""
        from tasks.tfidf import weigh

        side = self._doc_side
        words = self.tokens(text)
        ids = pc.index_in(pa.array(words, pa.string()), value_set=side["terms"]).drop_null().to_numpy()
        if len(ids) == 0:
            raise QueryError(
                f"none of the query's terms {words} is in the vocabulary ({len(side['terms'])} terms)"
                if words
                else "the query has no terms after tokenizing"
            )
        term_ids, counts = np.unique(ids, return_counts=True)
        lists = pa.array([term_ids.tolist()], pa.list_(pa.int32()))
        values = weigh(lists, pa.array([counts.astype(np.float32).tolist()], pa.list_(pa.float32())),
                       side["idf"], side["tfidf_cfg"])
        return term_ids, np.asarray(values[0].as_py(), dtype=np.float64)

    # Encoders (issue 4): codes_<name> holds the fitted encoder, doc_index_<name> its index ---------------

    @functools.lru_cache(maxsize=8)  # noqa: B019 - one engine per process; encoders are loaded once
    def encoder(self, name: str) -> tuple[Any, Index]:
        from tasks.encode import load_model

        codes, index = f"codes_{name}", f"doc_index_{name}"
        if codes not in self.artifacts or index not in self.artifacts:
            raise QueryError(
                f"build {self.ref!r} has no {name!r} encoder; build it with "
                f"`lexiflow run conf/default.yaml conf/encoders.yaml` (encoder.build lists the encoders)"
            )
        return load_model(self.artifacts[codes]), Index(self.artifacts[index])

    def encode_with(self, name: str, text: str) -> np.ndarray:
        """The query's code from encoder `name`, through the same input restriction as the documents."""
        import scipy.sparse as sp

        from tasks.encoders import restrict
        from tasks.encoders.data import column_map

        model, _ = self.encoder(name)
        term_ids, weights = self.query_weights(text)
        row = sp.csr_matrix((weights, (np.zeros(len(term_ids), np.int64), term_ids)),
                            shape=(1, len(self._doc_side["terms"])))
        x = restrict(row, column_map(model.term_ids, row.shape[1]), model.n_inputs)
        if x.nnz == 0:
            raise QueryError(f"none of the query's terms is among encoder {name!r}'s {model.n_inputs} input terms")
        code = model.encode(x)[0].astype(np.float64)
        norm = np.linalg.norm(code)  # the index holds unit codes: a unit query makes the score a cosine
        return (code / norm if norm > 0 else code).astype(np.float32)

    def generate(self, name: str, samples: int, words: int, seed: int = 0) -> list[list[tuple[str, float]]]:
        """Codes drawn from a vae's N(0, I) prior, decoded to word distributions: the top words of each."""
        model, _ = self.encoder(name)
        if not hasattr(model, "word_distribution"):
            raise QueryError(f"encoder {name!r} ({model.kind}) has no generative decoder; use a vae")
        codes = np.random.default_rng(seed).standard_normal((samples, model.code_size)).astype(np.float32)
        probs = model.word_distribution(codes)
        terms = self._need("vocab").read_table(columns=["term_id", "term"])
        by_id = dict(zip(terms["term_id"].to_pylist(), terms["term"].to_pylist(), strict=True))
        top = np.argsort(-probs, axis=1)[:, :words]
        return [[(by_id[int(model.term_ids[j])], float(p[j])) for j in row] for p, row in zip(probs, top, strict=True)]

    def encode_text(self, text: str) -> np.ndarray:
        """The query's LSA code: its TF-IDF row projected and normalised like the documents' codes."""
        term_ids, weights = self.query_weights(text)
        code = weights @ self._doc_side["projection"][term_ids].astype(np.float64)
        norm = np.linalg.norm(code)
        return (code / norm if norm > 0 else code).astype(np.float32)

    @functools.cached_property
    def _tfidf_rows(self) -> tuple[Any, dict[str, int]]:
        """Every document's TF-IDF row, for re-scoring LSA candidates exactly."""
        from lexiflow.sparse import to_csr

        table = self._need("tfidf").read_table(columns=["doc_id", "term_ids", "values"])
        rows = {doc_id: i for i, doc_id in enumerate(table["doc_id"].to_pylist())}
        return to_csr(table, len(self._doc_side["terms"])), rows

    def docs(self, text: str, k: int = 10, encoder: str | None = None) -> list[DocHit]:
        """Nearest documents by LSA code; the top `rerank` candidates re-scored with exact TF-IDF cosine.

        LSA alone blurs specific terms (at 128 dimensions "python library for machine learning" finds Python
        libraries of any kind); blending in the exact TF-IDF cosine of a few hundred candidates restores them
        at little cost. With `encoder`, that encoder's codes and index answer instead, without re-scoring.
        """
        if encoder is not None:
            model_index = self.encoder(encoder)[1]
            return self._doc_hits(model_index.search(self.encode_with(encoder, text), k))
        code = self.encode_text(text)
        index = self._doc_side["index"]
        if self.settings.rerank <= 0:
            hits = index.search(code, k)
        else:
            candidates = index.search(code, max(k, self.settings.rerank))
            term_ids, weights = self.query_weights(text)
            matrix, rows = self._tfidf_rows
            exact = np.asarray(matrix[[rows[d] for d, _, _ in candidates]][:, term_ids] @ weights).ravel()
            w = self.settings.rerank_weight
            blended = [(d, w * s + (1 - w) * float(x), p) for (d, s, p), x in zip(candidates, exact, strict=True)]
            hits = sorted(blended, key=lambda h: -h[1])[:k]
        return self._doc_hits(hits)

    def _doc_hits(self, hits: list[tuple[str, float, int]]) -> list[DocHit]:
        meta = self._doc_meta([doc_id for doc_id, _, _ in hits])
        return [
            DocHit(rank=i + 1, doc_id=doc_id, title=meta.get(doc_id, (None, None))[0],
                   label=meta.get(doc_id, (None, None))[1], score=score)
            for i, (doc_id, score, _) in enumerate(hits)
        ]

    def _doc_meta(self, doc_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        corpus = self._need("ingest")
        dataset = ds.dataset(corpus.parts(), format="parquet")
        table = dataset.to_table(
            columns=["doc_id", "title", "label"], filter=pc.field("doc_id").isin(doc_ids)
        )
        return {
            d: (t, lab)
            for d, t, lab in zip(table["doc_id"].to_pylist(), table["title"].to_pylist(),
                                 table["label"].to_pylist(), strict=True)
        }

    # Words ----------------------------------------------------------------------------------------------

    @functools.cached_property
    def word_index(self) -> Index:
        return Index(self._need("word_index"))

    def similar(self, word: str, k: int = 10) -> list[WordHit]:
        index = self.word_index
        words = self.tokens(word) if "tokens" in self.artifacts else [word]
        term = words[0] if len(words) == 1 else word
        position = index.position.get(term)
        if position is None:
            raise QueryError(
                f"{word!r} is not in the word vectors' vocabulary ({index.size} words); try a more frequent word"
            )
        vector = index.index.reconstruct(position)
        hits = [h for h in index.search(vector, k + 1) if h[2] != position][:k]
        return [WordHit(rank=i + 1, term=t, score=s) for i, (t, s, _) in enumerate(hits)]
