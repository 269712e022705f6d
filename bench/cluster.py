"""t-SNE (openTSNE, as the map stage runs it) against scikit-learn's TSNE, and k-means (lexiflow.spectral,
faiss) against scikit-learn's KMeans, on the LSA document codes of a build.

Both t-SNEs get the same input (codes at unit length, PCA to 50 dimensions), perplexity 30, PCA
initialisation and 750 iterations (250 early exaggeration + 500; openTSNE's default, scikit-learn's set to
match). Trustworthiness (scikit-learn, 10 neighbours) needs all pairwise distances, so it is measured on the
same random 5,000 of the points for both. k-means: the same k, one seeding (k-means++) and 25 iterations
each, all rows; error = sum of squared distances to the nearest centroid, and NMI against the labels.

    .venv/bin/python bench/cluster.py --store /tmp/wt7-debian --sizes 20000,60000 --sklearn-sizes 20000 -k 53
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lexiflow.config import MapConfig
from lexiflow.spectral import kmeans, unit_rows
from lexiflow.store import ArtifactStore
from lexiflow.vectors import load_rows
from tasks.map import pca, tsne

TRUST_SAMPLE = 5000


def trust(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    from sklearn.manifold import trustworthiness

    pick = rng.choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False)
    return float(trustworthiness(x[pick], y[pick], n_neighbors=10))


def sklearn_tsne(x: np.ndarray, threads: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(2, perplexity=30, init="pca", max_iter=750, random_state=0, n_jobs=threads).fit_transform(x)


def bench_tsne(x: np.ndarray, sizes: list[int], sklearn_sizes: list[int], threads: int) -> None:
    rng = np.random.default_rng(0)
    cfg = MapConfig(threads=threads)
    print(f"t-SNE, {threads} thread(s), input PCA-50 of unit LSA codes")
    print(f"{'points':>7} {'method':<22} {'seconds':>8} {'trustworthiness':>16}")
    for n in sizes:
        sub = x[np.sort(rng.choice(len(x), min(n, len(x)), replace=False))]
        reduced = pca(sub, cfg.pca_dim)
        started = time.perf_counter()
        ours = tsne(reduced, cfg)  # PCA again is a no-op at 50 dimensions
        ours_s = time.perf_counter() - started
        ours_t = trust(reduced, ours, np.random.default_rng(1))
        print(f"{len(sub):>7} {'openTSNE (map stage)':<22} {ours_s:>8.1f} {ours_t:>16.4f}", flush=True)
        if n in sklearn_sizes:
            started = time.perf_counter()
            ref = sklearn_tsne(reduced, threads)
            ref_s = time.perf_counter() - started
            ref_t = trust(reduced, ref, np.random.default_rng(1))
            print(f"{len(sub):>7} {'scikit-learn TSNE':<22} {ref_s:>8.1f} {ref_t:>16.4f}")
            print(f"{'':>7} speed-up {ref_s / ours_s:.1f}x, trustworthiness {ours_t - ref_t:+.4f}", flush=True)
        else:
            print(f"{'':>7} scikit-learn TSNE not run at {len(sub)} points (--sklearn-sizes)", flush=True)


def bench_kmeans(x: np.ndarray, labels: list[str | None], k: int, threads: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    known = np.array([lab is not None for lab in labels])
    gold = np.array(labels, dtype=object)[known]

    def report(name: str, seconds: float, assigned: np.ndarray, centroids: np.ndarray) -> None:
        error = float(((x - centroids[assigned]) ** 2).sum())
        nmi = normalized_mutual_info_score(gold, assigned[known])
        print(f"{name:<28} {seconds:>8.2f} {error:>12.1f} {nmi:>8.4f}", flush=True)
        return None

    print(f"\nk-means, k={k}, {len(x)} rows x {x.shape[1]}, {threads} thread(s), 25 iterations, one seeding")
    print(f"{'method':<28} {'seconds':>8} {'error':>12} {'NMI':>8}")
    started = time.perf_counter()
    assigned, centroids = kmeans(x, k, 1, 25, 0)
    ours = time.perf_counter() - started
    report("faiss (k-means++ seeds)", ours, assigned, centroids)
    started = time.perf_counter()
    model = KMeans(k, init="k-means++", n_init=1, max_iter=25, tol=0.0, random_state=0).fit(x)
    ref = time.perf_counter() - started
    report("scikit-learn KMeans", ref, model.labels_.astype(np.int64), model.cluster_centers_)
    print(f"speed-up {ref / ours:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True, help="store root of a build with lsa codes")
    p.add_argument("--ref", default="default")
    p.add_argument("--sizes", default="20000,60000")
    p.add_argument("--sklearn-sizes", default="20000", help="sizes at which scikit-learn's TSNE also runs")
    p.add_argument("-k", type=int, default=53)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--skip-tsne", action="store_true")
    args = p.parse_args()
    arts = ArtifactStore(args.store).resolve(args.ref)
    rows = load_rows(arts["lsa"])
    x = unit_rows(rows.matrix)
    if not args.skip_tsne:
        bench_tsne(x, [int(s) for s in args.sizes.split(",")], [int(s) for s in args.sklearn_sizes.split(",") if s],
                   args.threads)
    found: dict[str, str | None] = {}
    for batch in arts["ingest"].iter_batches(["doc_id", "label"]):
        found.update(zip(batch.column("doc_id").to_pylist(), batch.column("label").to_pylist(), strict=True))
    bench_kmeans(x, [found.get(d) for d in rows.ids.to_pylist()], args.k, args.threads)


if __name__ == "__main__":
    main()
