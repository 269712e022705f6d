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

from lexiflow.config import QueryConfig, TfidfConfig, TokenizeConfig
from lexiflow.store import Artifact, ArtifactStore


class QueryError(ValueError):
    """A query that cannot be answered (unknown word, no known term, empty index), said plainly."""


class UnknownWordError(QueryError):
    """A word the word vectors do not know; carries the word and the vocabulary size for a 404 body."""

    def __init__(self, word: str, vocab_size: int) -> None:
        super().__init__(f"{word!r} is not in the word vectors' vocabulary ({vocab_size} words); "
                         "try a more frequent word")
        self.word, self.vocab_size = word, vocab_size


@dataclass(frozen=True)
class DocHit:
    rank: int
    doc_id: str
    title: str | None
    label: str | None
    score: float
    snippet: str | None = None


@dataclass(frozen=True)
class WordHit:
    rank: int
    term: str
    score: float


class Index:
    """A built index (IdIndex) of an artifact: search by vector, ids that are always live ids of this build."""

    def __init__(self, artifact: Artifact) -> None:
        from lexiflow.idindex import IdIndex

        self.artifact = artifact
        self.ids_index = IdIndex.load(artifact.url)

    @property
    def size(self) -> int:
        return self.ids_index.size

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k (id, score); never a padding or deleted id, and k beyond the index returns what exists."""
        if self.size == 0:
            raise QueryError(f"the index {self.artifact.stage}/{self.artifact.key} is empty")
        return self.ids_index.search(vector.reshape(1, -1), k)[0]


class QueryEngine:
    """Loads the artifacts a ref names on first use of each side (documents, words)."""

    def __init__(self, store: ArtifactStore, ref: str = "default", settings: QueryConfig | None = None) -> None:
        self.store = store
        self.ref = ref
        self.settings = settings or QueryConfig()
        self.artifacts = store.resolve(ref)

    def warm(self) -> QueryEngine:
        """Load both sides now (what a service does before it starts answering from this build)."""
        if "doc_index" in self.artifacts:
            self._doc_side  # noqa: B018 - loads the cached property
            self._doc_table  # noqa: B018
            self._tfidf_row  # noqa: B018 - and the TF-IDF columns it indexes
        if "word_index" in self.artifacts:
            self.word_index  # noqa: B018
        return self

    def index_sizes(self) -> dict[str, int]:
        """Live vectors in each index this build has."""
        sizes = {}
        if "doc_index" in self.artifacts:
            sizes["doc_index"] = self._doc_side["index"].size
        if "word_index" in self.artifacts:
            sizes["word_index"] = self.word_index.size
        return sizes

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
            "term_id": {t: i for i, t in enumerate(idf_table["term"].to_pylist())},
            "idf": idf_table["idf"].to_numpy(),
            "projection": load_projection(self._need("lsa")),
            "index": Index(self._need("doc_index")),
        }

    def tokens(self, text: str) -> list[str]:
        from tasks.tokens import tokenize

        side = self._doc_side
        return tokenize([text], side["tokens_cfg"], side["stopwords"])[0].as_py()

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one engine per build; a query is weighed once per call path
    def query_weights(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The query's TF-IDF row (term ids, weights), with the build's tokenizer, vocab and idf."""
        from tasks.tfidf import weigh

        side = self._doc_side
        words = self.tokens(text)
        term_id = side["term_id"]  # a dict built once: pc.index_in would hash the whole vocab per query
        ids = np.array([term_id[w] for w in words if w in term_id], dtype=np.int64)
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
    def _tfidf_columns(self) -> tuple[Any, list[str]]:
        """Every document's TF-IDF row as a column-major matrix (a query touches only its terms' columns)."""
        from lexiflow.sparse import to_csr

        table = self._need("tfidf").read_table(columns=["doc_id", "term_ids", "values"])
        return to_csr(table, len(self._doc_side["terms"])).tocsc(), table["doc_id"].to_pylist()

    def docs(self, text: str, k: int = 10, encoder: str | None = None) -> list[DocHit]:
        """Hybrid retrieval: the LSA index's and the exact TF-IDF cosine's top `rerank` candidates, blended.

        LSA alone blurs specific terms (at 128 dimensions "python library for machine learning" finds Python
        libraries of any kind) and a document it does not rank high cannot be restored by re-scoring alone;
        so the exact TF-IDF cosine of every document is computed too (a sparse product over the query's
        terms' columns, milliseconds on 64k documents), its best `rerank` join the LSA candidates, and each
        candidate scores `rerank_weight` x LSA cosine + the rest x TF-IDF cosine. With `encoder`, that
        encoder's codes and index answer instead, without re-scoring.
        """
        if encoder is not None:
            model_index = self.encoder(encoder)[1]
            return self._doc_hits(model_index.search(self.encode_with(encoder, text), k))
        code = self.encode_text(text)
        index = self._doc_side["index"]
        if self.settings.rerank <= 0:
            return self._doc_hits(index.search(code, k))
        want = max(k, self.settings.rerank)
        lsa = dict(index.search(code, want))
        term_ids, weights = self.query_weights(text)
        matrix, doc_ids = self._tfidf_columns
        exact = np.asarray(matrix[:, term_ids] @ weights).ravel()
        top = np.argpartition(-exact, min(want, len(exact)) - 1)[:want] if len(exact) else np.zeros(0, np.int64)
        rows = {doc_ids[r]: int(r) for r in top if exact[r] > 0}
        ids_index = index.ids_index
        for doc_id in lsa.keys() - rows.keys():
            rows[doc_id] = self._tfidf_row[doc_id]
        lexical = [d for d in rows.keys() - lsa.keys() if d in ids_index]  # their LSA cosine from the stored code
        lsa.update(zip(lexical, (ids_index.vectors(lexical) @ code).tolist(), strict=True))
        w = self.settings.rerank_weight
        blended = [(d, w * lsa.get(d, 0.0) + (1 - w) * float(exact[r])) for d, r in rows.items()]
        return self._doc_hits(sorted(blended, key=lambda h: (-h[1], h[0]))[:k])

    @functools.cached_property
    def _tfidf_row(self) -> dict[str, int]:
        return {doc_id: i for i, doc_id in enumerate(self._tfidf_columns[1])}

    def _doc_hits(self, hits: list[tuple[str, float]]) -> list[DocHit]:
        meta = self._doc_meta([doc_id for doc_id, _ in hits])
        none: tuple[str | None, str | None, str | None] = (None, None, None)
        return [
            DocHit(rank=i + 1, doc_id=doc_id, title=meta.get(doc_id, none)[0], label=meta.get(doc_id, none)[1],
                   score=score, snippet=meta.get(doc_id, none)[2])
            for i, (doc_id, score) in enumerate(hits)
        ]

    @functools.cached_property
    def _doc_table(self) -> tuple[pa.Table, dict[str, int]]:
        """doc_id, title, label and snippet of every document, read once in batches (text is not kept)."""
        batches = []
        for batch in self._need("ingest").iter_batches(["doc_id", "title", "label", "text"]):
            snippet = pc.utf8_slice_codeunits(batch.column("text"), 0, self.settings.snippet_chars)
            batches.append(pa.table({"doc_id": batch.column("doc_id"), "title": batch.column("title"),
                                     "label": batch.column("label"), "snippet": snippet}))
        table = pa.concat_tables(batches).combine_chunks() if batches else pa.table({})
        rows = {d: i for i, d in enumerate(table["doc_id"].to_pylist())} if batches else {}
        return table, rows

    def _doc_meta(self, doc_ids: list[str]) -> dict[str, tuple[str | None, str | None, str | None]]:
        """Title, label and the text's first `snippet_chars` characters of each hit.

        From the in-memory table once `warm` loaded it (the service); a one-shot CLI query scans the
        corpus for just these ids instead of loading every document.
        """
        if "_doc_table" in self.__dict__:
            table, rows = self._doc_table
            found = [d for d in doc_ids if d in rows]
            picked = table.take(pa.array([rows[d] for d in found], pa.int64())).to_pydict() if found else {}
        else:
            import pyarrow.dataset as ds

            dataset = ds.dataset(self._need("ingest").parts(), format="parquet")
            scanned = dataset.to_table(columns=["doc_id", "title", "label", "text"],
                                       filter=pc.field("doc_id").isin(doc_ids))
            found = scanned["doc_id"].to_pylist()
            picked = {"title": scanned["title"].to_pylist(), "label": scanned["label"].to_pylist(),
                      "snippet": pc.utf8_slice_codeunits(scanned["text"], 0, self.settings.snippet_chars).to_pylist()}
        return {d: (picked["title"][i], picked["label"][i], picked["snippet"][i]) for i, d in enumerate(found)}

    # Words ----------------------------------------------------------------------------------------------

    @functools.cached_property
    def word_index(self) -> Index:
        return Index(self._need("word_index"))

    def _term(self, word: str) -> str:
        """The word as the build tokenized it (case, normalisation), falling back to the word itself."""
        words = self.tokens(word) if "tokens" in self.artifacts else [word]
        return words[0] if len(words) == 1 else word

    def word_vector(self, word: str) -> np.ndarray:
        index = self.word_index.ids_index
        term = self._term(word)
        if term not in index:
            raise UnknownWordError(word, index.size)
        return index.vector(term)

    def similar(self, word: str, k: int = 10) -> list[WordHit]:
        term = self._term(word)
        hits = [h for h in self.word_index.search(self.word_vector(word), k + 1) if h[0] != term][:k]
        return [WordHit(rank=i + 1, term=t, score=s) for i, (t, s) in enumerate(hits)]

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> list[WordHit]:
        """a is to b as c is to ?: nearest words to b - a + c (3CosAdd, as gensim's most_similar), inputs left out."""
        vecs = [self.word_vector(w) for w in (a, b, c)]
        target = vecs[1] - vecs[0] + vecs[2]
        norm = np.linalg.norm(target)
        target = target / norm if norm > 0 else target
        skip = {self._term(w) for w in (a, b, c)}
        hits = [h for h in self.word_index.search(target.astype(np.float32), k + 3) if h[0] not in skip][:k]
        return [WordHit(rank=i + 1, term=t, score=s) for i, (t, s) in enumerate(hits)]

    # Clusters (issue 7) ------------------------------------------------------------------------------------

    def cluster(self, cluster_id: int, method: str = "kmeans", words: bool = False, k: int = 10) -> dict[str, Any]:
        """A cluster's top terms (documents: highest mean TF-IDF over its members, computed by the build;
        words: member words nearest the centroid) and its k members nearest (cosine) the centroid, with
        titles for documents."""
        from lexiflow.spectral import unit_rows
        from lexiflow.vectors import load_rows
        from tasks.cluster import CENTROIDS, TOP_TERMS

        stage, vectors = ("word_cluster", "word2vec") if words else ("cluster", "lsa")
        artifact = self._need(stage)
        k_total = int(artifact.figures.get("k", 0))
        if method not in artifact.figures.get("methods", {}):
            raise QueryError(f"build {self.ref!r} clustered with {', '.join(artifact.figures.get('methods', {}))}, "
                             f"not {method!r}")
        if not 0 <= cluster_id < k_total:
            raise QueryError(f"cluster {cluster_id}: {stage} has clusters 0..{k_total - 1} (0 is the largest)")
        top = artifact.read_table(TOP_TERMS).filter(
            (pc.field("method") == method) & (pc.field("cluster") == cluster_id)).to_pylist()
        centroid = artifact.read_table(CENTROIDS).filter(
            (pc.field("method") == method) & (pc.field("cluster") == cluster_id))["centroid"].to_pylist()[0]
        rows = load_rows(self._need(vectors), artifact.figures.get("rows"))
        labels = artifact.read_table(columns=[method])[method].to_numpy()
        members = np.flatnonzero(labels == cluster_id)
        centre = unit_rows(np.asarray([centroid], dtype=np.float32))[0]
        scores = unit_rows(rows.matrix[members]) @ centre
        best = members[np.argsort(-scores)[:k]]
        ids = rows.ids.take(pa.array(best)).to_pylist()
        sims = unit_rows(rows.matrix[best]) @ centre
        if words:
            examples = [{"id": t, "score": float(s)} for t, s in zip(ids, sims, strict=True)]
        else:
            hits = self._doc_hits([(d, float(s)) for d, s in zip(ids, sims, strict=True)])
            examples = [{"id": h.doc_id, "score": h.score, "title": h.title, "label": h.label} for h in hits]
        return {"stage": stage, "method": method, "cluster": cluster_id, "k": k_total, "size": len(members),
                "top_terms": top[0]["terms"] if top else [], "examples": examples}
