"""A FAISS index keyed by stable string ids: add, replace and delete without ever reusing an id.

Every string id (doc_id, term) gets an int64 label from a counter that only grows, so a label names one
vector for the life of the index: a deleted or replaced vector's label is never handed out again, and a
surviving id keeps its label through any number of updates. Vectors are checked at the boundary
(dimension, dtype, contiguity, finiteness), L2-normalised (cosine by inner product), and all-zero rows
are left out and reported: they have no direction. Kinds whose FAISS index cannot remove vectors (HNSW)
keep deleted labels as tombstones that searches filter out; `tombstones` says how many, so a caller can
decide when a rebuild is worth it.

Files: `index.faiss` (an IVF index holding the labels itself, or an IndexIDMap2 around any other
kind), `ids.parquet` (label, id of every live vector) and `index.json` (factory, search parameters,
next label, tombstones).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.parquet"
META_FILE = "index.json"
IDS_SCHEMA = pa.schema([pa.field("label", pa.int64(), nullable=False), pa.field("id", pa.string(), nullable=False)])
SHOWN = 10  # ids named in an error message before "and N more"


class VectorInputError(ValueError):
    """Vectors that cannot go into the index, naming the ids and what was wrong."""


def _name_ids(ids: Sequence[str]) -> str:
    head = ", ".join(repr(i) for i in ids[:SHOWN])
    return head + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


@dataclass(frozen=True)
class AddReport:
    """What an add or replace did: ids indexed, and ids left out because their vector was all zeros."""

    added: list[str]
    zero: list[str] = field(default_factory=list)


def check_vectors(ids: Sequence[str], vectors: Any, dim: int) -> tuple[list[str], np.ndarray, list[str]]:
    """(kept ids, normalised float32 C-contiguous rows, all-zero ids) or a VectorInputError naming the fault."""
    ids = [str(i) for i in ids]
    mat = np.asarray(vectors)
    if mat.ndim == 1 and len(ids) == 1:
        mat = mat.reshape(1, -1)
    if mat.ndim != 2:
        raise VectorInputError(f"vectors must be a 2-D array (rows, {dim}), got shape {mat.shape}")
    if mat.shape[1] != dim:
        raise VectorInputError(f"vectors have dimension {mat.shape[1]}, the index expects {dim}")
    if mat.shape[0] != len(ids):
        raise VectorInputError(f"{len(ids)} ids for {mat.shape[0]} vectors; give one id per row")
    if not np.issubdtype(mat.dtype, np.number) or np.issubdtype(mat.dtype, np.complexfloating):
        raise VectorInputError(f"vectors must be real numbers, got dtype {mat.dtype}")
    seen: set[str] = set()
    dupes = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if dupes:
        raise VectorInputError(f"ids repeated within one call: {_name_ids(dupes)}")
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    finite = np.isfinite(mat).all(axis=1)
    if not finite.all():
        bad = [ids[i] for i in np.flatnonzero(~finite)]
        raise VectorInputError(f"{len(bad)} vector(s) hold NaN or infinity: {_name_ids(bad)}")
    norms = np.linalg.norm(mat.astype(np.float64), axis=1)
    keep = norms > 0
    zero = [ids[i] for i in np.flatnonzero(~keep)]
    kept = [ids[i] for i in np.flatnonzero(keep)]
    return kept, np.ascontiguousarray(mat[keep] / norms[keep, None].astype(np.float32)), zero


class IdIndex:
    """Cosine search over vectors named by string ids, with add / replace / delete and stable labels."""

    def __init__(self, index: Any, labels: dict[str, int], next_label: int, tombstones: set[int],
                 factory: str, params: dict[str, int | float]) -> None:
        import faiss

        if not isinstance(index, faiss.IndexIDMap2) and _ivf_of(index) is None:
            raise TypeError(f"IdIndex needs a faiss.IndexIDMap2 or an IVF index, got {type(index).__name__}")
        self.index = index
        self.factory = factory
        self._label = labels                       # id -> label, live ids only
        self._id = {lab: i for i, lab in labels.items()}
        # label -> id as a plain list (None: deleted); a search maps its few hits by Python indexing, which
        # costs less than any numpy call on arrays this small
        self._names: list[str | None] = [None] * next_label
        for doc_id, lab in labels.items():
            self._names[lab] = doc_id
        self.next_label = next_label
        self.tombstones = tombstones               # labels deleted but still inside a non-removing index
        self.params: dict[str, int | float] = {}
        self.set_params(params)

    # Construction -----------------------------------------------------------------------------------

    @classmethod
    def create(cls, dim: int, factory: str = "Flat", params: dict[str, int | float] | None = None) -> IdIndex:
        """An empty index from a faiss factory string (inner product over normalised vectors)."""
        import faiss

        try:
            base = faiss.index_factory(int(dim), factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"index factory {factory!r} (dim {dim}) is not valid: {str(exc).splitlines()[0]}") \
                from None
        ivf = _ivf_of(base)
        if ivf is not None:
            # IVF kinds keep labels natively (IndexIDMap's remove_ids assumes a flat index and would go out of
            # step with IVF lists); a hashtable direct map gives reconstruct-by-label and remove.
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            return cls(base, {}, 0, set(), factory, params or {})
        return cls(faiss.IndexIDMap2(base), {}, 0, set(), factory, params or {})

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def base(self) -> Any:
        """The index that does the searching (inside the id map, when there is one)."""
        import faiss

        return faiss.downcast_index(self.index.index) if isinstance(self.index, faiss.IndexIDMap2) else self.index

    @property
    def size(self) -> int:
        """Live vectors (tombstoned ones excluded)."""
        return len(self._label)

    @property
    def is_trained(self) -> bool:
        return bool(self.index.is_trained)

    def ids(self) -> list[str]:
        """Live ids in label order (the order they were added)."""
        return [self._id[lab] for lab in sorted(self._id)]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._label

    def label_of(self, doc_id: str) -> int:
        try:
            return self._label[doc_id]
        except KeyError:
            raise KeyError(f"id {doc_id!r} is not in the index ({self.size} ids)") from None

    # Search parameters ------------------------------------------------------------------------------

    def set_params(self, params: dict[str, int | float]) -> None:
        """Apply search parameters (nprobe, efSearch, ...) through faiss's ParameterSpace, and remember them."""
        import faiss

        space = faiss.ParameterSpace()
        base = self.base
        for name, value in params.items():
            try:
                space.set_index_parameter(base, name, value)
            except RuntimeError as exc:
                raise ValueError(f"search parameter {name}={value} does not apply to {self.factory!r}: "
                                 f"{str(exc).splitlines()[0]}") from None
            self.params[name] = value

    # Updates ----------------------------------------------------------------------------------------

    def train(self, vectors: Any, ids: Sequence[str] | None = None) -> None:
        """Train the quantizers of IVF/PQ kinds on (normalised) sample vectors; a no-op for flat and HNSW."""
        if self.is_trained:
            return
        sample_ids = ids if ids is not None else [str(i) for i in range(len(vectors))]
        _, mat, _ = check_vectors(sample_ids, vectors, self.dim)
        self.index.train(mat)

    def add(self, ids: Sequence[str], vectors: Any) -> AddReport:
        """Add new ids; an id already present is an error (use `replace`)."""
        present = [i for i in map(str, ids) if i in self._label]
        if present:
            raise VectorInputError(f"ids already in the index (use replace): {_name_ids(present)}")
        kept, mat, zero = check_vectors(ids, vectors, self.dim)
        if not self.is_trained:
            raise VectorInputError(f"index {self.factory!r} is not trained; call train() with sample vectors")
        if kept:
            labels = np.arange(self.next_label, self.next_label + len(kept), dtype=np.int64)
            self.index.add_with_ids(mat, labels)
            self.next_label += len(kept)
            self._names.extend(kept)
            for doc_id, lab in zip(kept, labels.tolist(), strict=True):
                self._label[doc_id] = lab
                self._id[lab] = doc_id
        return AddReport(added=kept, zero=zero)

    def replace(self, ids: Sequence[str], vectors: Any) -> AddReport:
        """New vectors for ids (present or not): old labels retire, the ids get fresh ones.

        Checked before anything changes, so a bad row leaves the index as it was. An id whose new vector is
        all zeros is deleted and reported in `zero`.
        """
        check_vectors(ids, vectors, self.dim)
        self.delete([i for i in map(str, ids) if i in self._label])
        return self.add(ids, vectors)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove ids; an unknown id is an error naming it, and nothing is removed then."""
        import faiss

        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in self._label]
        if missing:
            raise KeyError(f"ids not in the index: {_name_ids(missing)}")
        labels = np.array([self._label[i] for i in ids], dtype=np.int64)
        if len(labels) == 0:
            return 0
        # IVF's hashtable direct map removes only through an IDSelectorArray; others take the hashed batch.
        selector = (faiss.IDSelectorArray(len(labels), faiss.swig_ptr(labels)) if self.index is self.base
                    else faiss.IDSelectorBatch(labels))
        try:
            removed = self.index.remove_ids(selector)
        except RuntimeError:  # HNSW cannot remove: keep them as tombstones, filtered at search time
            removed = 0
            self.tombstones.update(labels.tolist())
        if removed not in (0, len(labels)):
            raise RuntimeError(f"faiss removed {removed} of {len(labels)} vectors; the index is inconsistent")
        for doc_id in ids:
            del self._id[self._label.pop(doc_id)]
        for lab in labels.tolist():
            self._names[lab] = None
        return len(labels)

    # Queries ----------------------------------------------------------------------------------------

    def vector(self, doc_id: str) -> np.ndarray:
        """The stored (normalised) vector of an id; approximate for PQ kinds."""
        return self.index.reconstruct(self.label_of(doc_id))

    def search(self, queries: Any, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (id, cosine) per query row: live ids only, never padding; fewer than k when the index is small.

        Query rows are normalised here too, so scores are cosines whatever the caller passed.
        """
        if k < 1:
            raise ValueError(f"k={k}: must be at least 1")
        import faiss

        mat = np.array(queries, dtype=np.float32, order="C", ndmin=2)  # a copy: normalised in place below
        if mat.ndim != 2 or mat.shape[1] != self.dim:
            raise VectorInputError(f"query vectors have shape {mat.shape}, the index expects (n, {self.dim})")
        if not self._id:
            return [[] for _ in range(len(mat))]
        if not np.isfinite(mat.sum()) and not np.isfinite(mat).all():  # one cheap reduction in the common case
            raise VectorInputError("query vectors hold NaN or infinity")
        faiss.normalize_L2(mat)  # leaves an all-zero row as it is
        want = min(k + len(self.tombstones), int(self.index.ntotal))
        scores, labels = self.index.search(mat, want)
        # padding (-1) and deleted (tombstoned) labels map to no id and drop out here
        names = self._names
        return [[(names[lab], score) for lab, score in zip(row_labels, row_scores, strict=True)
                 if lab >= 0 and names[lab] is not None][:k]
                for row_labels, row_scores in zip(labels.tolist(), scores.tolist(), strict=True)]

    # Files ------------------------------------------------------------------------------------------

    def save(self, folder: str) -> None:
        """Write the three files into a local folder (an artifact writer's temp folder)."""
        import faiss
        import pyarrow.parquet as pq

        os.makedirs(folder, exist_ok=True)
        faiss.write_index(self.index, os.path.join(folder, INDEX_FILE))
        labels = sorted(self._id)
        table = pa.table([pa.array(labels, pa.int64()), pa.array([self._id[lab] for lab in labels], pa.string())],
                         schema=IDS_SCHEMA)
        pq.write_table(table, os.path.join(folder, IDS_FILE), compression="zstd")
        meta = {"factory": self.factory, "params": self.params, "next_label": self.next_label,
                "tombstones": sorted(self.tombstones), "dim": self.dim, "metric": "cosine"}
        with open(os.path.join(folder, META_FILE), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True)

    @classmethod
    def load(cls, folder: str) -> IdIndex:
        """Read what `save` wrote and apply the saved search parameters."""
        import faiss
        import pyarrow.parquet as pq

        with open(os.path.join(folder, META_FILE), encoding="utf-8") as fh:
            meta = json.load(fh)
        index = faiss.read_index(os.path.join(folder, INDEX_FILE))
        table = pq.read_table(os.path.join(folder, IDS_FILE))
        labels = dict(zip(table["id"].to_pylist(), table["label"].to_pylist(), strict=True))
        return cls(index, labels, int(meta["next_label"]), set(meta["tombstones"]), meta["factory"], meta["params"])


def _ivf_of(index: Any) -> Any | None:
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
