"""Build codes artifacts for (encoder, size) pairs into the cache so `lexiflow eval retrieval` only measures."""
import sys
import time

from flows.cluster import LazyCluster
from flows.evaluate import build_codes, build_upstream
from lexiflow.cli import _setup_logging
from lexiflow.config import load_config
from lexiflow.store import ArtifactStore

_setup_logging(False)
cfg = load_config(["conf/default.yaml", "conf/encoders-debian.yaml"], ["store.root=/tmp/enc-debian"])
store = ArtifactStore(cfg.store.root)
up = build_upstream(cfg, store, LazyCluster(cfg.dask))
for pair in sys.argv[1:]:
    kind, size = pair.split("-")
    t = time.time()
    try:
        a = build_codes(cfg, store, up, kind, int(size))
        figures = a.figures
        speed = figures.get("train_samples_per_s")
        print(pair, "ok", round(time.time() - t, 1), figures.get("epochs"), speed, flush=True)
    except Exception as exc:
        print(pair, "FAILED", exc, flush=True)
