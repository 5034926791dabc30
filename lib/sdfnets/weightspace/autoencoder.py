"""Phase 10 (notebook ``10``): compress the weight residuals with an autoencoder, and the autoencoder trap.

The autoencoder maps a network's residual from the common start, r = w - anchor (54,785 dims),
to a small latent and back: an MLP D -> hidden -> L (SiLU) and L -> hidden -> D, on residuals
divided by one global scale. Two losses:

- ``weight``: the mean squared error of the reconstructed residual (the write-up's AE);
- ``function``: the SDF error of the *decoded network* anchor + r_hat on the shape's own SDF
  samples (a batch of shapes, points drawn per step; phase 1's loss, the prediction unclamped so
  that a field far off still gets a gradient): the reconstruction is judged by the shape it draws,
  not by its weights.

:func:`layer_error_share` and :func:`layer_sensitivity` explain the trap: where in the network the
reconstruction error lands, and how much the field moves per unit of error landing there.
Load-or-train (:mod:`sdfnets.train.loop`): ``checkpoints/runs/weightae/<name>-<key>/final.pt``.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import devices
from ..data.bank import SDFBank
from ..train import loop, schedules
from .fit import sdf_loss
from .nets import NetSpec, forward, unflatten

LOSSES = ("weight", "function")


class WeightAE(nn.Module):
    def __init__(self, dim: int, latent: int = 128, hidden: int = 1024):
        super().__init__()
        self.dim, self.latent_dim, self.hidden = dim, latent, hidden
        self.enc = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, latent))
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.dec[2].weight)  # starts at r_hat = 0: every input decodes to the anchor, whose
        nn.init.zeros_(self.dec[2].bias)  # field has useful gradients (a random start can kill every ReLU)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(r))


@dataclasses.dataclass
class WeightAutoencoder:
    """A trained AE with its anchor and scale: weights <-> latents."""

    ae: WeightAE
    anchor: torch.Tensor  # [D]
    scale: torch.Tensor  # [] residuals are divided by it
    loss: str
    history: list
    seconds: float

    @property
    def device(self) -> torch.device:
        return next(self.ae.parameters()).device

    @torch.no_grad()
    def encode(self, weights: torch.Tensor) -> torch.Tensor:
        self.ae.eval()
        w = weights.to(self.device).float()
        return self.ae.enc((w - self.anchor.to(self.device)) / self.scale.to(self.device))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        self.ae.eval()
        return self.anchor.to(self.device) + self.ae.dec(latents.to(self.device).float()) * self.scale.to(self.device)

    def reconstruct(self, weights: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(weights))


class AETrainer:
    """Adam on the AE, ``batch`` random training vectors per step (and, for the function loss,
    ``points`` random SDF samples of each of their shapes); runs protocol of :mod:`sdfnets.train.loop`."""

    def __init__(self, ae: WeightAE, spec: NetSpec, residuals: torch.Tensor, anchor: torch.Tensor, scale, *,
                 loss: str, steps: int, batch: int, lr: float, bank: SDFBank | None = None, points: int = 4096,
                 clamp: float = 0.1, seed: int = 0):
        if loss not in LOSSES:
            raise ValueError(f"unknown AE loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if loss == "function" and bank is None:
            raise ValueError("the function-space loss needs the shapes' SDF samples (bank=...)")
        self.ae, self.spec, self.r, self.anchor, self.scale = ae, spec, residuals, anchor, scale
        self.device = residuals.device
        self.kind, self.bank, self.points, self.clamp = loss, bank, points, clamp
        self.total, self.batch, self.lr, self.step = steps, min(batch, len(residuals)), lr, 0
        self.opt = torch.optim.Adam(ae.parameters(), lr=lr, fused=self.device.type == "cuda")
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.running = loop.RunningMean(self.device)

    def _loss(self, ids: torch.Tensor) -> torch.Tensor:
        r = self.r[ids]
        rec = self.ae(r)
        if self.kind == "weight":
            return F.mse_loss(rec, r)
        w = self.anchor + rec * self.scale
        idx = torch.randint(self.bank.data.shape[1], (len(ids), self.points), generator=self.gen, device=self.device)
        pts, sdf = self.bank.gather(ids, idx)
        return sdf_loss(self.spec, unflatten(self.spec, w), pts, sdf, self.clamp).mean()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            schedules.set_lr(self.opt, [self.lr * schedules.cosine(self.step, self.total)])
            ids = torch.randperm(len(self.r), generator=self.gen, device=self.device)[: self.batch]
            loop.update(self.opt, self._loss(ids), self.running)
            self.step += 1

    def loss(self) -> float:
        return self.running.read()

    def state(self) -> dict:
        return {"ae": self.ae.state_dict(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "step": self.step}

    def load_state(self, ck: dict) -> None:
        self.ae.load_state_dict(ck["ae"])
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"].cpu())
        self.step = ck["step"]


def train_autoencoder(cfg, ws, rows, *, latent: int, loss: str = "weight", dataset=None, device=None,
                      progress: bool = True) -> WeightAutoencoder:
    """Load-or-train an AE (settings ``cfg.autoencoder``) of the residuals ``ws.weights[rows] -
    anchor`` (every network started at the same anchor). The function loss reads the shapes' SDF
    samples from ``dataset``."""
    ac = cfg.autoencoder
    hidden, steps, batch, points, clamp, seed = ac.hidden, ac.steps, ac.batch, ac.points, ac.clamp, cfg.seed
    lr = ac.lr if loss == "weight" else ac.function_lr
    device = devices.default_device(device)
    rows = [int(i) for i in rows]
    w = ws.weights[rows].to(device).float()
    anchor = ws.init[rows[0]].to(device).float()
    scale = (w - anchor).std()
    body = {"latent": latent, "hidden": hidden, "loss": loss, "steps": steps, "batch": batch, "lr": lr, "seed": seed,
            "points": points if loss == "function" else None, "clamp": clamp if loss == "function" else None,
            "weights": hashlib.sha256(w.cpu().numpy().tobytes()).hexdigest()[:16]}
    bank = SDFBank.from_dataset(dataset, [ws.obj_idx[i] for i in rows], device) if loss == "function" else None

    def make_trainer() -> AETrainer:
        torch.manual_seed(seed)
        ae = WeightAE(ws.spec.num_params, latent, hidden).to(device)
        return AETrainer(ae, ws.spec, (w - anchor) / scale, anchor, scale, loss=loss, steps=steps, batch=batch, lr=lr,
                         bank=bank, points=points, clamp=clamp, seed=seed)

    r = loop.load_or_train(make_trainer, loop.run_dir("weightae", f"{loss}-{latent}", body),
                           desc=f"weight AE ({loss} loss, {latent} dims)", log_every=50,
                           checkpoint_every=ac.checkpoint_every, progress=progress, device=device,
                           extra={"anchor": anchor, "scale": scale, "config": body, "dim": ws.spec.num_params})
    ae = WeightAE(r.state["dim"], latent, hidden).to(device)
    ae.load_state_dict(r.state["ae"])
    return WeightAutoencoder(ae.eval(), r.state["anchor"], r.state["scale"], loss, r.history, r.seconds)


# ---------------------------------------------------------------------------------------------
# Explaining the trap


def layer_error_share(spec: NetSpec, rec: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """Share of the total squared reconstruction error [M, D] that lands in each parameter tensor."""
    err = (rec.float() - true.float()).pow(2).sum(0).cpu()
    total = float(err.sum())
    return {k: float(err[a:b].sum()) / total for k, (a, b) in spec.offsets().items()}


def _points(bank: SDFBank, n: int, points: int, seed: int) -> torch.Tensor:
    g = torch.Generator(device=bank.data.device).manual_seed(seed)
    idx = torch.randint(bank.data.shape[1], (n, points), generator=g, device=bank.data.device)
    return bank.gather(torch.arange(n, device=bank.data.device), idx)[0]


@torch.no_grad()
def field_change(spec: NetSpec, a: torch.Tensor, b: torch.Tensor, bank: SDFBank, *, points: int = 8192,
                 seed: int = 0, clamp: float = 0.1) -> np.ndarray:
    """Per network: mean |f_b - f_a| over ``points`` SDF samples of its shape (bank row i <->
    network i), values clamped to +-clamp as in the loss."""
    pts = _points(bank, len(a), points, seed).to(a.device)
    fa = forward(spec, unflatten(spec, a.float()), pts).clamp(-clamp, clamp)
    fb = forward(spec, unflatten(spec, b.float().to(a.device)), pts).clamp(-clamp, clamp)
    return (fb - fa).abs().mean(1).cpu().numpy()


@torch.no_grad()
def layer_sensitivity(spec: NetSpec, weights: torch.Tensor, bank: SDFBank, energy: float, *, points: int = 8192,
                      draws: int = 2, seed: int = 0, clamp: float = 0.1) -> dict[str, float]:
    """How far each network's field moves when an error of squared norm ``energy`` lands entirely
    in one parameter tensor (a random direction), as :func:`field_change` averaged over networks and
    ``draws``; ``"everywhere"``: the same error spread over the whole vector."""
    g = torch.Generator(device=weights.device).manual_seed(seed)
    w = weights.float()
    spans = {**spec.offsets(), "everywhere": (0, spec.num_params)}
    out = {}
    for k, (a, b) in spans.items():
        moved = []
        for d in range(draws):
            noise = torch.randn(len(w), b - a, generator=g, device=w.device)
            noise *= (energy / noise.pow(2).sum(1, keepdim=True)).sqrt()
            wn = w.clone()
            wn[:, a:b] += noise
            moved.append(field_change(spec, w, wn, bank, points=points, seed=seed + d, clamp=clamp).mean())
        out[k] = float(np.mean(moved))
    return out
