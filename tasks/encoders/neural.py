"""Neural document encoders: deep autoencoder, denoising autoencoder and variational autoencoder (torch).

All three read a document as its input-space TF-IDF row and reconstruct its word distribution through a
softmax decoder, with the cross-entropy computed from the logits (`log_softmax`), never from probabilities.
The denoising one masks a configured fraction of the input terms; the VAE's encoder gives a mean and a
log-variance, samples a code by reparameterisation and adds the KL term to N(0, I) (ramped up over warm-up
epochs so the posterior does not collapse at the start). Training streams shuffled batches, checks the loss
is finite at every step, and keeps the weights of the best held-out epoch (early stopping).
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from lexiflow.parallel import Progress
from tasks.encoders.base import Encoder, TrainingError
from tasks.encoders.data import RowSource

log = logging.getLogger(__name__)

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
ENCODE_BATCH = 4096


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with the activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per row: 0.5 * sum(mean^2 + exp(logvar) - 1 - logvar)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def cross_entropy_from_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-sum_w target_w log softmax(logits)_w per row; `target` rows are word weights (a distribution or counts)."""
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1)


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("encoder.device=cuda: no CUDA device is available; use auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def dense(rows: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(rows.toarray()).to(device)


def sparse(rows: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """A sparse COO tensor of the rows: the first layer then costs O(nnz x width), not O(input_vocab x width)."""
    coo = rows.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(indices, values, rows.shape, is_coalesced=True,
                                   check_invariants=False).to(device)


class AutoencoderNet(nn.Module):
    def __init__(self, n_inputs: int, hidden: list[int], code_size: int, activation: str, code_outputs: int) -> None:
        super().__init__()
        self.encoder = mlp([n_inputs, *hidden, code_outputs], activation)
        self.decoder = mlp([code_size, *reversed(hidden), n_inputs], activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder outputs of a sparse (or dense) input batch."""
        if not x.is_sparse:
            return self.encoder(x)
        first = self.encoder[0]
        return self.encoder[1:](torch.sparse.mm(x, first.weight.t()) + first.bias)


class TorchEncoder(Encoder):
    """Shared training loop; subclasses say how a batch is corrupted, encoded and scored."""

    code_outputs_factor = 1

    def _net(self) -> AutoencoderNet:
        c = self.cfg
        return AutoencoderNet(self.n_inputs, list(c.hidden), c.code_size, c.activation,
                              c.code_size * self.code_outputs_factor)

    def _ensure_net(self) -> AutoencoderNet:
        if getattr(self, "net_", None) is None:
            self.net_ = self._net()
        return self.net_

    # What differs between encoders ------------------------------------------------------------------------

    def corrupt(self, rows: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
        return rows

    def loss_terms(self, x_in: torch.Tensor, x: torch.Tensor, epoch: int, sample: bool) -> dict[str, torch.Tensor]:
        """Per-batch mean loss terms of (sparse) input `x_in` and clean dense rows `x`; `loss` is minimised."""
        target = x / x.sum(dim=1, keepdim=True)
        logits = self.net_.decoder(self.net_.encode(x_in))
        recon = cross_entropy_from_logits(logits, target).mean()
        return {"loss": recon, "recon": recon}

    def code_of(self, x: torch.Tensor) -> torch.Tensor:
        return self.net_.encode(x)

    # Training -----------------------------------------------------------------------------------------------

    def fit(self, source: RowSource) -> dict[str, Any]:
        c = self.cfg
        torch.manual_seed(c.seed)
        np.random.seed(c.seed)
        torch.set_num_threads(c.threads or os.cpu_count() or 1)
        device = pick_device(c.device)
        net = self._ensure_net().to(device)
        opt = torch.optim.Adam(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        noise_rng = np.random.default_rng(c.seed)
        curve: list[dict[str, Any]] = []
        best, best_state, best_epoch, stale, step, samples = float("inf"), None, -1, 0, 0, 0
        started = time.perf_counter()
        train_seconds = 0.0
        progress = Progress(f"{self.kind} code {c.code_size}", c.max_epochs, unit="epochs (at most)")
        for epoch in range(c.max_epochs):
            net.train()
            epoch_start = time.perf_counter()
            total, rows = 0.0, 0
            batches = source.shuffled(c.holdout, c.batch_size, c.shuffle_rows, c.seed + epoch, c.max_train_rows)
            for rows_csr in batches:
                step += 1
                x = dense(rows_csr, device)
                terms = self.loss_terms(sparse(self.corrupt(rows_csr, noise_rng), device), x, epoch, sample=True)
                loss = terms["loss"]
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"{self.kind}: loss is {loss.item()} at step {step} (epoch {epoch + 1}); "
                        f"try a lower encoder.lr (now {c.lr})"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * x.shape[0]
                rows += x.shape[0]
            if rows == 0:
                raise TrainingError(f"{self.kind}: no training rows (every document empty or held out)")
            samples += rows
            train_seconds += time.perf_counter() - epoch_start
            held = self.holdout_loss(source, device)
            curve.append({"epoch": epoch + 1, "train_loss": round(total / rows, 5), **held,
                          "seconds": round(time.perf_counter() - epoch_start, 2)})
            log.info("%s code %d epoch %d: %s", self.kind, c.code_size, epoch + 1, curve[-1])
            progress.update(rows=rows)
            if held["holdout_loss"] < best * (1 - c.min_delta) or best_state is None:
                best, best_state, best_epoch, stale = held["holdout_loss"], copy.deepcopy(net.state_dict()), epoch, 0
            elif self.counts_for_stopping(epoch):
                stale += 1
                if stale > c.patience:
                    break
        net.load_state_dict(best_state)
        net.to("cpu").eval()
        self.figures_ = {
            "loss_curve": curve, "epochs": len(curve), "best_epoch": best_epoch + 1, "steps": step,
            "best_holdout_loss": round(best, 5), "train_samples": samples,
            "train_seconds": round(train_seconds, 2),
            "train_samples_per_s": round(samples / max(train_seconds, 1e-9), 1),
            "fit_seconds": round(time.perf_counter() - started, 2), "device": str(device),
        }
        return self.figures_

    def counts_for_stopping(self, epoch: int) -> bool:
        return True

    @torch.no_grad()
    def holdout_loss(self, source: RowSource, device: torch.device) -> dict[str, float]:
        self.net_.eval()
        sums: dict[str, float] = {}
        rows = 0
        for x_csr in source.split(self.cfg.holdout, held_out=True):
            for start in range(0, x_csr.shape[0], ENCODE_BATCH):
                rows_csr = x_csr[start : start + ENCODE_BATCH]
                x = dense(rows_csr, device)
                for name, value in self.loss_terms(sparse(rows_csr, device), x, self.cfg.max_epochs,
                                                   sample=False).items():
                    sums[name] = sums.get(name, 0.0) + value.item() * x.shape[0]
                rows += x.shape[0]
        self.net_.train()
        if rows == 0:
            raise TrainingError(f"{self.kind}: the held-out split is empty; raise encoder.holdout")
        return {f"holdout_{name}": round(value / rows, 5) for name, value in sums.items()}

    @torch.no_grad()
    def encode(self, rows: sp.csr_matrix) -> np.ndarray:
        net = self._ensure_net()
        net.eval()
        device = next(net.parameters()).device
        out = [
            self.code_of(sparse(rows[start : start + ENCODE_BATCH], device)).cpu().numpy()
            for start in range(0, rows.shape[0], ENCODE_BATCH)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.code_size), np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self._ensure_net().state_dict().items()}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._ensure_net().load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.net_.eval()


class DeepAutoencoder(TorchEncoder):
    kind = "autoencoder"


class DenoisingAutoencoder(TorchEncoder):
    kind = "denoising"

    def corrupt(self, rows: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
        """Masking noise: each of a document's terms is zeroed with probability noise_rate."""
        noisy = rows.copy()
        noisy.data = noisy.data * (rng.random(len(noisy.data)) >= self.cfg.noise_rate).astype(np.float32)
        return noisy


class VariationalAutoencoder(TorchEncoder):
    """Codes are the posterior means; the decoder maps a code to a word distribution (softmax of its logits)."""

    kind = "vae"
    code_outputs_factor = 2
    prior_scale = 1.0

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net_.encode(x)
        mean, logvar = out.chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 8.0)

    def kl_weight(self, epoch: int) -> float:
        warm = self.cfg.kl_warmup_epochs
        return self.cfg.kl_weight * (1.0 if warm == 0 else min(1.0, (epoch + 1) / (warm + 1)))

    def counts_for_stopping(self, epoch: int) -> bool:
        return epoch >= self.cfg.kl_warmup_epochs

    def loss_terms(self, x_in: torch.Tensor, x: torch.Tensor, epoch: int, sample: bool) -> dict[str, torch.Tensor]:
        # Target weights: the row's word distribution times its number of distinct terms, a count-like scale
        # that keeps the reconstruction term comparable to the KL term (a bag of words' multinomial likelihood).
        nnz = (x > 0).sum(dim=1, keepdim=True).to(x.dtype)
        target = x / x.sum(dim=1, keepdim=True) * nnz
        mean, logvar = self.posterior(x_in)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
        recon = cross_entropy_from_logits(self.net_.decoder(z), target).mean()
        kl = kl_to_standard_normal(mean, logvar).mean()
        return {"loss": recon + self.kl_weight(epoch) * kl, "recon": recon, "kl": kl}

    def code_of(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    @torch.no_grad()
    def word_distribution(self, codes: np.ndarray) -> np.ndarray:
        """Decoded word probabilities (rows sum to 1) over the input vocabulary for each code."""
        net = self._ensure_net()
        net.eval()
        logits = net.decoder(torch.from_numpy(np.asarray(codes, dtype=np.float32)))
        return torch.softmax(logits, dim=1).numpy()
