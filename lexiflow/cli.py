"""`lexiflow` command line: run a build, query it, list artifacts.

`query` and `artifacts` never import Prefect or Dask, so they start in well under a second; only `run`
loads the flow machinery.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from lexiflow.config import DEFAULT_CONFIG, Config, ConfigError, load_config

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


def _load(args: argparse.Namespace) -> Config:
    overrides = list(args.set or [])
    if getattr(args, "corpus", None):
        overrides.append(f"corpus.path={json.dumps(args.corpus)}")
    if getattr(args, "store", None):
        overrides.append(f"store.root={json.dumps(args.store)}")
    if getattr(args, "ref", None):
        overrides.append(f"store.ref={json.dumps(args.ref)}")
    return load_config(_config_files(getattr(args, "config", [])), overrides)


def cmd_run(args: argparse.Namespace) -> int:
    # Our loggers also go to the Prefect run logs (and so to the UI of a server, when one is used).
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "lexiflow,tasks,flows")
    cfg = _load(args)  # validate before paying for Prefect's start-up
    from flows.build import build_flow

    overrides = list(args.set or [])
    if args.corpus:
        overrides.append(f"corpus.path={json.dumps(args.corpus)}")
    built = build_flow(config=_config_files(args.config), overrides=overrides, only=args.only)
    print(f"built {len(built)} artifact(s) under {cfg.store.root}" + ("" if args.only else f", ref {cfg.store.ref!r}"))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from lexiflow.query import QueryEngine
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    if not 1 <= args.k <= cfg.query.max_k:
        raise ValueError(f"-k {args.k}: must be between 1 and query.max_k={cfg.query.max_k}")
    engine = QueryEngine(ArtifactStore(cfg.store.root), cfg.store.ref)
    if args.kind == "docs":
        hits = engine.docs(" ".join(args.text), args.k, encoder=args.encoder)
        for h in hits:
            if args.json:
                print(json.dumps({"rank": h.rank, "doc_id": h.doc_id, "title": h.title, "label": h.label,
                                  "score": round(h.score, 6)}, ensure_ascii=False))
            else:
                print(f"{h.rank:3d}  {h.score:.4f}  {h.doc_id:<32}  {h.title or ''}")
    else:
        words = engine.similar(" ".join(args.text), args.k)
        for w in words:
            if args.json:
                print(json.dumps({"rank": w.rank, "term": w.term, "score": round(w.score, 6)}, ensure_ascii=False))
            else:
                print(f"{w.rank:3d}  {w.score:.4f}  {w.term}")
    return 0


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(f"--{what} {text!r}: expected a comma-separated list of {', '.join(allowed)}")
    return names


def cmd_eval(args: argparse.Namespace) -> int:
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


def cmd_generate(args: argparse.Namespace) -> int:
    from lexiflow.query import QueryEngine
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    engine = QueryEngine(ArtifactStore(cfg.store.root), cfg.store.ref)
    for i, words in enumerate(engine.generate(args.encoder, args.samples, args.words, args.seed)):
        print(f"{i + 1:3d}  " + " ".join(f"{w}({p:.3f})" for w, p in words))
    return 0


def cmd_artifacts(args: argparse.Namespace) -> int:
    from lexiflow.store import ArtifactStore

    cfg = _load(args)
    store = ArtifactStore(cfg.store.root)
    refs = {name: store.read_ref(name)["artifacts"] for name in store.refs()}
    rows = []
    for a in store.artifacts():
        names = [r for r, arts in refs.items() if arts.get(a.stage) == a.key]
        seconds = a.manifest.get("timings", {}).get("seconds", 0.0)
        rows.append((a.stage, a.key, a.num_rows, seconds, ",".join(names)))
    if args.json:
        for stage, key, n, s, r in rows:
            print(json.dumps({"stage": stage, "key": key, "rows": n, "seconds": s, "refs": r.split(",") if r else []}))
        return 0
    if not rows:
        print(f"no artifacts under {store.root}")
        return 0
    print(f"{'stage':<12} {'key':<22} {'rows':>10} {'seconds':>9}  refs")
    for stage, key, n, s, r in rows:
        print(f"{stage:<12} {key:<22} {n:>10} {s:>9.2f}  {r}")
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

    query = sub.add_parser("query", help="query a build: docs TEXT | similar WORD")
    query.add_argument("kind", choices=["docs", "similar"])
    query.add_argument("text", nargs="+")
    query.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    query.add_argument("--json", action="store_true", help="one JSON object per line")
    query.add_argument("--ref", help="build name (default: store.ref, 'default')")
    query.add_argument("--encoder", help="docs: query this encoder's codes (lsa, autoencoder, denoising, vae)")
    query.add_argument("--config", action="append", default=[], help="config file (default conf/default.yaml)")
    _common(query)
    query.set_defaults(func=cmd_query)

    ev = sub.add_parser("eval", help="evaluate a build: retrieval (encoders against same-label documents)")
    ev.add_argument("what", choices=["retrieval"])
    ev.add_argument("config", nargs="*", help=f"config files, overlaid in order (default {DEFAULT_CONFIG})")
    ev.add_argument("--corpus", help="corpus file, folder or fsspec URL (same as --set corpus.path=PATH)")
    ev.add_argument("--encoders", default="lsa,autoencoder,denoising,vae", help="comma-separated encoders")
    ev.add_argument("--sizes", default="2,10,32,128", help="comma-separated code sizes")
    ev.add_argument("--queries", type=int, default=2000, help="held-out queries, stratified by label")
    ev.add_argument("--min-label-docs", type=int, default=50, help="skip labels with fewer documents")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--report", default="reports/retrieval", help="report folder (table, PNGs, JSON)")
    ev.add_argument("--cached-only", action="store_true", help="measure only the encoders already built")
    _common(ev)
    ev.set_defaults(func=cmd_eval)

    gen = sub.add_parser("generate", help="sample codes from a vae's prior and print the decoded top words")
    gen.add_argument("--encoder", default="vae", choices=["vae"])
    gen.add_argument("-n", "--samples", type=int, default=5)
    gen.add_argument("--words", type=int, default=10, help="top words per sample")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--ref", help="build name (default: store.ref, 'default')")
    gen.add_argument("--config", action="append", default=[], help="config file (default conf/default.yaml)")
    _common(gen)
    gen.set_defaults(func=cmd_generate)

    arts = sub.add_parser("artifacts", help="list the published artifacts and the builds that use them")
    arts.add_argument("--json", action="store_true")
    arts.add_argument("--config", action="append", default=[])
    _common(arts)
    arts.set_defaults(func=cmd_artifacts)
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


if __name__ == "__main__":
    sys.exit(main())
