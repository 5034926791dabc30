"""Diffusion transformers (DiT, Peebles & Xie 2023) for the project's denoisers.

:class:`DiT` is the trunk every model builds on: the diffusion timestep, embedded and passed
through an MLP, modulates every block through AdaLN-Zero (shift, scale and a gate per sub-layer,
initialised so that each block starts as the identity); a block is optional self-attention among
the target's tokens, cross-attention to the conditioning tokens, then an MLP. The conditioning
tokens are views: an image feature concatenated with a sinusoidal embedding of the camera pose,
projected to the model width, with a learnt "no image" token for condition dropout.

:class:`LatentDiT` is phase 12's model: the 64-dim DeepSDF latent is a single token (so
self-attention would reduce to a linear map and is left out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import timestep_embedding


def _modulate(x, shift, scale):
    return x * (1 + scale) + shift


class Attention(nn.Module):
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
    """[self-attention ->] cross-attention -> MLP, each behind its AdaLN-Zero modulation and gate."""

    def __init__(self, d: int, heads: int, mlp_ratio: int = 4, self_attention: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp_ratio * d), nn.GELU(approximate="tanh"), nn.Linear(mlp_ratio * d, d))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)
        self.self_attn = None
        if self_attention:
            self.norm0 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
            self.self_attn = Attention(d, heads)
            self.ada0 = nn.Sequential(nn.SiLU(), nn.Linear(d, 3 * d))
            nn.init.zeros_(self.ada0[1].weight)
            nn.init.zeros_(self.ada0[1].bias)

    def forward(self, x, views, pad_mask, c):
        if self.self_attn is not None:
            s0, sc0, g0 = self.ada0(c)[:, None].chunk(3, dim=-1)
            h = _modulate(self.norm0(x), s0, sc0)
            x = x + g0 * self.self_attn(h, h)
        s1, sc1, g1, s2, sc2, g2 = self.ada(c)[:, None].chunk(6, dim=-1)
        kv = self.norm_kv(views)
        h = _modulate(self.norm1(x), s1, sc1)
        x = x + g1 * self.attn(h, kv, pad_mask)
        return x + g2 * self.mlp(_modulate(self.norm2(x), s2, sc2))


class DiT(nn.Module):
    """The trunk. A model creates its input layers, then :meth:`build_views` and :meth:`build_trunk`
    (in that order: parameters are initialised in creation order, which fixes a seeded model)."""

    def build_views(self, feature_dim: int, pose_dim: int, d: int) -> None:
        self.feature_dim, self.pose_dim = feature_dim, pose_dim
        self.view_in = nn.Linear(feature_dim + pose_dim, d)
        self.null_view = nn.Parameter(torch.zeros(1, 1, d))  # the "no image" token of condition dropout

    def build_trunk(self, d: int, num_layers: int, num_heads: int, out_dim: int, self_attention: bool = False) -> None:
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, num_heads, self_attention=self_attention) for _ in range(num_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, out_dim)
        for m in (self.ada_out[1], self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def view_tokens(self, features: torch.Tensor, pose_emb: torch.Tensor) -> torch.Tensor:
        """Image features [..., F] and pose embeddings [..., P] -> view tokens [..., d]."""
        return self.view_in(torch.cat([features, pose_emb], dim=-1))

    def trunk(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor,
              pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Target tokens [B, n, d], timesteps [B], view tokens [B, K, d] -> outputs [B, n, out_dim]."""
        c = self.t_mlp(timestep_embedding(t))
        for blk in self.blocks:
            x = blk(x, tokens, pad_mask, c)
        shift, scale = self.ada_out(c)[:, None].chunk(2, dim=-1)
        return self.out(_modulate(self.norm_out(x), shift, scale))


class LatentDiT(DiT):
    """Phase 12: noisy latent [B, latent] (one token) + view tokens -> predicted clean latent."""

    def __init__(self, latent_dim: int = 64, feature_dim: int = 768, d_model: int = 384, num_layers: int = 4,
                 num_heads: int = 6, pose_dim: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        self.latent_in = nn.Linear(latent_dim, d_model)
        self.build_views(feature_dim, pose_dim, d_model)
        self.build_trunk(d_model, num_layers, num_heads, latent_dim)

    @classmethod
    def from_state(cls, state: dict, config: dict) -> "LatentDiT":
        """The model whose weights are ``state`` (sizes read from the weights and ``config``)."""
        dit = cls(state["out.weight"].shape[0], state["view_in.weight"].shape[1] - config["pose_dim"],
                  config["d_model"], config["num_layers"], config["num_heads"], config["pose_dim"])
        dit.load_state_dict(state)
        return dit

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor,
                pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Noisy latents [B, latent], timesteps [B], view tokens [B, K, d] -> predicted x0 [B, latent]."""
        return self.trunk(self.latent_in(x_t)[:, None], t, tokens, pad_mask)[:, 0]


class ViewDenoiser(nn.Module):
    """The training forward of a view-conditioned DiT in one module (what DDP wraps): view tokens,
    the "no image" token for dropped rows, the DiT."""

    def __init__(self, dit: DiT):
        super().__init__()
        self.dit = dit

    def forward(self, x_t, t, features, pose_emb, drop, pad):
        tokens = self.dit.view_tokens(features, pose_emb)
        tokens = torch.where(drop[:, None, None], self.dit.null_view.to(tokens.dtype).expand_as(tokens), tokens)
        return self.dit(x_t, t, tokens, pad)
