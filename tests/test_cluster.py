"""Cluster and map stages on seeded synthetic data with planted groups (no Prefect, no Dask)."""

from __future__ import annotations

import numpy as np
import pytest
from explore_util import blobs, build, corpus_artifact, vectors_artifact
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from lexiflow.config import ClusterConfig, MapConfig
from lexiflow.spectral import knn_graph, laplacian_eigenmap, unit_rows
from lexiflow.store import ArtifactStore
from tasks import cluster
from tasks import map as map_stage


@pytest.mark.parametrize("method,extra", [
    ("kmeans", {}),
    ("hac", {}),
    ("hac", {"hac_max_rows": 200, "hac_leaves": 60}),        # large input: HAC over k-means centroids
    ("spectral", {}),
    ("spectral", {"spectral_max_rows": 300}),                 # large input: a sample, the rest by nearest row
])
def test_each_clusterer_recovers_planted_clusters(store: ArtifactStore, method: str, extra: dict) -> None:
    x, planted = blobs(120, 5, 16, spread=0.25, seed=1)
    vectors = vectors_artifact(store, x)
    corpus = corpus_artifact(store, [f"section{p}" for p in planted])
    cfg = ClusterConfig(methods=[method], k=5, **extra)
    out = build(cluster, cfg, store, "cluster", vectors=vectors, corpus=corpus)
    labels = out.read_table()[method].to_numpy()
    assert normalized_mutual_info_score(planted, labels) > 0.9
    scores = out.figures["agreement"]["scores"][method]  # NMI and ARI against the labels, in the manifest
    assert scores["nmi"] > 0.9 and scores["ari"] > 0.9
    assert out.figures["agreement"]["labels_kept"] == 5
    sizes = np.bincount(labels)
    assert list(sizes) == sorted(sizes, reverse=True)  # cluster 0 is the largest


def test_k_chosen_by_silhouette_finds_the_planted_k(store: ArtifactStore) -> None:
    x, _ = blobs(80, 4, 12, spread=0.15, seed=2)
    out = build(cluster, ClusterConfig(methods=["kmeans"], k=None, k_choices=[2, 4, 8, 16]), store, "cluster",
                vectors=vectors_artifact(store, x))
    assert out.figures["k"] == 4
    assert out.figures["k_reason"].startswith("highest silhouette")
    assert set(out.figures["silhouette"]) == {"2", "4", "8", "16"}


@pytest.mark.parametrize("linkage", ["ward", "average", "complete"])
def test_stored_tree_cut_at_k_equals_clustering_directly_at_k(store: ArtifactStore, linkage: str) -> None:
    from sklearn.cluster import AgglomerativeClustering

    x = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)  # no planted structure: ties matter
    out = build(cluster, ClusterConfig(methods=["hac"], k=4, linkage=linkage), store, "cluster",
                vectors=vectors_artifact(store, x))
    unit = unit_rows(x)
    for k in (2, 4, 9, 25):
        direct = AgglomerativeClustering(n_clusters=k, linkage=linkage).fit_predict(unit)
        assert adjusted_rand_score(direct, cluster.cut(out, k=k)) == 1.0
    assert adjusted_rand_score(out.read_table()["hac"].to_numpy(), cluster.cut(out, k=4)) == 1.0
    heights = out.read_table(cluster.LINKAGE)["height"].to_numpy()
    between = (heights[-4] + heights[-3]) / 2  # above all but the last 3 merges: 4 clusters
    assert adjusted_rand_score(cluster.cut(out, height=between), cluster.cut(out, k=4)) == 1.0
    with pytest.raises(ValueError, match="either k or height"):
        cluster.cut(out)


