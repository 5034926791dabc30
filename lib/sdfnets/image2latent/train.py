"""Training the latent diffusion transformer (notebook ``12``).

The model is :class:`~sdfnets.diffusion.dit.LatentDiT`, trained by the shared
:class:`~sdfnets.diffusion.train.DenoisingTrainer`; the trained model is an
:class:`~sdfnets.image2latent.model.ImageToLatent`.
Load-or-train (:mod:`sdfnets.train.loop`): a run lives in ``checkpoints/runs/dit/<name>-<key>/``;
``final.pt`` holds the model, the latent normalisation, the encoder's name and the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib

import torch

from .. import devices
from ..config import run_settings
from ..diffusion.dit import LatentDiT, ViewDenoiser
from ..diffusion.train import DenoisingTrainer
from ..layers import pose_embedding
from ..train import loop
from .model import ImageToLatent, model_from_checkpoint


def _key(cfg, latents: torch.Tensor, features_name: str, tag: str) -> dict:
    return {"image2latent": run_settings(cfg.image2latent), "seed": cfg.seed, "tag": tag, "encoder": features_name,
            "encoder_settings": run_settings(cfg.encoder),
            "latents": hashlib.sha256(latents.detach().cpu().float().numpy().tobytes()).hexdigest()[:16]}


def train_dit(cfg, latents: torch.Tensor, features: torch.Tensor, poses: torch.Tensor, *, encoder: str,
              tag: str = "full", device=None, max_steps: int | None = None, progress: bool = True,
              checkpoint_every: int = 2500, cuda_graph: bool = True, rank: int = 0, world: int = 1) -> ImageToLatent:
    """Load-or-train the model mapping views of shape i (``features[i]`` [V, F], ``poses`` [V, 4, 4])
    to its latent ``latents[i]``. Under torchrun pass ``rank`` / ``world`` (process group
    initialised); rank 0 writes the checkpoints."""
    dc = cfg.image2latent
    device = devices.default_device(device)
    run_dir = loop.run_dir("dit", tag, _key(cfg, latents, encoder, tag))
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

    r = loop.load_or_train(make_trainer, run_dir, desc=f"latent DiT ({tag})", log_every=100,
                           checkpoint_every=checkpoint_every, max_steps=max_steps, progress=progress,
                           write=rank == 0, device=device,
                           extra={"mean": mean, "std": std, "encoder": encoder, "config": dataclasses.asdict(dc)})
    return model_from_checkpoint(r.state, r.history, r.seconds, device)


def phase12(cfg, dataset, train_ids, features: torch.Tensor, poses: torch.Tensor, encoder: str):
    """Phase 11's run on the training shapes and the phase-12 DiT on its latents, both load-or-train:
    the model that works, which notebooks 08, 12 and 16 measure. -> (DeepSDF run, ImageToLatent)."""
    from ..deepsdf.train import train

    run = train(cfg, dataset, train_ids)
    return run, train_dit(cfg, run.latents, features[train_ids], poses, encoder=encoder, tag="full")
