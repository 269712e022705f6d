"""IdIndex: stable ids through add / replace / delete, input checks, and agreement with exact numpy search."""

from __future__ import annotations

import numpy as np
import pytest

from lexiflow.idindex import IdIndex, VectorInputError

KINDS = ["Flat", "HNSW16,Flat", "IVF8,Flat"]


def data(n: int = 400, d: int = 8, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f"doc{i}" for i in range(n)], rng.normal(size=(n, d)).astype(np.float32)


def make(factory: str, ids: list[str], vecs: np.ndarray) -> IdIndex:
    params = {"nprobe": 8} if "IVF" in factory else ({"efSearch": 400} if "HNSW" in factory else {})
    index = IdIndex.create(vecs.shape[1], factory, params)
    index.train(vecs)
    index.add(ids, vecs)
    return index


def exact(ids: list[str], vecs: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    normed = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    order = np.argsort(-(normed @ (query / np.linalg.norm(query))), kind="stable")[:k]
    return [ids[i] for i in order]


@pytest.mark.parametrize("factory", KINDS)
def test_search_agrees_with_numpy_and_scores_are_cosines(factory: str) -> None:
    ids, vecs = data()
    index = make(factory, ids, vecs)
    for q in range(5):
        hits = index.search(vecs[q] * 3.0, 5)[0]  # scale must not matter: cosine
        assert [h[0] for h in hits] == exact(ids, vecs, vecs[q], 5)
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("factory", KINDS)
def test_vectors_are_the_normalised_inputs_in_the_order_asked(factory: str) -> None:
    ids, vecs = data()
    index = make(factory, ids, vecs)
    index.delete(["doc3"])
    index.replace(["doc5"], vecs[6:7])
    got = index.vectors(["doc9", "doc5", "doc0"])
    want = vecs[[9, 6, 0]] / np.linalg.norm(vecs[[9, 6, 0]], axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(got[0], index.vector("doc9"))
    with pytest.raises(KeyError, match="doc3"):
        index.vectors(["doc3"])


@pytest.mark.parametrize("factory", KINDS)
def test_delete_replace_keep_surviving_labels_and_never_reuse(factory: str) -> None:
    ids, vecs = data()
    index = make(factory, ids, vecs)
    before = {i: index.label_of(i) for i in ids}
    assert index.delete(["doc0", "doc1"]) == 2
    assert index.size == 398 and "doc0" not in index
    # deleted ids never come back from a search, even searching their own vectors
    for q in (0, 1):
        assert all(h[0] not in {"doc0", "doc1"} for h in index.search(vecs[q], 20)[0])
    report = index.replace(["doc2"], vecs[3:4])
    assert report.added == ["doc2"]
    assert index.label_of("doc2") == 400  # a fresh label, never the retired one (2) nor a deleted one
    index.add(["doc0"], vecs[0:1])  # re-adding a deleted id gets a new label too
    assert index.label_of("doc0") == 401 and index.next_label == 402
    assert all(index.label_of(i) == before[i] for i in ids[3:])
    assert sorted(index.ids()) == sorted([*ids[2:], "doc0"])
    top = [h[0] for h in index.search(vecs[3], 2)[0]]
    assert set(top) == {"doc2", "doc3"}  # same vector now


@pytest.mark.parametrize("factory", KINDS)
def test_round_trip_keeps_ids_labels_params_and_tombstones(factory: str, tmp_path) -> None:
    ids, vecs = data()
    index = make(factory, ids, vecs)
    index.delete(["doc5"])
    index.save(str(tmp_path))
    loaded = IdIndex.load(str(tmp_path))
    assert loaded.params == index.params and loaded.next_label == 400 and loaded.tombstones == index.tombstones
    assert loaded.ids() == index.ids()
    assert loaded.search(vecs[:3], 4) == index.search(vecs[:3], 4)
    assert all(h[0] != "doc5" for h in loaded.search(vecs[5], 10)[0])
    np.testing.assert_allclose(loaded.vector("doc7"), vecs[7] / np.linalg.norm(vecs[7]), atol=1e-6)


def test_hnsw_deletes_are_tombstones_and_filtered() -> None:
    ids, vecs = data()
    index = make("HNSW16,Flat", ids, vecs)
    index.delete(ids[:50])
    assert len(index.tombstones) == 50 and index.size == 350
    hits = index.search(vecs[:50], 10)
    assert all(len(h) == 10 and all(i not in set(ids[:50]) for i, _ in h) for h in hits)


def test_no_padding_ids_when_k_exceeds_size() -> None:
    ids, vecs = data(n=5)
    index = make("Flat", ids, vecs)
    index.delete(["doc4"])
    hits = index.search(vecs[0], 50)[0]
    assert sorted(h[0] for h in hits) == ["doc0", "doc1", "doc2", "doc3"]
    empty = IdIndex.create(8)
    assert empty.search(vecs[0], 3) == [[]]


def test_input_checks() -> None:
    ids, vecs = data(n=6)
    index = IdIndex.create(8)
    with pytest.raises(VectorInputError, match="dimension 7, the index expects 8"):
        index.add(ids, vecs[:, :7])
    bad = vecs.copy()
    bad[2, 0], bad[4, 1] = np.nan, np.inf
    with pytest.raises(VectorInputError, match=r"2 vector\(s\) hold NaN or infinity: 'doc2', 'doc4'"):
        index.add(ids, bad)
    assert index.size == 0  # nothing half-added
    with pytest.raises(VectorInputError, match="ids repeated within one call: 'doc1'"):
        index.add(["doc0", "doc1", "doc1"], vecs[:3])
    with pytest.raises(VectorInputError, match="3 ids for 2 vectors"):
        index.add(ids[:3], vecs[:2])
    zero = vecs.copy()
    zero[1] = 0
    report = index.add(ids, zero.astype(np.float64)[:, ::1].T.copy().T)  # float64 input is converted
    assert report.zero == ["doc1"] and "doc1" not in index and index.size == 5
    with pytest.raises(VectorInputError, match="already in the index"):
        index.add(["doc0"], vecs[:1])
    with pytest.raises(KeyError, match="'nope'"):
        index.delete(["doc0", "nope"])
    assert "doc0" in index  # an unknown id in the batch removes nothing


def test_non_contiguous_and_float64_give_same_index_as_float32() -> None:
    ids, vecs = data(n=50)
    wide = np.zeros((50, 16), dtype=np.float64)
    wide[:, ::2] = vecs
    strided = wide[:, ::2]  # a non-contiguous float64 view
    assert not strided.flags["C_CONTIGUOUS"]
    a, b = IdIndex.create(8), IdIndex.create(8)
    a.add(ids, vecs)
    b.add(ids, strided)
    assert a.search(vecs[:5], 5) == b.search(vecs[:5], 5)


def test_invalid_factory_and_params_are_named() -> None:
    with pytest.raises(ValueError, match=r"'Nonsense42' .* not valid"):
        IdIndex.create(8, "Nonsense42")
    with pytest.raises(ValueError, match="nprobe=4 does not apply to 'HNSW16,Flat'"):
        IdIndex.create(8, "HNSW16,Flat", {"nprobe": 4})


def test_untrained_ivf_refuses_add() -> None:
    ids, vecs = data()
    index = IdIndex.create(8, "IVF8,Flat")
    with pytest.raises(VectorInputError, match="not trained"):
        index.add(ids, vecs)
