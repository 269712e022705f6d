"""Next-word model (Bengio et al. 2003 style, torch): word i from the previous n words.

The n context positions share ONE input embedding matrix; their projections are summed or concatenated
(`nnlm.combine`), optionally through a tanh hidden layer, then scored against every word (full softmax)
or against the target plus `samples` negatives drawn from the unigram^0.75 distribution, with the usual
log-Q correction (sampled softmax). Either way the loss is cross-entropy computed from logits. With the
sampled softmax a batch touches only its own rows of the two embedding matrices, so they take sparse
gradients and a lazy Adam (torch's SparseAdam: 5-6x faster per step at a 62k vocabulary than dense Adam,
which would rewrite all of both matrices every step); the bias and hidden layer keep plain Adam. The input
embedding is the stage's word-vector artifact; the whole model is saved as safetensors, so the same
artifact also generates text one word at a time (`lexiflow generate`).

Examples stream from the tokens artifact a batch of documents at a time and are shuffled within a
bounded buffer; the first position of a document has no context and is not a target, and context slots
before a document's start hold a padding index, so no window crosses documents.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from lexiflow.config import NnlmConfig
from lexiflow.parallel import Progress
from lexiflow.sequences import IdBatch, iter_ids
from lexiflow.store import Artifact, ArtifactWriter
from lexiflow.vectors import write_vectors

NAME = "nnlm"
VERSION = 2
SECTION = "nnlm"
USES_DASK = False
WEIGHTS = "model/nnlm.safetensors"
BUFFER = 1 << 18  # examples shuffled together
HELD_OUT = 20_000  # examples scored with the full softmax at the end

log = logging.getLogger(__name__)


def contexts(batch: IdBatch, n: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(context ids (m, n), target ids (m,)) for every position with at least one word before it."""
    ids = batch.ids.astype(np.int64)
    starts = np.repeat(batch.offsets[:-1], np.diff(batch.offsets))
    pos = np.arange(len(ids))
    keep = pos > starts
    ctx = np.full((len(ids), n), pad, np.int64)
    for lag in range(1, n + 1):
        src = pos - lag
        ok = src >= starts
        ctx[ok, n - lag] = ids[src[ok]]
    return ctx[keep], ids[keep]


def make_model(cfg: NnlmConfig, n_terms: int) -> Any:
    import torch
    from torch import nn

    class NextWord(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.vector_size
            sparse = cfg.softmax == "sampled"  # the full softmax reads all of `out`: dense gradients
            self.embed = nn.Embedding(n_terms + 1, d, padding_idx=n_terms, sparse=sparse)  # shared by all positions
            width = d * cfg.context if cfg.combine == "concat" else d
            self.hidden = nn.Linear(width, cfg.hidden) if cfg.hidden else None
            out = cfg.hidden or width
            self.out = nn.Embedding(n_terms, out, sparse=sparse)
            self.bias = nn.Parameter(torch.zeros(n_terms))
            nn.init.uniform_(self.embed.weight, -0.5 / d, 0.5 / d)
            nn.init.normal_(self.out.weight, std=out**-0.5)
            with torch.no_grad():
                self.embed.weight[n_terms].zero_()

        def features(self, ctx: torch.Tensor) -> torch.Tensor:
            e = self.embed(ctx)
            h = e.sum(1) if cfg.combine == "sum" else e.flatten(1)
            return torch.tanh(self.hidden(h)) if self.hidden is not None else h

        def logits(self, ctx: torch.Tensor) -> torch.Tensor:
            return self.features(ctx) @ self.out.weight.T + self.bias

    return NextWord()


def _loss(model: Any, cfg: NnlmConfig, ctx: Any, target: Any, log_q: Any) -> Any:
    import torch
    import torch.nn.functional as F

    if cfg.softmax == "full":
        return F.cross_entropy(model.logits(ctx), target)
    h = model.features(ctx)
    neg = torch.multinomial(log_q.exp(), cfg.samples, replacement=True)
    correction = math.log(cfg.samples)
    true = (h * model.out(target)).sum(1) + model.bias[target] - (log_q[target] + correction)
    sampled = h @ model.out(neg).T + model.bias[neg] - (log_q[neg] + correction)
    sampled = sampled.masked_fill(neg[None, :] == target[:, None], float("-inf"))  # accidental hits
    logits = torch.cat([true[:, None], sampled], 1)
    return F.cross_entropy(logits, torch.zeros(len(target), dtype=torch.long))


def _optimizers(model: Any, lr: float) -> list[Any]:
    import torch

    sparse = [p for m in (model.embed, model.out) if m.sparse for p in m.parameters()]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    optimizers = [torch.optim.Adam(dense, lr=lr)]
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=lr))
    return optimizers


