"""`lexiflow` command line: run a build, query it, list artifacts.

`query`, `serve` and `artifacts` never import Prefect or Dask, so they start in well under a second; only `run`
loads the flow machinery.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lexiflow.config import DEFAULT_CONFIG, Config, ConfigError, load_config

if TYPE_CHECKING:
    from lexiflow.query import QueryEngine
    from lexiflow.store import Artifact

log = logging.getLogger("lexiflow")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    for name in ("lexiflow", "tasks", "flows"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        logger.propagate = False


def _config_files(paths: Sequence[str]) -> list[str]:
    if paths:
        return list(paths)
    return [str(DEFAULT_CONFIG)] if DEFAULT_CONFIG.exists() else []


def _overrides(args: argparse.Namespace) -> list[str]:
    """`--set` values plus the shorthand flags, as `section.key=value` overrides."""
    overrides = list(args.set or [])
    if getattr(args, "store", None):
        overrides.append(f"store.root={json.dumps(args.store)}")
    if getattr(args, "ref", None):
        overrides.append(f"store.ref={json.dumps(args.ref)}")
    return overrides


def _load(args: argparse.Namespace) -> Config:
    overrides = _overrides(args)
    if getattr(args, "corpus", None):
        overrides.append(f"corpus.path={json.dumps(args.corpus)}")
    return load_config(_config_files(getattr(args, "config", [])), overrides)


def cmd_run(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network here, nor for many users
    cfg = _load(args)  # validate before paying for Prefect's start-up
    from flows.build import build_flow

    built = build_flow(config=_config_files(args.config), overrides=_overrides(args), only=args.only,
                       corpus=args.corpus)
    print(f"built {len(built)} artifact(s) under {cfg.store.root}" + ("" if args.only else f", ref {cfg.store.ref!r}"))
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    root = _load(args).store.root
    from flows.retrain import retrain_flow

    overrides = list(args.set or [])
    if args.ref:
        overrides.append(f"store.ref={json.dumps(args.ref)}")
    figures = retrain_flow(corpus=args.corpus, base=args.base, store_root=root, overrides=overrides)
    if not figures["updated"]:
        print(figures["message"])
    else:
        print(f"retrained {args.base!r}: {figures['new_docs']} new, {figures['changed_docs']} changed, "
              f"{figures['unchanged_docs']} already known document(s)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from lexiflow.query import QueryEngine
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    if not 1 <= args.k <= cfg.query.max_k:
        raise ValueError(f"-k {args.k}: must be between 1 and query.max_k={cfg.query.max_k}")
    engine = QueryEngine(ArtifactStore(cfg.store.root), cfg.store.ref, cfg.query)
    if args.kind == "cluster":
        return query_cluster(engine, args)
    if args.kind == "docs":
        hits = engine.docs(" ".join(args.text), args.k, encoder=args.encoder)
        for h in hits:
            if args.json:
                print(json.dumps({"rank": h.rank, "doc_id": h.doc_id, "title": h.title, "snippet": h.snippet,
                                  "label": h.label, "score": round(h.score, 6)}, ensure_ascii=False))
            else:
                print(f"{h.rank:3d}  {h.score:.4f}  {h.doc_id:<32}  {h.title or ''}")
    else:
        if args.kind == "analogy":
            if len(args.text) != 3:
                raise ValueError(f"query analogy takes three words A B C (A is to B as C is to ?), got {args.text}")
            words = engine.analogy(*args.text, k=args.k)
        else:
            words = engine.similar(" ".join(args.text), args.k)
        for w in words:
            if args.json:
                print(json.dumps({"rank": w.rank, "term": w.term, "score": round(w.score, 6)}, ensure_ascii=False))
            else:
                print(f"{w.rank:3d}  {w.score:.4f}  {w.term}")
    return 0


def query_cluster(engine: QueryEngine, args: argparse.Namespace) -> int:
    """`lexiflow query cluster ID [--method M] [--words]`: a cluster's top terms and example documents."""
    if len(args.text) != 1 or not args.text[0].lstrip("-").isdigit():
        raise ValueError(f"query cluster takes one cluster id (an integer), got {' '.join(args.text)!r}")
    info = engine.cluster(int(args.text[0]), args.method, words=args.words, k=args.k)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    print(f"{info['stage']} {info['method']} cluster {info['cluster']} of {info['k']}: {info['size']} "
          f"{'words' if args.words else 'documents'}")
    print("top terms: " + " ".join(info["top_terms"]))
    for i, ex in enumerate(info["examples"], 1):
        label = f"  [{ex['label']}]" if ex.get("label") else ""
        print(f"{i:3d}  {ex['score']:.4f}  {ex['id']:<32}  {ex.get('title') or ''}{label}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from lexiflow.report import write_report
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    ref = args.name or cfg.store.ref
    page = write_report(ArtifactStore(cfg.store.root), ref, args.out, map_words=cfg.explore.map_words,
                        retrieval=args.retrieval or cfg.explore.retrieval)
    print(page)
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(f"--{what} {text!r}: expected a comma-separated list of {', '.join(allowed)}")
    return names


def eval_retrieval(args: argparse.Namespace) -> int:
    """`lexiflow eval retrieval`: every encoder at every code size against same-label documents."""
    from lexiflow.config import ENCODERS

    cfg = _load(args)
    encoders = _names(args.encoders, ENCODERS, "encoders")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise ValueError(f"--sizes {args.sizes!r}: expected comma-separated integers, e.g. 2,10,32,128") from None
    if any(s <= 0 for s in sizes):
        raise ValueError(f"--sizes {args.sizes!r}: code sizes must be positive")
    from flows.evaluate import retrieval

    summary = retrieval(cfg, encoders, sizes, args.report, n_queries=args.queries,
                        min_label_docs=args.min_label_docs, seed=args.seed, cached_only=args.cached_only)
    print(f"labels kept ({len(summary['labels_kept'])}): {', '.join(sorted(summary['labels_kept']))}")
    print(f"labels dropped: {', '.join(sorted(summary['labels_dropped'])) or 'none'}")
    print(f"{summary['queries']} queries, {summary['database']} database documents")
    print(summary["table"])
    if summary["missing"]:
        print(f"not built yet, left out: {', '.join(summary['missing'])}")
    print(f"report: {args.report}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from lexiflow.service import serve

    cfg = _load(args)
    serve(cfg.store.root, cfg.store.ref, cfg.query, host=args.host, port=args.port, workers=args.workers)
    return 0


def generate_vae(args: argparse.Namespace) -> int:
    """`lexiflow generate --encoder vae`: codes sampled from the prior, decoded to their top words."""
    from lexiflow.query import QueryEngine
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    engine = QueryEngine(ArtifactStore(cfg.store.root), cfg.store.ref, cfg.query)
    for i, words in enumerate(engine.generate(args.encoder, args.samples, args.words, args.seed)):
        print(f"{i + 1:3d}  " + " ".join(f"{w}({p:.3f})" for w, p in words))
    return 0


def cmd_artifacts(args: argparse.Namespace) -> int:
    from lexiflow import inventory
    from lexiflow.store import ArtifactStore

    store = ArtifactStore(_load(args).store.root)
    if args.action == "show":
        if not args.key:
            raise ValueError("artifacts show KEY: give an artifact key (a prefix is enough), or stage/key")
        artifact = inventory.find(store, args.key)
        print(json.dumps({"url": artifact.url, **artifact.manifest}, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    if args.action == "gc":
        result = inventory.gc(store, args.keep_refs, args.min_age, args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        for e in result.removed:
            print(f"{verb} {e.artifact.stage}/{e.artifact.key} ({_human(e.bytes)})")
        for path in result.temp_removed:
            print(f"{verb} temp folder {path}")
        total = sum(e.bytes for e in result.removed)
        print(f"{verb} {len(result.removed)} artifact(s), {_human(total)}; kept {result.kept}")
        return 0
    rows = inventory.entries(store)
    if args.json:
        for e in rows:
            a = e.artifact
            print(json.dumps({"stage": a.stage, "key": a.key, "rows": a.num_rows, "bytes": e.bytes,
                              "seconds": a.manifest.get("timings", {}).get("seconds"), "refs": list(e.refs)}))
        return 0
    if not rows:
        print(f"no artifacts under {store.root}")
        return 0
    print(f"{'stage':<12} {'key':<22} {'rows':>10} {'size':>10} {'seconds':>9}  refs")
    for e in rows:
        a = e.artifact
        seconds = a.manifest.get("timings", {}).get("seconds", 0.0)
        print(f"{a.stage:<12} {a.key:<22} {a.num_rows:>10} {_human(e.bytes):>10} {seconds:>9.2f}  {','.join(e.refs)}")
    return 0


VECTOR_STAGES = ("word2vec", "word2vec_cbow", "glove", "nnlm")


def cmd_eval(args: argparse.Namespace) -> int:
    """One table comparing every word-vector model of a build (eval stages' figures, else computed now)."""
    if args.what == "retrieval":
        return eval_retrieval(args)
    from lexiflow.store import ArtifactStore
    from lexiflow.vectors import load_vectors
    from tasks.evaluate import evaluate, table

    cfg = _load(args)
    artifacts = ArtifactStore(cfg.store.root).resolve(cfg.store.ref)
    rows = []
    for stage in VECTOR_STAGES:
        if stage not in artifacts:
            continue
        done = artifacts.get(f"eval_{stage}")
        figures = dict(done.figures) if done is not None else evaluate(load_vectors(artifacts[stage]), cfg.evaluate)
        rows.append({**figures, "model": stage})
    if not rows:
        raise ValueError(f"build {cfg.store.ref!r} has no word vectors ({', '.join(VECTOR_STAGES)})")
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(table(rows))
    return 0


def _vectors_of(cfg: Config, stage: str) -> tuple[Artifact, dict[str, Artifact]]:
    from lexiflow.store import ArtifactStore

    artifacts = ArtifactStore(cfg.store.root).resolve(cfg.store.ref)
    if stage not in artifacts:
        have = [s for s in VECTOR_STAGES if s in artifacts]
        raise ValueError(f"build {cfg.store.ref!r} has no {stage} artifact; it has {', '.join(have) or 'no vectors'}")
    return artifacts[stage], artifacts


def cmd_export(args: argparse.Namespace) -> int:
    from lexiflow.export import export
    from lexiflow.vectors import load_vectors

    artifact, _ = _vectors_of(_load(args), args.model)
    for path in export(load_vectors(artifact), args.format, args.path):
        print(path)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Continue a prompt with the next-word model, or with `--encoder vae` decode codes from its prior."""
    if args.encoder:
        return generate_vae(args)
    if not args.prompt:
        raise ValueError("generate: give a prompt for the next-word model, or --encoder vae to sample codes")
    from lexiflow.config import TokenizeConfig
    from tasks.nnlm import Generator
    from tasks.tokens import load_stopwords, tokenize

    artifact, artifacts = _vectors_of(_load(args), "nnlm")
    text = " ".join(args.prompt)
    words = text.split()
    if "tokens" in artifacts:
        tokens_cfg = TokenizeConfig.model_validate(artifacts["tokens"].manifest["config"])
        words = tokenize([text], tokens_cfg, load_stopwords(tokens_cfg))[0].as_py()
    out = Generator(artifact).generate(words, args.n, args.temperature, args.top_k, args.seed)
    print(" ".join([*words, *out]))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--store", help="artifact store root (same as --set store.root=DIR)")
    p.add_argument("-v", "--verbose", action="store_true")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lexiflow", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="build every artifact (or --only one stage and what it needs)")
    run.add_argument("config", nargs="*", help=f"config files, overlaid in order (default {DEFAULT_CONFIG})")
    run.add_argument("--corpus", help="corpus file, folder or fsspec URL (same as --set corpus.path=PATH)")
    run.add_argument("--only", metavar="STAGE", help="build this stage and the stages it needs")
    _common(run)
    run.set_defaults(func=cmd_run)

    retrain = sub.add_parser("retrain", help="add new documents to a build, continuing its models")
    retrain.add_argument("--corpus", required=True, help="the new documents: file, folder or fsspec URL")
    retrain.add_argument("--base", default="default", help="the build to start from (a ref name, default 'default')")
    retrain.add_argument("--ref", help="name of the retrained build (default: the base's name, moved)")
    retrain.add_argument("--config", action="append", default=[], help="config file for store.root")
    _common(retrain)
    retrain.set_defaults(func=cmd_retrain)

    query = sub.add_parser("query", help="query a build: docs TEXT | similar WORD | analogy A B C | cluster ID")
    query.add_argument("kind", choices=["docs", "similar", "analogy", "cluster"])
    query.add_argument("text", nargs="+")
    query.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    query.add_argument("--json", action="store_true", help="one JSON object per line")
    query.add_argument("--ref", help="build name (default: store.ref, 'default')")
    query.add_argument("--encoder", help="docs: query this encoder's codes (lsa, autoencoder, denoising, vae)")
    query.add_argument("--method", default="kmeans", choices=["kmeans", "hac", "spectral"],
                       help="cluster: which clustering (default kmeans)")
    query.add_argument("--words", action="store_true", help="cluster: a word class (word_cluster) instead")
    query.add_argument("--config", action="append", default=[], help="config file (default conf/default.yaml)")
    _common(query)
    query.set_defaults(func=cmd_query)

    rep = sub.add_parser("report", help="write the build report: one self-contained HTML page plus its PNGs")
    rep.add_argument("name", nargs="?", metavar="REF", help="build name (default: store.ref, 'default')")
    rep.add_argument("--out", help="folder for index.html and the PNGs (default ROOT/reports/<ref>/)")
    rep.add_argument("--retrieval", help="a retrieval.json from `lexiflow eval retrieval` to include")
    rep.add_argument("--config", action="append", default=[], help="config file (default conf/default.yaml)")
    _common(rep)
    rep.set_defaults(func=cmd_report)

    srv = sub.add_parser("serve", help="HTTP query service and search page for a build (reloads a moved ref)")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=1, help="worker processes, each with the build loaded (default 1)")
    srv.add_argument("--ref", help="build name (default: store.ref, 'default')")
    srv.add_argument("--config", action="append", default=[], help="config file (default conf/default.yaml)")
    _common(srv)
    srv.set_defaults(func=cmd_serve)

    arts = sub.add_parser("artifacts", help="ls | show KEY | gc: the store's artifacts and the builds using them")
    arts.add_argument("action", nargs="?", default="ls", choices=["ls", "show", "gc"])
    arts.add_argument("key", nargs="?", help="for show: an artifact key, a prefix of one, or stage/key")
    arts.add_argument("--json", action="store_true")
    arts.add_argument("--keep-refs", nargs="*", metavar="REF",
                      help="gc: refs whose artifacts are kept (default: every ref)")
    arts.add_argument("--min-age", type=float, default=3600.0,
                      help="gc: spare artifacts and temp folders younger than this many seconds (default 3600)")
    arts.add_argument("--dry-run", action="store_true", help="gc: list what would go, remove nothing")
    arts.add_argument("--config", action="append", default=[])
    _common(arts)
    arts.set_defaults(func=cmd_artifacts)

    ev = sub.add_parser("eval", help="words: the word-vector models on analogy, WS-353, SimLex (default); "
                        "retrieval: document encoders against same-label documents")
    ev.add_argument("what", nargs="?", default="words", choices=["words", "retrieval"])
    ev.add_argument("config", nargs="*", help=f"retrieval: config files, overlaid in order (default {DEFAULT_CONFIG})")
    ev.add_argument("--json", action="store_true", help="words: one JSON object per model")
    ev.add_argument("--ref", help="build name (default: store.ref)")
    ev.add_argument("--corpus", help="retrieval: corpus file, folder or URL (same as --set corpus.path=PATH)")
    ev.add_argument("--encoders", default="lsa,autoencoder,denoising,vae", help="retrieval: comma-separated encoders")
    ev.add_argument("--sizes", default="2,10,32,128", help="retrieval: comma-separated code sizes")
    ev.add_argument("--queries", type=int, default=2000, help="retrieval: held-out queries, stratified by label")
    ev.add_argument("--min-label-docs", type=int, default=50, help="retrieval: skip labels with fewer documents")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--report", default="reports/retrieval", help="retrieval: report folder (table, PNGs, JSON)")
    ev.add_argument("--cached-only", action="store_true", help="retrieval: measure only the encoders already built")
    _common(ev)
    ev.set_defaults(func=cmd_eval)

    from lexiflow.export import FORMATS

    ex = sub.add_parser("export", help="write a build's word vectors as word2vec text/binary, GloVe text or TSV")
    ex.add_argument("model", choices=VECTOR_STAGES)
    ex.add_argument("format", choices=FORMATS)
    ex.add_argument("path", help="output file (a folder for tsv)")
    ex.add_argument("--ref", help="build name (default: store.ref)")
    ex.add_argument("--config", action="append", default=[])
    _common(ex)
    ex.set_defaults(func=cmd_export)

    gen = sub.add_parser("generate", help="continue a prompt word by word with the build's next-word model; "
                         "--encoder vae: sample codes from the vae's prior and print their top words")
    gen.add_argument("prompt", nargs="*")
    gen.add_argument("-n", type=int, default=20, help="words to generate (default 20)")
    gen.add_argument("--encoder", choices=["vae"], help="sample from this encoder's prior instead")
    gen.add_argument("--samples", type=int, default=5, help="--encoder: codes to sample (default 5)")
    gen.add_argument("--words", type=int, default=10, help="--encoder: top words per sample (default 10)")
    gen.add_argument("--temperature", type=float, default=1.0, help="0 takes the most likely word each step")
    gen.add_argument("--top-k", type=int, default=0, help="sample among the k most likely words (0: all)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--ref", help="build name (default: store.ref)")
    gen.add_argument("--config", action="append", default=[])
    _common(gen)
    gen.set_defaults(func=cmd_generate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"lexiflow: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"lexiflow: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lexiflow query ... | head`: the reader is done, not an error to show
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE, as a shell tool killed by the pipe would


if __name__ == "__main__":
    sys.exit(main())