def test_word_clusters_have_member_words_as_top_terms(store: ArtifactStore) -> None:
    x, planted = blobs(50, 3, 10, spread=0.2, seed=4)
    out = build(cluster, ClusterConfig(k=3, top_terms=5), store, "word_cluster",
                vectors=vectors_artifact(store, x, words=True))
    labels = out.read_table()
    assert labels.column_names[0] == "term"
    top = out.read_table(cluster.TOP_TERMS).to_pylist()
    assert {r["method"] for r in top} == {"kmeans", "hac", "spectral"}
    by_term = dict(zip(labels["term"].to_pylist(), labels["kmeans"].to_pylist(), strict=True))
    for row in (r for r in top if r["method"] == "kmeans"):
        assert len(row["terms"]) == 5
        assert {by_term[t] for t in row["terms"]} == {row["cluster"]}  # a class's top terms are its own words
        assert len({planted[int(t[1:])] for t in row["terms"]}) == 1   # ... and from one planted group
    centroids = out.read_table(cluster.CENTROIDS)
    assert centroids.num_rows == 9 and centroids["centroid"].type.list_size == 10


def test_laplacian_eigenmap_places_two_disconnected_groups_apart() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((150, 6))
    b = rng.standard_normal((150, 6)) + 40.0  # far enough that no 10-NN edge joins them
    graph = knn_graph(np.vstack([a, b]).astype(np.float32), 10)
    assert graph[:150, 150:].nnz == 0
    xy = laplacian_eigenmap(graph, 2)
    gaps = [max(xy[150:, d].min() - xy[:150, d].max(), xy[:150, d].min() - xy[150:, d].max()) for d in (0, 1)]
    assert max(gaps) > 0  # on some axis every point of one group lies beyond every point of the other
    d = int(np.argmax(gaps))
    spread = max(np.ptp(xy[:150, d]), np.ptp(xy[150:, d]))
    assert gaps[d] > spread / 2  # by a gap of more than half the wider group


def test_map_stage_writes_coordinates_per_method_with_stated_sample(store: ArtifactStore) -> None:
    x, planted = blobs(100, 3, 20, spread=0.2, seed=6)
    cfg = MapConfig(tsne_max_rows=300, lle_max_rows=120, laplacian_max_rows=300, pca_dim=10, perplexity=20,
                    threads=1)
    out = build(map_stage, cfg, store, "map", vectors=vectors_artifact(store, x))
    assert out.figures["mapped"] == {"tsne": 300, "lle": 120, "laplacian": 300}
    for method, n in out.figures["mapped"].items():
        table = map_stage.coordinates(out, method)
        assert table.column_names == ["doc_id", "x", "y"] and table.num_rows == n
        assert np.isfinite(table["x"].to_numpy()).all()
    tsne = map_stage.coordinates(out, "tsne")
    xy = np.column_stack([tsne["x"].to_numpy(), tsne["y"].to_numpy()])
    # the planted groups stay groups on the t-SNE map: k-means on the 2-D points finds them
    from lexiflow.spectral import kmeans

    assert normalized_mutual_info_score(planted, kmeans(xy, 3, 3, 25, 0)[0]) > 0.9


def test_word_map_keeps_the_most_frequent_words(store: ArtifactStore) -> None:
    x, _ = blobs(60, 2, 8, spread=0.3, seed=7)
    out = build(map_stage, MapConfig(methods=["laplacian"], laplacian_max_rows=50), store, "word_map",
                vectors=vectors_artifact(store, x, words=True))
    assert map_stage.coordinates(out, "laplacian")["term"].to_pylist() == [f"w{i}" for i in range(50)]


def test_lle_maps_repeated_rows_to_one_point() -> None:
    """Copies of a row (duplicate documents) made ARPACK's shift-invert fail on an exactly singular matrix."""
    x, planted = blobs(40, 3, 20, spread=0.2, seed=8)
    repeated = np.repeat(x, 3, axis=0)  # every row three times
    xy = map_stage.lle(repeated, MapConfig(pca_dim=10, neighbors=10, threads=1))
    assert xy.shape == (360, 2) and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy[0::3], xy[1::3])  # the copies share their point
    from lexiflow.spectral import kmeans

    assert normalized_mutual_info_score(planted, kmeans(xy[0::3], 3, 3, 25, 0)[0]) > 0.9
