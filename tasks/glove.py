"""GloVe: weighted least squares on log co-occurrence counts, trained like Stanford's `glove.c`.

Why numba: GloVe's update is a tiny, sparse, sequential-per-record step (two 100-d rows, two biases).
`glove.c` runs it Hogwild across threads with per-record AdaGrad; a compiled loop over records with
`prange` over thread blocks is the same algorithm at C speed. Vectorised torch mini-batches would have to
merge the many updates a batch makes to frequent rows (`the`, `of`), which changes AdaGrad's per-record
steps and needs large batches to be fast; numba keeps the reference algorithm and uses every core.

As in glove.c: records shuffled every epoch, f(x) = min(1, (x/x_max)^alpha), AdaGrad with squared-gradient
sums starting at 1, gradient clipping, a record whose update is not finite is skipped (and counted). The
loss of every epoch is checked: a non-finite loss stops the stage naming the epoch, so no NaN vector is
ever published. Records are held in memory (12 bytes each: i, j, x).

The trained parameters (W, W~, b, b~) are kept beside the vectors (`params.safetensors`), so a retrain
warm-starts from them: the terms it knew start where they ended, new terms start at random.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
from numba import njit, prange

from lexiflow.config import GloveConfig
from lexiflow.parallel import Progress
from lexiflow.store import Artifact, ArtifactWriter, list_files
from lexiflow.vectors import write_vectors

NAME = "glove"
VERSION = 2
PARAMS_FILE = "params.safetensors"
PARAM_NAMES = ("w", "wc", "b", "bc")
SECTION = "glove"
USES_DASK = False

log = logging.getLogger(__name__)


class GloveDiverged(FloatingPointError):
    """The loss stopped being finite: the learning rate is too high for these counts."""


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "arcp", "nsz", "afn"})
def block(lo, hi, ci, cj, cx, order, w, wc, b, bc, gw, gwc, gb, gbc, x_max, alpha, lr, clip):
    """Records order[lo:hi] in sequence: one Hogwild thread's share of an epoch."""
    dim = w.shape[1]
    up1 = np.empty(dim, np.float32)
    up2 = np.empty(dim, np.float32)
    acc = 0.0
    skipped = 0
    for r in range(lo, hi):
        k = order[r]
        i = ci[k]
        j = cj[k]
        x = cx[k]
        dot = 0.0
        for d in range(dim):
            dot += w[i, d] * wc[j, d]
        diff = dot + b[i] + bc[j] - np.log(x)
        fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
        if not np.isfinite(fdiff):
            skipped += 1
            continue
        acc += 0.5 * fdiff * diff
        fdiff *= lr
        s1 = 0.0
        s2 = 0.0
        for d in range(dim):
            t1 = min(max(fdiff * wc[j, d], -clip), clip)
            t2 = min(max(fdiff * w[i, d], -clip), clip)
            up1[d] = t1 / np.sqrt(gw[i, d])
            up2[d] = t2 / np.sqrt(gwc[j, d])
            s1 += up1[d]
            s2 += up2[d]
            gw[i, d] += t1 * t1
            gwc[j, d] += t2 * t2
        if np.isfinite(s1) and np.isfinite(s2):
            for d in range(dim):
                w[i, d] -= up1[d]
                wc[j, d] -= up2[d]
        else:
            skipped += 1
        db = fdiff / np.sqrt(gb[i])
        dbc = fdiff / np.sqrt(gbc[j])
        if np.isfinite(db) and np.isfinite(dbc):
            b[i] -= db
            bc[j] -= dbc
        gb[i] += fdiff * fdiff
        gbc[j] += fdiff * fdiff
    return acc, skipped


@njit(parallel=True, cache=True, nogil=True)
def run_epoch(ci, cj, cx, order, w, wc, b, bc, gw, gwc, gb, gbc, x_max, alpha, lr, clip, n_blocks):
    n = order.shape[0]
    per = (n + n_blocks - 1) // n_blocks
    losses = np.zeros(n_blocks)
    skipped = np.zeros(n_blocks, np.int64)
    for t in prange(n_blocks):
        lo = t * per
        hi = min(n, lo + per)
        loss, skip = block(lo, hi, ci, cj, cx, order, w, wc, b, bc, gw, gwc, gb, gbc, x_max, alpha, lr, clip)
        losses[t] = loss
        skipped[t] = skip
    return losses.sum(), skipped.sum()


def load_records(cooc: Artifact) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i, j, x) records as flat arrays, read a part at a time."""
    import pyarrow.parquet as pq

    ci, cj, cx = [], [], []
    for part in cooc.parts():
        table = pq.read_table(part)
        ci.append(table["i"].to_numpy())
        cj.append(table["j"].to_numpy())
        cx.append(table["x"].to_numpy())
    if not ci:
        raise ValueError(f"glove: the co-occurrence artifact {cooc.key} has no records")
    return np.concatenate(ci), np.concatenate(cj), np.concatenate(cx)


def warm_start(params: dict[str, np.ndarray], terms: list[str], previous_terms: list[str]) -> int:
    """Copy the previous run's rows into `params` for the terms both know (in place); returns how many."""
    row_of = {t: r for r, t in enumerate(previous_terms)}
    pairs = [(i, row_of[t]) for i, t in enumerate(terms) if t in row_of]
    if pairs:
        new_rows, old_rows = (np.array(c, dtype=np.int64) for c in zip(*pairs, strict=True))
        for name in PARAM_NAMES:
            params[name][new_rows] = params[f"previous_{name}"][old_rows]
    return len(pairs)


