"""One wrapper for every trained diffusion model of the project, the weight line (phases 2-10) and
the latent line (phase 12) alike: the DiT with the normalisation of its targets and the settings it
was trained with, sampled by DDIM from views (or unconditionally), predicted from seeded random views
of given shapes, and measured by its loss at fixed timesteps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import torch

from ..data.splits import random_views
from ..layers import pose_embedding
from . import ddim
from .dit import DiT
from .dit import sample as dit_sample

STANDARDISE = ("per_dim", "global")


@dataclass
class Standardiser:
    """z = (x - mean) / std. ``per_dim``: every dimension its own std over the training targets (a
    dimension that never changes gets std 1, i.e. z = 0); ``global``: one scalar for all."""

    mean: torch.Tensor  # [D]
    std: torch.Tensor  # [D] or []

    @classmethod
    def fit(cls, x: torch.Tensor, mode: str = "per_dim") -> "Standardiser":
        if mode not in STANDARDISE:
            raise ValueError(f"unknown standardisation {mode!r}; choose one of {', '.join(STANDARDISE)}")
        x = x.double()
        mean = x.mean(0)
        if mode == "per_dim":
            std = x.std(0)
            std = torch.where(std > 1e-8, std, torch.ones_like(std))
        else:
            std = (x - mean).std()
        return cls(mean.float(), std.float())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z.device) + self.mean.to(z.device)


@dataclass
class DiffusionModel:
    """A trained DiT (``dit.dim`` target dimensions, ``dit.feature_dim`` 0 when unconditional) with
    what it needs to run."""

    dit: DiT
    norm: Standardiser
    config: dict  # the resolved config section it was trained with
    encoder: str | None = None  # the image features it was trained on (None: unconditional)
    history: list = field(default_factory=list)  # (step, loss EMA)
    seconds: float = 0.0
    predict_batch: ClassVar[int] = 64  # inputs per sampling call of :meth:`predict` (the seeds follow it)

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def schedule(self) -> ddim.CosineDDIM:
        return ddim.CosineDDIM(self.config["timesteps"])  # on the host: the sampler reads it as floats

    @torch.no_grad()
    def sample(self, features: torch.Tensor | None = None, poses: torch.Tensor | None = None, *, num: int | None = None,
               seed: int = 0, steps: int | None = None, guidance: float | None = None, encoder: str | None = None,
               graphed: bool = True) -> torch.Tensor:
        """Targets [B, D] (denormalised): from view features [B, K, F] and camera poses [B, K, 4, 4],
        or ``num`` unconditional samples. ``encoder`` names the features' encoder, checked against the
        model's. On a GPU the DDIM loop is replayed as a CUDA graph unless ``graphed=False``."""
        if encoder is not None and encoder != self.encoder:
            raise ValueError(f"this model was trained on {self.encoder!r} features, not {encoder!r}")
        cfg, dev = self.config, self.device
        steps = steps or cfg["sample_steps"]
        guidance = cfg["guidance"] if guidance is None else guidance
        self.dit.eval()
        if features is None:
            if self.dit.feature_dim:
                raise ValueError("this model is image-conditioned: pass features and poses")
            tokens, b = None, num
        else:
            if not self.dit.feature_dim:
                raise ValueError("this model is unconditional: pass num, not features")
            if features.shape[-1] != self.dit.feature_dim:
                raise ValueError(f"features have {features.shape[-1]} dims; the model expects {self.dit.feature_dim}")
            features, poses = features.to(dev).float(), poses.to(dev).float()
            tokens, b = self.dit.view_tokens(features, pose_embedding(poses, self.dit.pose_dim)), features.shape[0]
        x = torch.randn(b, self.dit.dim, generator=torch.Generator(device=dev).manual_seed(seed), device=dev)
        z = dit_sample(self.dit, x, self.schedule, steps, tokens, guidance=guidance,
                       graphs=self.__dict__.setdefault("_graphs", {}) if graphed else None)
        return self.norm.inverse(z)

    def predict(self, features: torch.Tensor, poses: torch.Tensor, shape_ids, k: int, seed: int = 0,
                batch: int | None = None, guidance: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets of shapes ``shape_ids`` (rows of ``features`` [N, V, F]) from ``k`` seeded random
        views each: (targets [M, D] on the CPU, views [M, k]). ``guidance=0``: the same draws with the
        "no image" token in place of the views (the model's unconditional prediction)."""
        batch = batch or self.predict_batch
        ids = torch.as_tensor(list(shape_ids), dtype=torch.long)
        vids = random_views(len(ids), k, features.shape[1], seed)
        out = []
        for s in range(0, len(ids), batch):
            f = features[ids[s:s + batch, None], vids[s:s + batch]]
            out.append(self.sample(f, poses[vids[s:s + batch]], seed=seed + s, guidance=guidance).cpu())
        return torch.cat(out), vids

    def loss_profile(self, targets: torch.Tensor, timesteps, *, features: torch.Tensor | None = None,
                     poses: torch.Tensor | None = None, k: int = 1, seed: int = 0) -> np.ndarray:
        """The training loss (normalised x0-MSE) at each timestep on ``targets`` [N, D], row i
        conditioned on ``k`` seeded random views of its shape (``features`` [N, V, F])."""
        pose_emb = None if poses is None else pose_embedding(poses.to(self.device).float(), self.dit.pose_dim)
        return view_loss_profile(self.dit, self.norm(targets.to(self.device).float()), self.schedule, timesteps,
                                 features=features, pose_emb=pose_emb, k=k, seed=seed)


@torch.no_grad()
def loss_by_timestep(denoise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                     schedule: ddim.CosineDDIM, timesteps, *, seed: int = 0, batch: int = 256) -> np.ndarray:
    """The training loss with the timestep held fixed: for every t in ``timesteps``, the mean
    x0-MSE over the rows of ``x0`` [N, ...] (normalised targets), each row noised with the same
    seeded noise at every t. ``denoise(x_t, t, rows)`` predicts x0 of rows ``rows`` (so a
    conditioned model can look up their views). A healthy model's curve rises from ~0 at t = 0;
    one that has learnt only the marginal mean is flat."""
    dev = x0.device
    noise = torch.randn(x0.shape, generator=torch.Generator(device=dev).manual_seed(seed), device=dev)
    out = []
    for t in timesteps:
        total = 0.0
        for s in range(0, len(x0), batch):
            rows = torch.arange(s, min(s + batch, len(x0)), device=dev)
            tt = torch.full((len(rows),), int(t), dtype=torch.long, device=dev)
            pred = denoise(schedule.add_noise(x0[rows], noise[rows], tt), tt, rows)
            total += float((pred.float() - x0[rows]).pow(2).sum())
        out.append(total / x0.numel())
    return np.asarray(out)


@torch.no_grad()
def view_loss_profile(dit, x0: torch.Tensor, schedule: ddim.CosineDDIM, timesteps, *, features: torch.Tensor | None = None,
                      pose_emb: torch.Tensor | None = None, k: int = 1, seed: int = 0, batch: int = 64) -> np.ndarray:
    """:func:`loss_by_timestep` of a DiT on normalised targets ``x0`` [N, D], row i conditioned on
    ``k`` seeded random views of its shape (``features`` [N, V, F], ``pose_emb`` [V, P]; None:
    unconditional), bf16 autocast on a GPU as in training."""
    dev = next(dit.parameters()).device
    x0 = x0.to(dev).float()
    tokens = None
    if features is not None:
        vids = random_views(len(x0), k, features.shape[1], seed)
        tokens = dit.view_tokens(features[torch.arange(len(x0))[:, None], vids].to(dev).float(),
                                 pose_emb.to(dev)[vids.to(dev)])
    dit.eval()
    with torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
        return loss_by_timestep(lambda x, t, rows: dit(x, t, *(() if tokens is None else (tokens[rows],))),
                                x0, schedule, timesteps, seed=seed, batch=batch)
