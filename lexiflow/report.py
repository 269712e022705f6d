"""Build report: one self-contained HTML page (PNGs embedded as data URIs, inline CSS, no scripts, no fonts or
URLs from anywhere) plus the PNGs next to it, for a named build.

It reads only what the build published: manifests (figures, timings), the vocab, the corpus labels, the
cluster and map artifacts, and optionally a `retrieval.json` from `lexiflow eval retrieval`. A section whose
data the build lacks says "not in this build" instead of disappearing. No Prefect, no Dask.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lexiflow import figures
from lexiflow.store import Artifact, ArtifactStore, join

log = logging.getLogger(__name__)

REPORT_DIR = "reports"
PAGE = "index.html"
STAMP = "report.json"
TOP_TERMS_SHOWN = 30
SCRIPT_SAMPLE = 5000
MAX_CLUSTER_ROWS = 60
METHOD_ORDER = ("kmeans", "hac", "spectral")
SCRIPTS = {"Latin": r"[A-Za-z\u00C0-\u024F]", "Han": r"[\u4E00-\u9FFF]", "Cyrillic": r"[\u0400-\u04FF]",
           "Greek": r"[\u0370-\u03FF]", "Arabic": r"[\u0600-\u06FF]", "Kana/Hangul": r"[\u3040-\u30FF\uAC00-\uD7AF]"}


@dataclass
class Section:
    """One part of the page: its anchor, heading, HTML body and the PNGs it shows (file names)."""

    id: str
    title: str
    body: str = ""
    images: list[str] = field(default_factory=list)
    missing: str | None = None  # why the build has nothing for it


@dataclass
class Context:
    store: ArtifactStore
    ref: str
    body: dict[str, Any]
    artifacts: dict[str, Artifact]
    folder: str  # local folder the PNGs are drawn into
    map_words: int = 150
    retrieval: str | None = None

    def png(self, name: str) -> str:
        return os.path.join(self.folder, name)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else (f"{v:.4g}" if isinstance(v, float) else str(v))


# Sections ----------------------------------------------------------------------------------------------

def corpus_section(ctx: Context) -> Section:
    sec = Section("corpus", "Corpus")
    arts = ctx.artifacts
    if "ingest" not in arts or "vocab" not in arts:
        sec.missing = "no ingest or vocab artifact in this build"
        return sec
    ingest, vocab = arts["ingest"].figures, arts["vocab"].figures
    tokens = arts["tokens"].figures if "tokens" in arts else {}
    labels = _corpus_labels(arts["ingest"])
    known = [lab for lab in labels.values() if lab is not None]
    rows = [["documents", _num(ingest.get("docs", arts["ingest"].num_rows))],
            ["tokens", _num(tokens.get("tokens", vocab.get("num_tokens", "n/a")))],
            ["vocabulary (kept terms)", _num(arts["vocab"].num_rows)],
            ["distinct terms seen", _num(vocab.get("types_seen", "n/a"))],
            ["documents with a label", _num(len(known))], ["distinct labels", _num(len(set(known)))],
            ["empty documents", _num(tokens.get("empty_docs", "n/a"))], ["corpus", ctx.body.get("corpus", "")]]
    table = arts["vocab"].read_table(columns=["term", "count"]).sort_by([("count", "descending")])
    counts = table["count"].to_numpy()
    top = list(zip(table["term"].to_pylist()[:TOP_TERMS_SHOWN], counts[:TOP_TERMS_SHOWN].tolist(), strict=True))
    figures.zipf(ctx.png("corpus_zipf.png"), counts, top)
    scripts = _scripts(arts["ingest"])
    figures.bars(ctx.png("corpus_languages.png"), list(scripts), list(scripts.values()),
                 f"writing system of the first {sum(scripts.values())} documents (the language proxy the "
                 "tokenizer uses: jieba for Han text)", "documents")
    sec.images = ["corpus_zipf.png", "corpus_languages.png"]
    if known:
        names, n = np.unique(known, return_counts=True)
        order = np.argsort(-n)[:40]
        figures.bars(ctx.png("corpus_labels.png"), names[order].tolist(), n[order].tolist(),
                     f"documents per label (top {len(order)} of {len(names)})", "documents")
        sec.images.append("corpus_labels.png")
    sec.body = _table(["measure", "value"], rows)
    return sec


def _corpus_labels(ingest: Artifact) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for batch in ingest.iter_batches(["doc_id", "label"]):
        out.update(zip(batch.column("doc_id").to_pylist(), batch.column("label").to_pylist(), strict=True))
    return out


def _scripts(ingest: Artifact) -> dict[str, int]:
    """Documents by the writing system most of their letters are in (a sample of the first documents)."""
    patterns = {name: re.compile(p) for name, p in SCRIPTS.items()}
    counts: dict[str, int] = {}
    seen = 0
    for batch in ingest.iter_batches(["text"], batch_rows=SCRIPT_SAMPLE):
        for text in batch.column("text").to_pylist()[: SCRIPT_SAMPLE - seen]:
            hits = {name: len(p.findall(text or "")) for name, p in patterns.items()}
            best = max(hits, key=lambda k: hits[k])
            name = best if hits[best] else "none"
            counts[name] = counts.get(name, 0) + 1
        seen += batch.num_rows
        if seen >= SCRIPT_SAMPLE:
            break
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def timings_section(ctx: Context) -> Section:
    sec = Section("timings", "Stage timings and cache hits")
    started = ctx.body.get("started")
    rows, names, seconds, colors = [], [], [], []
    for role, artifact in ctx.artifacts.items():
        timing = artifact.manifest.get("timings", {})
        cached = started is not None and timing.get("finished", 0) < started
        state = "n/a" if started is None else ("cache hit" if cached else "built")
        rows.append([role, artifact.key, _num(artifact.num_rows), f"{timing.get('seconds', 0):.2f}", state])
        names.append(role)
        seconds.append(float(timing.get("seconds", 0)))
        colors.append("tab:grey" if cached else "tab:blue")
    if not rows:
        sec.missing = "the ref names no artifacts"
        return sec
    hits = sum(r[-1] == "cache hit" for r in rows)
    figures.bars(ctx.png("timings.png"), names, seconds,
                 f"seconds each stage took when built (grey: reused from the cache in this build, {hits} of "
                 f"{len(rows)})", "seconds", colors)
    sec.images = ["timings.png"]
    note = ("" if started is not None else "<p>This ref does not record when its build started, so cache hits "
            "cannot be told apart.</p>")
    sec.body = note + _table(["stage", "key", "rows", "seconds (when built)", "this build"], rows)
    return sec


def training_section(ctx: Context) -> Section:
    sec = Section("training", "Training loss curves")
    curves: dict[str, dict[str, list[float]]] = {}
    for stage in ("glove", "nnlm"):
        loss = ctx.artifacts[stage].figures.get("loss") if stage in ctx.artifacts else None
        if loss:
            curves[stage] = {"training loss": list(loss)}
    for role, artifact in ctx.artifacts.items():
        curve = artifact.figures.get("loss_curve") if role.startswith("codes_") else None
        if curve:
            curves[role] = {"train": [c["train_loss"] for c in curve], "held out": [c["holdout_loss"] for c in curve]}
    absent = [m for m in ("glove", "nnlm") if m not in curves]
    absent += [] if any(r.startswith("codes_") and r != "codes_lsa" for r in curves) else ["autoencoders"]
    if not curves:
        sec.missing = "no GloVe, nnlm or autoencoder in this build (word2vec records no loss)"
        return sec
    figures.series(ctx.png("training_loss.png"), curves)
    sec.images = ["training_loss.png"]
    sec.body = f"<p>Not in this build: {html.escape(', '.join(absent))}.</p>" if absent else ""
    return sec


def evaluation_section(ctx: Context) -> Section:
    from tasks.evaluate import COLUMNS

    sec = Section("evaluation", "Embedding evaluation")
    rows = [a.figures for r, a in ctx.artifacts.items() if r.startswith("eval_")]
    if not rows:
        sec.missing = "no eval_* stage in this build (set embeddings.evaluate: true)"
        return sec
    body = [["n/a" if r.get(k) is None else fmt.format(r[k]) for k, _, fmt in COLUMNS] for r in rows]
    sec.body = _table([title for _, title, _ in COLUMNS], body)
    return sec


def retrieval_section(ctx: Context) -> Section:
    sec = Section("retrieval", "Retrieval")
    if not ctx.retrieval or not os.path.exists(ctx.retrieval):
        sec.missing = ("no retrieval.json given (run `lexiflow eval retrieval`, then set explore.retrieval or pass "
                       "--retrieval)" if not ctx.retrieval else f"{ctx.retrieval} does not exist")
        return sec
    with open(ctx.retrieval, encoding="utf-8") as fh:
        data = json.load(fh)
    metrics = ["P@1", "P@10", "P@100", "MAP", "macro MAP"]
    rows = [[name, *(_num(r.get(m)) for m in metrics)] for name, r in data["results"].items()]
    figures.precision_recall(ctx.png("retrieval_pr.png"), data["recall_levels"],
                             {n: r["pr_curve"] for n, r in data["results"].items()}, "precision-recall, same label")
    sec.images = ["retrieval_pr.png"]
    sec.body = (f"<p>{data.get('queries')} queries against {data.get('database')} documents; relevant = same "
                f"label.</p>" + _table(["method", *metrics], rows))
    return sec


def _by_id(table: Any, id_column: str, columns: list[str]) -> dict[str, dict[str, Any]]:
    ids = table[id_column].to_pylist()
    return {c: dict(zip(ids, table[c].to_pylist(), strict=True)) for c in columns}


def maps_section(ctx: Context) -> Section:
    from tasks.map import coordinates

    sec = Section("maps", "Document maps")
    if "map" not in ctx.artifacts:
        sec.missing = "no map stage in this build (explore.stages)"
        return sec
    artifact = ctx.artifacts["map"]
    labels = _corpus_labels(ctx.artifacts["ingest"]) if "ingest" in ctx.artifacts else {}
    clusters: dict[str, dict[str, Any]] = {}
    if "cluster" in ctx.artifacts:
        table = ctx.artifacts["cluster"].read_table()
        methods = [c for c in ("kmeans", "spectral", "hac") if c in table.column_names]
        clusters = _by_id(table, "doc_id", methods[:1])
    notes = []
    for method, n in artifact.figures.get("mapped", {}).items():
        xy_table = coordinates(artifact, method)
        ids = xy_table["doc_id"].to_pylist()
        xy = np.column_stack([xy_table["x"].to_numpy(), xy_table["y"].to_numpy()])
        panels = [(f"{method}: {n} documents by label", xy, np.array([labels.get(d) for d in ids], dtype=object))]
        for cmethod, by in clusters.items():
            panels.append((f"{method}: by {cmethod} cluster", xy, np.array([by.get(d) for d in ids], dtype=object)))
        name = f"map_{method}.png"
        figures.categorical_maps(ctx.png(name), panels)
        sec.images.append(name)
        notes.append(f"{method}: {n} of {artifact.num_rows} documents ({artifact.figures.get('sample', '')})")
    sec.body = ("<p>" + html.escape("; ".join(notes))
                + ". Colours: the 10 largest labels / clusters (each panel its own); grey: the rest. Axes span the "
                "central 99% of points.</p>")
    return sec


def words_section(ctx: Context) -> Section:
    from tasks.map import coordinates

    sec = Section("words", "Map of the most frequent words")
    if "word_map" not in ctx.artifacts:
        sec.missing = "no word_map stage in this build (explore.stages)"
        return sec
    artifact = ctx.artifacts["word_map"]
    mapped = artifact.figures.get("mapped", {})
    method = "tsne" if "tsne" in mapped else next(iter(mapped), None)
    if method is None:
        sec.missing = "the word_map artifact has no coordinates"
        return sec
    table = coordinates(artifact, method)
    xy = np.column_stack([table["x"].to_numpy(), table["y"].to_numpy()])
    figures.word_map(ctx.png("word_map.png"), xy, table["term"].to_pylist(), ctx.map_words,
                     f"{method} map of the {len(xy)} most frequent words; the {min(ctx.map_words, len(xy))} most "
                     "frequent labelled")
    sec.images = ["word_map.png"]
    return sec


def _cluster_tables(artifact: Artifact, labels: dict[str, str | None]) -> str:
    from tasks.cluster import TOP_TERMS

    figs = artifact.figures
    parts = [f"<p>{figs.get('kind')}: {_num(figs.get('rows'))} rows, k = {figs.get('k')} "
             f"({html.escape(str(figs.get('k_reason')))}).</p>"]
    methods = [m for m in METHOD_ORDER if m in figs.get("methods", {})]  # manifests store keys sorted
    parts.append(_table(["method", "how", "seconds"],
                        [[m, figs["methods"][m], figs.get("seconds", {}).get(m, "")] for m in methods]))
    scores = figs.get("agreement", {}).get("scores")
    if scores:
        a = figs["agreement"]
        parts.append(f"<p>Against the document labels ({a['labels_kept']} labels with at least "
                     f"{a['min_label_docs']} documents, {_num(a['docs_scored'])} documents):</p>")
        parts.append(_table(["method", "NMI", "adjusted Rand index"],
                            [[m, scores[m]["nmi"], scores[m]["ari"]] for m in methods if m in scores]))
    top = artifact.read_table(TOP_TERMS).to_pylist()
    dominant = _dominant_labels(artifact, labels) if labels and figs.get("kind") == "documents" else {}
    for i, method in enumerate(methods):
        rows = [[r["cluster"], r["size"], " ".join(r["terms"]), dominant.get((method, r["cluster"]), "")]
                for r in top if r["method"] == method][:MAX_CLUSTER_ROWS]
        head = ["cluster", "size", "top terms"] + (["largest label (share)"] if dominant else [])
        rows = [r if dominant else r[:3] for r in rows]
        parts.append(f"<details{' open' if i == 0 else ''}><summary>{html.escape(method)} clusters</summary>"
                     f"{_table(head, rows)}</details>")
    return "".join(parts)


def _dominant_labels(artifact: Artifact, labels: dict[str, str | None]) -> dict[tuple[str, int], str]:
    table = artifact.read_table()
    ids = table["doc_id"].to_pylist()
    gold = np.array([str(labels.get(d)) for d in ids], dtype=object)
    out = {}
    for method in artifact.figures.get("methods", {}):
        y = table[method].to_numpy()
        for c in np.unique(y):
            names, counts = np.unique(gold[y == c], return_counts=True)
            j = int(np.argmax(counts))
            out[(method, int(c))] = f"{names[j]} ({counts[j] / counts.sum():.0%})"
    return out


def clusters_section(ctx: Context) -> Section:
    sec = Section("clusters", "Clusters")
    found = [s for s in ("cluster", "word_cluster") if s in ctx.artifacts]
    if not found:
        sec.missing = "no cluster or word_cluster stage in this build (explore.stages)"
        return sec
    labels = _corpus_labels(ctx.artifacts["ingest"]) if "ingest" in ctx.artifacts else {}
    sec.body = "".join(f"<h3>{'Document clusters' if s == 'cluster' else 'Word classes'}</h3>"
                       + _cluster_tables(ctx.artifacts[s], labels) for s in found)
    return sec


SECTIONS: list[Callable[[Context], Section]] = [corpus_section, timings_section, training_section, evaluation_section,
                                                retrieval_section, maps_section, words_section, clusters_section]
SECTION_IDS = ["corpus", "timings", "training", "evaluation", "retrieval", "maps", "words", "clusters"]

STYLE = """body{font-family:sans-serif;max-width:75em;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;vertical-align:top}th{background:#f2f2f2}img{max-width:100%;display:block;margin:.6em 0}
.missing{color:#a33;font-style:italic}nav a{margin-right:1em}summary{cursor:pointer;font-weight:bold}"""


def render(sections: list[Section], folder: str, title: str) -> str:
    """The page: every PNG read back and embedded as a data URI."""
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = []
    for s in sections:
        inner = (f'<p class="missing">Not in this build: {html.escape(s.missing)}.</p>' if s.missing else s.body)
        for name in s.images:
            with open(os.path.join(folder, name), "rb") as fh:
                data = base64.b64encode(fh.read()).decode("ascii")
            inner += f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>{inner}</section>')
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>"
            + "".join(parts) + "</body></html>")


def report_folder(store: ArtifactStore, ref: str) -> str:
    return join(store.root, REPORT_DIR, ref)


def write_report(store: ArtifactStore, ref: str, out: str | None = None, *, map_words: int = 150,
                 retrieval: str | None = None) -> str:
    """Draw every section of build `ref` and write index.html plus the PNGs into `out`
    (default ROOT/reports/<ref>/); returns the page's path."""
    import fsspec

    body = store.read_ref(ref)
    out = out or report_folder(store, ref)
    with tempfile.TemporaryDirectory(prefix="lexiflow-report-") as folder:
        ctx = Context(store, ref, body, store.resolve(ref), folder, map_words, retrieval)
        sections = [make(ctx) for make in SECTIONS]
        page = render(sections, folder, f"lexiflow build {ref!r} ({body.get('created', '')})")
        fs, path = fsspec.core.url_to_fs(out)
        fs.makedirs(path, exist_ok=True)
        for s in sections:
            for name in s.images:
                fs.put_file(os.path.join(folder, name), join(path, name))
        with fs.open(join(path, PAGE), "w", encoding="utf-8") as fh:
            fh.write(page)
        with fs.open(join(path, STAMP), "w", encoding="utf-8") as fh:  # which build the page shows
            json.dump({"ref": ref, "created": body.get("created"), "artifacts": body.get("artifacts", {})}, fh)
    log.info("report of %r: %s (%d sections, %d not in this build)", ref, join(out, PAGE), len(sections),
             sum(s.missing is not None for s in sections))
    return join(out, PAGE)


def current_page(store: ArtifactStore, ref: str, artifacts: dict[str, str]) -> str:
    """The report page of the build whose artifacts are `artifacts`: the stored one when it shows exactly that
    build, else drawn now (a retrain moved the ref, or the build ran with explore.report false)."""
    import fsspec

    folder = report_folder(store, ref)
    fs, path = fsspec.core.url_to_fs(folder)
    try:
        with fs.open(join(path, STAMP), "r", encoding="utf-8") as fh:
            fresh = json.load(fh).get("artifacts") == artifacts
    except (FileNotFoundError, json.JSONDecodeError):
        fresh = False
    if not fresh:
        write_report(store, ref)
    with fs.open(join(path, PAGE), "r", encoding="utf-8") as fh:
        return str(fh.read())