def train(cfg: GloveConfig, ci: np.ndarray, cj: np.ndarray, cx: np.ndarray, n_terms: int,
          on_epoch: Any = None, init: Any = None) -> tuple[np.ndarray, list[float], dict[str, Any]]:
    """Train and return the output vectors (per `cfg.output`), the loss per epoch, and timing figures.

    `init(params)`, when given, may overwrite rows of the freshly initialised w, wc, b, bc (a warm start)
    and returns a figure for the manifest.
    """
    import numba

    if len(cx) == 0:
        raise ValueError("glove: no co-occurrence records to train on")
    if not (cx > 0).all():
        raise ValueError("glove: co-occurrence counts must be positive (log x is undefined at 0)")
    workers = cfg.workers or os.cpu_count() or 1
    numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
    rng = np.random.default_rng(cfg.seed)
    dim = cfg.vector_size
    fresh = lambda *shape: ((rng.random(shape, dtype=np.float32) - 0.5) / dim).astype(np.float32)  # noqa: E731
    w, wc = fresh(n_terms, dim), fresh(n_terms, dim)
    b, bc = fresh(n_terms), fresh(n_terms)
    warm = init({"w": w, "wc": wc, "b": b, "bc": bc}) if init is not None else None
    params = {"w": w, "wc": wc, "b": b, "bc": bc}
    gw, gwc = np.ones_like(w), np.ones_like(wc)
    gb, gbc = np.ones_like(b), np.ones_like(bc)
    kernel = run_epoch
    ci, cj, cx = ci.astype(np.int32), cj.astype(np.int32), cx.astype(np.float32)
    losses: list[float] = []
    seconds: list[float] = []
    cpu_seconds: list[float] = []  # all threads: comparable across runs on a shared machine
    skipped_total = 0
    n_blocks = max(1, numba.get_num_threads())
    progress = Progress("glove", cfg.epochs, unit="epochs")
    for epoch in range(1, cfg.epochs + 1):
        started, cpu = time.perf_counter(), time.process_time()
        order = rng.permutation(len(cx)).astype(np.int64)
        total, skipped = kernel(ci, cj, cx, order, w, wc, b, bc, gw, gwc, gb, gbc, np.float32(cfg.x_max),
                                np.float32(cfg.alpha), np.float32(cfg.learning_rate), np.float32(cfg.grad_clip),
                                n_blocks)
        loss = float(total) / len(cx)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
        skipped_total += int(skipped)
        if not np.isfinite(loss) or not all(np.isfinite(p).all() for p in (w, wc, b, bc)):
            what = f"loss is {loss}" if not np.isfinite(loss) else f"loss {loss:.4g} but parameters are not finite"
            raise GloveDiverged(
                f"glove: {what} at epoch {epoch} of {cfg.epochs} (learning_rate={cfg.learning_rate}, "
                f"x_max={cfg.x_max}); nothing was published — lower glove.learning_rate"
            )
        losses.append(loss)
        log.info("glove: epoch %d/%d loss %.6f, %.2fs", epoch, cfg.epochs, loss, seconds[-1])
        progress.update(rows=len(cx))  # rows: co-occurrence records
        if on_epoch is not None:
            on_epoch(epoch, loss)
    if cfg.output == "sum":
        vectors = w + wc
    elif cfg.output == "word":
        vectors = w
    else:
        vectors = np.concatenate([w, wc], axis=1)
    figures = {
        "epoch_seconds": [round(s, 3) for s in seconds],
        "seconds_per_epoch": round(float(np.mean(seconds[1:] if len(seconds) > 1 else seconds)), 3),
        "cpu_seconds_per_epoch": round(float(np.mean(cpu_seconds[1:] if len(cpu_seconds) > 1 else cpu_seconds)), 3),
        "skipped_updates": skipped_total,
        "threads": n_blocks,
        "warm_started_terms": warm,
        "params": params,
    }
    return vectors, losses, figures


def build(cfg: GloveConfig, out: ArtifactWriter, *, cooc: Artifact, vocab: Artifact,
          previous: Artifact | None = None) -> dict[str, Any]:
    """Train on the counts; with `previous` (a retrain), start from that glove artifact's parameters."""
    from safetensors.numpy import load_file, save_file

    table = vocab.read_table(columns=["term_id", "term"])
    terms = table["term"].to_pylist()
    init = None
    if previous is not None and PARAMS_FILE not in list_files(previous.url):
        log.warning("glove: %s keeps no parameters (an older version); training from scratch", previous.key)
        previous = None
    if previous is not None:
        old = load_file(previous.file(PARAMS_FILE))
        old_terms = previous.read_table(columns=["term"])["term"].to_pylist()
        if old["w"].shape[1] != cfg.vector_size:
            raise ValueError(f"glove: cannot warm-start {cfg.vector_size}-d vectors from {previous.key}, whose "
                             f"vectors are {old['w'].shape[1]}-d; retrain with retrain.refit or the same size")

        def init(params: dict[str, np.ndarray]) -> int:
            return warm_start({**params, **{f"previous_{k}": v for k, v in old.items()}}, terms, old_terms)

    ci, cj, cx = load_records(cooc)
    vectors, losses, figures = train(cfg, ci, cj, cx, table.num_rows, init=init)
    save_file(figures.pop("params"), out.local_path(PARAMS_FILE))
    write_vectors(out, table["term_id"], table["term"], vectors, NAME)
    if previous is not None:
        figures["previous"] = previous.key
        log.info("glove: warm-started %d of %d terms from %s", figures["warm_started_terms"], len(terms),
                 previous.key)
    return {"rows": table.num_rows, "records": len(cx), "loss": [round(v, 6) for v in losses], **figures}
