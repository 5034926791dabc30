"""Training the latent diffusion transformer and sampling latents from views (notebook ``12``).

The model is :class:`~sdfnets.diffusion.dit.LatentDiT`, trained by the shared
:class:`~sdfnets.diffusion.train.DenoisingTrainer` and sampled by the shared DDIM sampler.
Load-or-train (:mod:`sdfnets.runs`): a run lives in ``checkpoints/runs/dit/<name>-<key>/``;
``final.pt`` holds the model, the latent normalisation, the encoder's name and the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import runs
from ..diffusion import ddim
from ..data.splits import random_views
from ..diffusion.dit import LatentDiT, ViewDenoiser
from ..diffusion.dit import sample as dit_sample
from ..diffusion.train import DenoisingTrainer, view_loss_profile
from ..io import load_checkpoint
from ..layers import pose_embedding


@dataclass
class ImageToLatent:
    """A trained latent diffusion model with what it needs to run: normalisation and encoder name."""

    dit: LatentDiT
    mean: torch.Tensor  # [latent] latent normalisation: z_n = (z - mean) / std
    std: torch.Tensor  # [] one scalar
    encoder: str
    config: dict
    history: list = field(default_factory=list)  # (step, loss EMA)
    seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def schedule(self) -> ddim.CosineDDIM:
        return ddim.CosineDDIM(self.config["timesteps"])

    @torch.no_grad()
    def sample(self, features: torch.Tensor, poses: torch.Tensor, *, seed: int = 0, steps: int | None = None,
               guidance: float | None = None, encoder: str | None = None, graphed: bool = True) -> torch.Tensor:
        """Latents [B, latent] from view features [B, K, F] and camera poses [B, K, 4, 4]. On a GPU
        the DDIM loop is replayed as a CUDA graph unless ``graphed=False``."""
        if encoder is not None and encoder != self.encoder:
            raise ValueError(f"this model was trained on {self.encoder!r} features, not {encoder!r}")
        cfg, dev = self.config, self.device
        steps = steps or cfg["sample_steps"]
        guidance = cfg["guidance"] if guidance is None else guidance
        features, poses = features.to(dev).float(), poses.to(dev).float()
        if features.shape[-1] != self.dit.feature_dim:
            raise ValueError(f"features have {features.shape[-1]} dims; the model expects {self.dit.feature_dim}")
        self.dit.eval()
        tokens = self.dit.view_tokens(features, pose_embedding(poses, self.dit.pose_dim))
        g = torch.Generator(device=dev).manual_seed(seed)
        x = torch.randn(features.shape[0], self.dit.latent_dim, generator=g, device=dev)
        x = dit_sample(self.dit, x, self.schedule, steps, tokens, guidance=guidance,
                       graphs=self.__dict__.setdefault("_graphs", {}) if graphed else None)
        return x * self.std.to(dev) + self.mean.to(dev)

    def loss_profile(self, latents: torch.Tensor, features: torch.Tensor, poses: torch.Tensor, timesteps, *,
                     k: int = 1, seed: int = 0) -> np.ndarray:
        """The training loss (normalised x0-MSE) at each timestep on ``latents`` [N, D], row i
        conditioned on ``k`` seeded random views of its shape (``features`` [N, V, F])."""
        dev = self.device
        z = (latents.to(dev).float() - self.mean.to(dev)) / self.std.to(dev)
        return view_loss_profile(self.dit, z, self.schedule, timesteps, features=features,
                                 pose_emb=pose_embedding(poses.to(dev).float(), self.dit.pose_dim), k=k, seed=seed)


EVAL_ONLY = ("mesh_resolution", "eval_views", "test_shapes", "pilot_shapes", "guidance", "sample_steps", "scaling_shapes",
             "scaling_eval_shapes", "scaling_epochs", "scaling_dit_steps", "ood_neighbours",
             "refine_steps", "refine_lr", "refine_res", "refine_samples", "refine_trust", "best_of")


def _key(cfg, latents: torch.Tensor, features_name: str, tag: str) -> dict:
    body = {"image2latent": dataclasses.asdict(cfg.image2latent), "seed": cfg.seed, "tag": tag,
            "encoder": features_name,
            "latents": hashlib.sha256(latents.detach().cpu().float().numpy().tobytes()).hexdigest()[:16]}
    for k in EVAL_ONLY:
        body["image2latent"].pop(k)
    return body


def train_dit(cfg, latents: torch.Tensor, features: torch.Tensor, poses: torch.Tensor, *, encoder: str,
              tag: str = "full", device=None, max_steps: int | None = None, progress: bool = True,
              checkpoint_every: int = 2500, cuda_graph: bool = True, rank: int = 0, world: int = 1) -> ImageToLatent:
    """Load-or-train the model mapping views of shape i (``features[i]`` [V, F], ``poses`` [V, 4, 4])
    to its latent ``latents[i]``. Under torchrun pass ``rank`` / ``world`` (process group
    initialised); rank 0 writes the checkpoints."""
    dc = cfg.image2latent
    device = runs.default_device(device)
    run_dir = runs.run_dir("dit", tag, _key(cfg, latents, encoder, tag))
    latents, features = latents.to(device).float(), features.to(device).float()
    mean = latents.mean(0)
    std = (latents - mean).std().clamp_min(1e-8)

    def make_trainer() -> DenoisingTrainer:
        torch.manual_seed(cfg.seed)
        dit = LatentDiT(latents.shape[1], features.shape[2], dc.d_model, dc.num_layers, dc.num_heads,
                        dc.pose_dim).to(device)
        model = ViewDenoiser(dit)
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(model)
        return DenoisingTrainer(model, dit, (latents - mean) / std, dc, seed=cfg.seed, features=features,
                                pose_emb=pose_embedding(poses.to(device).float(), dc.pose_dim), device=device,
                                cuda_graph=cuda_graph, rank=rank, world=world)

    r = runs.load_or_train(make_trainer, run_dir, desc=f"latent DiT ({tag})", log_every=100,
                           checkpoint_every=checkpoint_every, max_steps=max_steps, progress=progress,
                           write=rank == 0, device=device,
                           extra={"mean": mean, "std": std, "encoder": encoder, "config": dataclasses.asdict(dc)})
    return _model(r.state, r.history, r.seconds, device)


def _model(ck: dict, history, seconds, device) -> ImageToLatent:
    dit = LatentDiT.from_state(ck["dit"], ck["config"]).to(device)
    return ImageToLatent(dit.eval(), ck["mean"], ck["std"], ck["encoder"], ck["config"], history, seconds)


def load_run(path: Path, device="cpu") -> ImageToLatent:
    """A finished run's ``final.pt``."""
    ck = load_checkpoint(path, device)
    return _model(ck, ck["history"], ck["seconds"], device)


