"""Which stages print progress/ETA lines: runs the default stages in-process and counts them per stage.

In-process (no Dask client) the per-partition stages take the same `map_parts` path minus the cluster, so
the count shows whether a stage reports progress at all; `--every 0` makes every update print.

    .venv/bin/python bench/progress_lines.py [--corpus data/debian-sample.parquet] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STAGES = ["ingest", "tokens", "vocab", "bow", "tfidf", "word2vec", "lsa", "doc_index", "word_index"]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.stage = "setup"
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[self.stage] += 1
        self.examples.setdefault(self.stage, record.getMessage())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "data" / "debian-sample.parquet"))
    parser.add_argument("--every", type=float, default=0.0, help="seconds between progress lines")
    parser.add_argument("--set", dest="settings", action="append", default=[])
    args = parser.parse_args()

    from flows.build import needed
    from flows.executor import run_stage
    from lexiflow import parallel
    from lexiflow.config import load_config
    from lexiflow.store import ArtifactStore
    from tasks import ingest

    parallel.Progress.DEFAULT_EVERY = args.every
    lines = Lines()
    progress = logging.getLogger("lexiflow.progress")
    progress.setLevel(logging.INFO)
    progress.addHandler(lines)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config([ROOT / "conf" / "default.yaml"], [
            f"corpus.path={json.dumps(args.corpus)}", f"store.root={json.dumps(tmp)}", "corpus.partition_rows=1000",
            "lsa.batch_rows=1000", "index.batch_rows=1000", "word2vec.epochs=1", *args.settings])
        store = ArtifactStore(cfg.store.root)
        built = {}
        for spec in [s for s in needed(None, cfg) if s.name in STAGES]:
            lines.stage = spec.name
            source = ingest.discover(cfg.corpus) if spec.name == "ingest" else None
            built[spec.name] = run_stage(spec, cfg, store, {a: built[u] for a, u in spec.inputs.items()}, source=source)
    for stage in STAGES:
        print(f"{stage:<11} {lines.counts[stage]:>4} progress line(s)  {lines.examples.get(stage, '-')}")


if __name__ == "__main__":
    main()
