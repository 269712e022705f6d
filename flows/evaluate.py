"""`lexiflow eval retrieval`: how well each encoder's codes retrieve same-label documents.

Labelled documents (labels with at least `min_label_docs` documents) are split, stratified by label and
seeded, into held-out queries and a database. Each (encoder, code size) is built through the one cached
executor, so a rerun only computes what is missing; the encoders never see the labels. The full TF-IDF
cosine is the no-compression reference. Writes a table (Markdown + JSON), a precision-recall PNG, code
maps and loss curves into the report folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

from flows.build import GRAPH, needed
from flows.cluster import LazyCluster
from flows.executor import run_stage
from lexiflow import figures
from lexiflow.config import Config
from lexiflow.retrieval import RECALL_LEVELS, RetrievalResult, cosine_of, evaluate
from lexiflow.sparse import to_csr
from lexiflow.store import Artifact, ArtifactStore, artifact_key
from tasks import ingest
from tasks.encoders.base import TrainingError

log = logging.getLogger("lexiflow.eval")

SIZES = (2, 10, 32, 128)
MAP_POINTS = 5000


@dataclass
class Split:
    """Positions (in corpus order) of the query and database documents, and their labels."""

    doc_ids: list[str]
    queries: np.ndarray
    database: np.ndarray
    labels: np.ndarray
    kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def split_labelled(corpus: Artifact, tfidf: Artifact, min_label_docs: int, n_queries: int, seed: int) -> Split:
    """Stratified query/database split of the non-empty documents whose label has enough documents."""
    meta = corpus.read_table(columns=["doc_id", "label"])
    lengths = np.concatenate([pc.list_value_length(b.column("term_ids")).to_numpy(zero_copy_only=False)
                              for b in tfidf.iter_batches(["term_ids"])])
    labels = np.array(meta["label"].to_pylist(), dtype=object)
    if len(labels) != len(lengths):
        raise ValueError(f"{corpus.url}: {len(labels)} documents but {tfidf.url} has {len(lengths)} rows")
    has = np.array([lab is not None for lab in labels]) & (lengths > 0)
    names, counts = np.unique(labels[has].astype(str), return_counts=True)
    kept = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c >= min_label_docs}
    dropped = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c < min_label_docs}
    if len(kept) < 2:
        raise ValueError(f"eval retrieval: need at least 2 labels with >= {min_label_docs} documents, have {kept}")
    usable = np.flatnonzero(has & np.isin(labels.astype(str), list(kept)))
    rng = np.random.default_rng(seed)
    fraction = min(n_queries / len(usable), 0.5)
    queries = []
    for name in kept:
        members = usable[labels[usable].astype(str) == name]
        take = max(1, round(len(members) * fraction))
        queries.append(rng.choice(members, size=take, replace=False))
    q = np.sort(np.concatenate(queries))
    db = np.setdiff1d(usable, q)
    return Split(meta["doc_id"].to_pylist(), q, db, labels.astype(str), kept, dropped)


def read_codes(codes: Artifact) -> np.ndarray:
    parts = [b.column("code") for b in codes.iter_batches(["code"])]
    dim = parts[0].type.list_size
    return np.concatenate([p.flatten().to_numpy().reshape(-1, dim) for p in parts]).astype(np.float32)


def tfidf_similarity(tfidf: Artifact, n_terms: int, split: Split) -> Any:
    rows = [to_csr(b, n_terms) for b in tfidf.iter_batches(["term_ids", "values"])]
    import scipy.sparse as sp

    matrix = sp.vstack(rows, format="csr")
    q, db_t = matrix[split.queries], matrix[split.database].T.tocsc()
    return lambda part: (q[part] @ db_t).toarray()


def build_upstream(cfg: Config, store: ArtifactStore, cluster: LazyCluster) -> dict[str, Artifact]:
    built: dict[str, Artifact] = {}
    source = ingest.discover(cfg.corpus)
    for spec in needed("tfidf"):
        inputs = {arg: built[up] for arg, up in spec.inputs.items()}
        built[spec.name] = run_stage(spec, cfg, store, inputs, source=source if spec.name == "ingest" else None,
                                     cluster=cluster)
    return built


def build_codes(cfg: Config, store: ArtifactStore, upstream: dict[str, Artifact], kind: str, size: int,
                cached_only: bool = False) -> Artifact | None:
    """The codes artifact of one encoder at one code size: built if missing, or None with `cached_only`."""
    spec = next(s for s in GRAPH if s.name == f"codes_{kind}")
    sized = cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update={"code_size": size})})
    inputs = {"tfidf": upstream["tfidf"], "vocab": upstream["vocab"]}
    if cached_only:
        key = artifact_key(spec.name, spec.module.VERSION, spec.config_json(sized),
                           {name: a.key for name, a in inputs.items()})
        return store.get(spec.name, key)
    return run_stage(spec, sized, store, inputs)


def retrieval(cfg: Config, encoders: list[str], sizes: list[int], report: str, n_queries: int = 2000,
              min_label_docs: int = 50, seed: int = 0, cached_only: bool = False) -> dict[str, Any]:
    """Build what is missing (or, with `cached_only`, skip it and say so), measure every (encoder, size) and
    TF-IDF cosine, write the report folder."""
    os.makedirs(report, exist_ok=True)
    store = ArtifactStore(cfg.store.root)
    cluster = LazyCluster(cfg.dask)
    try:
        upstream = build_upstream(cfg, store, cluster)
    finally:
        cluster.close()
    split = split_labelled(upstream["ingest"], upstream["tfidf"], min_label_docs, n_queries, seed)
    log.info("eval: %d labels kept (%d dropped), %d queries, %d database documents",
             len(split.kept), len(split.dropped), len(split.queries), len(split.database))
    q_labels, db_labels = split.labels[split.queries], split.labels[split.database]
    results: dict[str, RetrievalResult] = {}
    trained: dict[str, dict[str, Any]] = {}
    codes_by_name: dict[str, np.ndarray] = {}
    missing: list[str] = []
    failed: dict[str, str] = {}
    started = time.perf_counter()
    results["tfidf cosine"] = evaluate(tfidf_similarity(upstream["tfidf"], upstream["vocab"].num_rows, split),
                                       q_labels, db_labels)
    for kind in encoders:
        for size in sizes:
            name = f"{kind}-{size}"
            try:
                artifact = build_codes(cfg, store, upstream, kind, size, cached_only)
            except TrainingError as exc:  # a collapsed or diverged encoder is a result to report, not a crash
                log.warning("eval %s: training failed: %s", name, exc)
                failed[name] = str(exc)
                continue
            if artifact is None:
                log.warning("eval %s: not built yet, left out (--cached-only)", name)
                missing.append(name)
                continue
            codes = read_codes(artifact)
            codes_by_name[name] = codes
            results[name] = evaluate(cosine_of(codes[split.queries], codes[split.database]), q_labels, db_labels)
            f = artifact.figures
            trained[name] = {"key": artifact.key, "seconds": artifact.manifest.get("timings", {}).get("seconds"),
                             "train_seconds": f.get("train_seconds"), "epochs": f.get("epochs"),
                             "best_epoch": f.get("best_epoch"), "train_samples_per_s": f.get("train_samples_per_s"),
                             "encode_docs_per_s": f.get("encode_docs_per_s"), "loss_curve": f.get("loss_curve")}
            log.info("eval %s: %s", name, results[name].row())
    summary = write_report(report, cfg, split, results, trained, codes_by_name, failed)
    summary["eval_seconds"] = round(time.perf_counter() - started, 1)
    summary["missing"] = missing
    summary["failed"] = failed
    return summary


def table_markdown(results: dict[str, RetrievalResult], trained: dict[str, dict[str, Any]]) -> str:
    lines = ["| method | P@1 | P@10 | P@100 | MAP | macro MAP | build s | epochs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        row = r.row()
        t = trained.get(name, {})
        secs = "" if t.get("seconds") is None else f"{t['seconds']:.1f}"
        lines.append(f"| {name} | {row['P@1']:.4f} | {row['P@10']:.4f} | {row['P@100']:.4f} | {row['MAP']:.4f} "
                     f"| {row['macro MAP']:.4f} | {secs} | {t.get('epochs') or ''} |")
    return "\n".join(lines)


def write_report(report: str, cfg: Config, split: Split, results: dict[str, RetrievalResult],
                 trained: dict[str, dict[str, Any]], codes_by_name: dict[str, np.ndarray],
                 failed: dict[str, str]) -> dict[str, Any]:
    table = table_markdown(results, trained)
    if failed:
        table += "\n\nfailed to train (no codes published):\n" + "\n".join(f"- {n}: {e}" for n, e in failed.items())
    with open(os.path.join(report, "retrieval.md"), "w", encoding="utf-8") as fh:
        fh.write(f"# Retrieval: {cfg.corpus.path}\n\n{len(split.queries)} queries, {len(split.database)} database "
                 f"documents; labels kept ({len(split.kept)}): {', '.join(sorted(split.kept))}\n\n"
                 f"labels dropped (< min docs): {', '.join(sorted(split.dropped)) or 'none'}\n\n{table}\n")
    figures.precision_recall(os.path.join(report, "precision_recall.png"), RECALL_LEVELS,
                             {n: r.pr_curve for n, r in results.items()}, f"retrieval on {cfg.corpus.path}")
    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(split.database, size=min(MAP_POINTS, len(split.database)), replace=False))
    maps = []
    for kind in {name.rsplit("-", 1)[0] for name in codes_by_name}:
        sizes = sorted(int(n.rsplit("-", 1)[1]) for n in codes_by_name if n.rsplit("-", 1)[0] == kind)
        name = f"{kind}-{sizes[0]}"
        path = os.path.join(report, f"codemap_{kind}.png")
        figures.code_map(path, codes_by_name[name][shown], split.labels[shown], f"{name} codes by label")
        maps.append(path)
    curves = {n: t["loss_curve"] for n, t in trained.items() if t.get("loss_curve")}
    if curves:
        figures.loss_curves(os.path.join(report, "loss_curves.png"), curves)
    summary = {
        "corpus": cfg.corpus.path, "queries": len(split.queries), "database": len(split.database),
        "labels_kept": split.kept, "labels_dropped": split.dropped,
        "results": {n: {**r.row(), "pr_curve": [round(p, 4) for p in r.pr_curve]} for n, r in results.items()},
        "recall_levels": list(RECALL_LEVELS),
        "training": {n: {k: v for k, v in t.items() if k != "loss_curve"} for n, t in trained.items()},
        "code_maps": maps,
    }
    with open(os.path.join(report, "retrieval.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    return {**summary, "table": table}