def predict(model: ImageToLatent, features: torch.Tensor, poses: torch.Tensor, shape_ids, k: int, seed: int = 0,
            batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents of shapes ``shape_ids`` from ``k`` random views each: (latents [M, D], views [M, k])."""
    ids = torch.as_tensor(list(shape_ids), dtype=torch.long)
    vids = random_views(len(ids), k, features.shape[1], seed)
    out = []
    for s in range(0, len(ids), batch):
        f = features[ids[s:s + batch, None], vids[s:s + batch]]
        out.append(model.sample(f, poses[vids[s:s + batch]], seed=seed + s).cpu())
    return torch.cat(out), vids


def onto_training_latents(z: torch.Tensor, bank: torch.Tensor, k: int = 8, blend: float = 1.0) -> torch.Tensor:
    """Pull predicted latents ``z`` [M, D] onto the training latents' manifold: each row moves by
    ``blend`` towards a kernel average of its ``k`` nearest training latents ``bank`` [N, D]
    (Euclidean; weights softmax(-d^2 / mean d^2) over the k, so the average lies in their convex
    hull). ``blend`` 0 keeps ``z``; 1 replaces it by the average; k = 1 and blend 1 is retrieval."""
    z, bank = z.float(), bank.to(z.device).float()
    d2 = torch.cdist(z, bank).pow(2)
    near, idx = d2.topk(min(k, len(bank)), dim=1, largest=False)
    w = torch.softmax(-near / near.mean(1, keepdim=True).clamp_min(1e-12), dim=1)
    avg = (w[..., None] * bank[idx]).sum(1)
    return torch.lerp(z, avg, blend)
