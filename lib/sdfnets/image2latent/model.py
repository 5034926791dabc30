"""The trained phase-12 model as image -> mesh runs it: the latent DiT with the latent normalisation
and the encoder's name (the shared :class:`~sdfnets.diffusion.sampler.DiffusionModel`), loaded from a
run's checkpoint, and the projection of predicted latents onto the training latents' manifold."""

from __future__ import annotations

from pathlib import Path

import torch

from ..diffusion.dit import LatentDiT
from ..diffusion.sampler import DiffusionModel, Standardiser
from ..io import load_checkpoint


class ImageToLatent(DiffusionModel):
    """A trained latent diffusion model: view features and poses -> 64-dim DeepSDF latents."""

    predict_batch = 1024

    @property
    def mean(self) -> torch.Tensor:  # [latent] latent normalisation: z_n = (z - mean) / std
        return self.norm.mean

    @property
    def std(self) -> torch.Tensor:  # [] one scalar
        return self.norm.std


def model_from_checkpoint(ck: dict, history, seconds, device) -> ImageToLatent:
    dit = LatentDiT.from_state(ck["dit"], ck["config"]).to(device)
    return ImageToLatent(dit.eval(), Standardiser(ck["mean"], ck["std"]), ck["config"], ck["encoder"], history, seconds)


def load_run(path: Path, device="cpu") -> ImageToLatent:
    """A finished run's ``final.pt``."""
    ck = load_checkpoint(path, device)
    return model_from_checkpoint(ck, ck["history"], ck["seconds"], device)


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