def _examples(tokens: Artifact, terms: Any, cfg: NnlmConfig, pad: int, rng: np.random.Generator
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Shuffled mini-batches from a bounded buffer of examples."""
    buf_ctx: list[np.ndarray] = []
    buf_tgt: list[np.ndarray] = []
    size = 0

    def drain() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ctx, tgt = np.concatenate(buf_ctx), np.concatenate(buf_tgt)
        order = rng.permutation(len(tgt))
        for k in range(0, len(order), cfg.batch_size):
            take = order[k : k + cfg.batch_size]
            yield ctx[take], tgt[take]

    for batch in iter_ids(tokens, terms):
        ctx, tgt = contexts(batch, cfg.context, pad)
        buf_ctx.append(ctx)
        buf_tgt.append(tgt)
        size += len(tgt)
        if size >= BUFFER:
            yield from drain()
            buf_ctx, buf_tgt, size = [], [], 0
    if size:
        yield from drain()


def train(cfg: NnlmConfig, tokens: Artifact, terms: Any, counts: np.ndarray) -> tuple[Any, dict[str, Any]]:
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.workers or os.cpu_count() or 1)
    n_terms = len(terms)
    model = make_model(cfg, n_terms)
    optimizers = _optimizers(model, cfg.learning_rate)
    q = counts.astype(np.float64) ** 0.75
    log_q = torch.tensor(np.log(q / q.sum()), dtype=torch.float32)
    rng = np.random.default_rng(cfg.seed)
    losses, seconds, examples = [], [], 0
    held: tuple[np.ndarray, np.ndarray] | None = None
    # About one example per in-vocabulary token (a document's first word is none): the ETA's total.
    progress = Progress("nnlm", int(counts.sum()) * cfg.epochs, unit="examples")
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        total, batches = 0.0, 0
        for ctx_np, tgt_np in _examples(tokens, terms, cfg, n_terms, rng):
            if held is None:  # the first shuffled batch, kept aside to score with the full softmax
                held = (ctx_np[:HELD_OUT], tgt_np[:HELD_OUT])
            ctx, tgt = torch.from_numpy(ctx_np), torch.from_numpy(tgt_np)
            loss = _loss(model, cfg, ctx, tgt, log_q)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"nnlm: loss is {loss.item()} at epoch {epoch}, batch {batches + 1}; lower nnlm.learning_rate"
                )
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            total += loss.item()
            batches += 1
            examples += len(tgt_np)
            progress.update(parts=len(tgt_np), rows=len(tgt_np))
        if batches == 0:
            raise ValueError("nnlm: no training examples (every document has fewer than two known words)")
        losses.append(total / batches)
        seconds.append(time.perf_counter() - started)
        log.info("nnlm: epoch %d/%d loss %.4f, %.1fs", epoch, cfg.epochs, losses[-1], seconds[-1])
    assert held is not None
    with torch.no_grad():
        full = torch.nn.functional.cross_entropy(model.logits(torch.from_numpy(held[0])),
                                                 torch.from_numpy(held[1])).item()
    return model, {
        "loss": [round(v, 5) for v in losses],
        "full_softmax_loss": round(full, 4),
        "perplexity": round(math.exp(full), 2),
        "epoch_seconds": [round(s, 2) for s in seconds],
        "examples_per_second": round(examples / max(sum(seconds), 1e-9)),
    }


def build(cfg: NnlmConfig, out: ArtifactWriter, *, tokens: Artifact, vocab: Artifact) -> dict[str, Any]:
    from safetensors.torch import save_file

    table = vocab.read_table(columns=["term_id", "term", "count"])
    terms = table["term"].combine_chunks()
    model, figures = train(cfg, tokens, terms, table["count"].to_numpy())
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_vectors(out, table["term_id"], terms, weights["embed.weight"][:-1].numpy(), NAME)
    save_file(weights, out.local_path(WEIGHTS))
    return {"rows": table.num_rows, **figures}


class Generator:
    """A trained next-word model loaded from its artifact, sampling one word at a time."""

    def __init__(self, artifact: Artifact) -> None:
        from safetensors.torch import load_file

        from lexiflow.vectors import load_vectors

        self.cfg = NnlmConfig.model_validate(artifact.manifest["config"])
        self.terms = load_vectors(artifact).terms
        self.index = {t: n for n, t in enumerate(self.terms)}
        self.model = make_model(self.cfg, len(self.terms))
        self.model.load_state_dict(load_file(artifact.file(WEIGHTS)))
        self.model.eval()

    def generate(self, words: list[str], n_words: int = 20, temperature: float = 1.0, top_k: int = 0,
                 seed: int = 0) -> list[str]:
        """Continue `words` by n_words; temperature 0 takes the most likely word each step."""
        import torch

        if temperature < 0:
            raise ValueError(f"temperature={temperature}: must be >= 0 (0 is greedy)")
        pad = len(self.terms)
        ids = [self.index[w] for w in words if w in self.index]
        if not ids:
            raise ValueError(f"none of the prompt words {words} is in the model's vocabulary ({pad} words)")
        gen = torch.Generator().manual_seed(seed)
        out: list[str] = []
        with torch.no_grad():
            for _ in range(n_words):
                ctx = ([pad] * self.cfg.context + ids)[-self.cfg.context :]
                logits = self.model.logits(torch.tensor([ctx]))[0]
                if temperature == 0:
                    nxt = int(logits.argmax())
                else:
                    if top_k:
                        cut = torch.topk(logits, min(top_k, len(logits))).values[-1]
                        logits = logits.masked_fill(logits < cut, float("-inf"))
                    nxt = int(torch.multinomial(torch.softmax(logits / temperature, 0), 1, generator=gen))
                ids.append(nxt)
                out.append(self.terms[nxt])
        return out
