"""Phase 12's latent diffusion transformer (notebook ``12_image_to_latent``).

The DeepSDF latent (64 dims, normalised) is one token. It cross-attends to K view tokens, each
an image feature concatenated with a 64-dim sinusoidal embedding of the camera pose; the
diffusion timestep modulates every block through AdaLN-Zero (DiT, Peebles & Xie 2023). With a
single latent token, self-attention would reduce to a linear map, so a block is cross-attention
then an MLP, each behind its AdaLN modulation and gate.

The noise schedule and sampler are the thesis': cosine schedule (``squaredcos_cap_v2``) with
T = 500, the network predicts x0, DDIM with 50 steps and eta = 0. :class:`CosineDDIM` writes them
out (25 lines) so that training and sampling run where diffusers is not installed (GPU nodes
without network, the CPU demo); ``tests/test_image2latent.py`` checks it step for step against
diffusers' ``DDIMScheduler`` configured the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CosineDDIM:
    """Cosine-schedule DDPM forward process and deterministic DDIM sampling with x0-prediction
    (diffusers: ``DDIMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2",
    prediction_type="sample", clip_sample=False)``, "leading" timestep spacing)."""

    def __init__(self, timesteps: int = 500):
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / timesteps) / alpha_bar(i / timesteps), 0.999) for i in range(timesteps)]
        self.T = timesteps
        self.alphas_cumprod = torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0).float()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ac = self.alphas_cumprod.to(x0.device)[t].reshape(-1, *[1] * (x0.dim() - 1))
        return ac.sqrt() * x0 + (1 - ac).sqrt() * noise

    def timesteps(self, steps: int) -> list[int]:
        ratio = self.T // steps
        return [i * ratio for i in reversed(range(steps))]

    def step(self, x0: torch.Tensor, t: int, x_t: torch.Tensor, steps: int) -> torch.Tensor:
        """One DDIM step (eta = 0) from timestep ``t`` given the predicted x0."""
        ac = self.alphas_cumprod
        prev = t - self.T // steps
        a_t, a_prev = float(ac[t]), float(ac[prev]) if prev >= 0 else 1.0
        eps = (x_t - a_t**0.5 * x0) / (1 - a_t) ** 0.5
        return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def pose_embedding(poses: torch.Tensor, dim: int = 64) -> torch.Tensor:
    """Camera-to-world poses [..., 4, 4] -> [..., dim]: sin/cos of the camera's azimuth and
    elevation at dim/4 frequencies each (1 to 128 cycles per turn, geometric)."""
    d = F.normalize(poses[..., :3, 3], dim=-1)
    az, el = torch.atan2(d[..., 0], d[..., 2]), torch.asin(d[..., 1].clamp(-1, 1))
    freqs = 2 ** torch.linspace(0, 7, dim // 4, device=poses.device)
    ang = torch.stack([az, el], dim=-1)[..., None] * freqs  # [..., 2, dim/4]
    return torch.cat([ang.sin(), ang.cos()], dim=-1).flatten(-2)


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10_000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


def _modulate(x, shift, scale):
    return x * (1 + scale) + shift


class CrossAttention(nn.Module):
    """Multi-head attention of query tokens to key/value tokens (PyTorch's fused SDPA kernel)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.kv, self.proj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).reshape(b, ctx.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None if pad_mask is None else ~pad_mask[:, None, None, :]  # True = attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = CrossAttention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp_ratio * d), nn.GELU(approximate="tanh"), nn.Linear(mlp_ratio * d, d))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x, views, pad_mask, c):
        s1, sc1, g1, s2, sc2, g2 = self.ada(c)[:, None].chunk(6, dim=-1)
        kv = self.norm_kv(views)
        h = _modulate(self.norm1(x), s1, sc1)
        x = x + g1 * self.attn(h, kv, pad_mask)
        return x + g2 * self.mlp(_modulate(self.norm2(x), s2, sc2))


class LatentDiT(nn.Module):
    def __init__(self, latent_dim: int = 64, feature_dim: int = 768, d_model: int = 384, num_layers: int = 4,
                 num_heads: int = 6, pose_dim: int = 64):
        super().__init__()
        d = d_model
        self.latent_dim, self.feature_dim, self.pose_dim = latent_dim, feature_dim, pose_dim
        self.latent_in = nn.Linear(latent_dim, d)
        self.view_in = nn.Linear(feature_dim + pose_dim, d)
        self.null_view = nn.Parameter(torch.zeros(1, 1, d))  # the "no image" token of guidance training
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, num_heads) for _ in range(num_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, latent_dim)
        for m in (self.ada_out[1], self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def view_tokens(self, features: torch.Tensor, pose_emb: torch.Tensor) -> torch.Tensor:
        return self.view_in(torch.cat([features, pose_emb], dim=-1))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor,
                pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Noisy latents [B, latent], timesteps [B], view tokens [B, K, d] -> predicted x0 [B, latent]."""
        c = self.t_mlp(timestep_embedding(t))
        x = self.latent_in(x_t)[:, None]
        for blk in self.blocks:
            x = blk(x, tokens, pad_mask, c)
        shift, scale = self.ada_out(c)[:, None].chunk(2, dim=-1)
        return self.out(_modulate(self.norm_out(x), shift, scale))[:, 0]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
