"""Layers and embeddings shared by the phases: the positional encoding of points (phases 0-11),
the timestep and camera-pose embeddings of the diffusion transformers (phases 2-12)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PositionalEncoding(nn.Module):
    """x -> [x, sin(2^k pi x), cos(2^k pi x)] for k < num_bands (NeRF's encoding)."""

    def __init__(self, num_bands: int = 6):
        super().__init__()
        self.register_buffer("freqs", (2.0 ** torch.arange(num_bands)) * math.pi, persistent=False)
        self.out_dim = 3 + 3 * 2 * num_bands

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply_freqs(x, self.freqs)

    @staticmethod
    def encode(x: torch.Tensor, num_bands: int = 6) -> torch.Tensor:
        freqs = (2.0 ** torch.arange(num_bands, device=x.device, dtype=x.dtype)) * math.pi
        return PositionalEncoding._apply_freqs(x, freqs)

    @staticmethod
    def _apply_freqs(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        xf = x[..., None] * freqs  # [..., 3, bands]
        return torch.cat([x, xf.sin().flatten(-2), xf.cos().flatten(-2)], dim=-1)


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10_000.0) -> torch.Tensor:
    """Diffusion timesteps [B] -> [B, dim] sinusoids (DiT's / ADM's embedding)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


def pose_embedding(poses: torch.Tensor, dim: int = 64) -> torch.Tensor:
    """Camera-to-world poses [..., 4, 4] -> [..., dim]: sin/cos of the camera's azimuth and
    elevation at dim/4 frequencies each (1 to 128 cycles per turn, geometric)."""
    d = F.normalize(poses[..., :3, 3], dim=-1)
    az, el = torch.atan2(d[..., 0], d[..., 2]), torch.asin(d[..., 1].clamp(-1, 1))
    freqs = 2 ** torch.linspace(0, 7, dim // 4, device=poses.device)
    ang = torch.stack([az, el], dim=-1)[..., None] * freqs  # [..., 2, dim/4]
    return torch.cat([ang.sin(), ang.cos()], dim=-1).flatten(-2)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
