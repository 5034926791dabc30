"""Diffusion transformers (DiT, Peebles & Xie 2023) for the project's denoisers.

:class:`DiT` is the trunk every model builds on: the diffusion timestep, embedded and passed
through an MLP, modulates every block through AdaLN-Zero (shift, scale and a gate per sub-layer,
initialised so that each block starts as the identity); a block is optional self-attention among
the target's tokens, cross-attention to the conditioning tokens, then an MLP. The conditioning
tokens are views: an image feature concatenated with a sinusoidal embedding of the camera pose,
projected to the model width, with a learnt "no image" token for condition dropout.

:class:`LatentDiT` is phase 12's model: the 64-dim DeepSDF latent is a single token (so
self-attention would reduce to a linear map and is left out). :class:`WeightDiT` is the model of
the weight-space phases 2-10: a whole network's weight vector cut into a few tokens that attend to
each other and to the views (or, unconditional, to the learnt "no image" token alone).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import cudagraphs
from ..layers import timestep_embedding
from . import ddim


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
        self.latent_dim = self.dim = latent_dim
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


class WeightDiT(DiT):
    """Phases 2-10: noisy weight vector [B, D] -> predicted clean weight vector [B, D].

    The vector is cut into ``tokens`` contiguous chunks of ``ceil(D / tokens)`` entries rounded up to
    a multiple of 8 (bf16 tensor-core GEMMs want aligned sizes; an odd chunk made the step 2-3x
    slower), the last one zero-padded: 54,785 = 7 x 6,856 + 6,793 for the ReLU+PE decoder; one linear map turns every
    chunk into a token and a learnt position embedding says which chunk it is (the chunk-to-layer
    map is fixed, so the position names the layers a token holds). Blocks are self-attention among
    the chunk tokens, cross-attention to the view tokens, MLP. ``feature_dim=0`` builds the
    unconditional model: every block cross-attends to the one learnt null token."""

    def __init__(self, dim: int, tokens: int = 8, feature_dim: int = 0, d_model: int = 768, num_layers: int = 8,
                 num_heads: int = 12, pose_dim: int = 64):
        super().__init__()
        self.dim, self.tokens = dim, tokens
        self.chunk = -(-dim // (tokens * 8)) * 8
        self.token_in = nn.Linear(self.chunk, d_model)
        self.pos = nn.Parameter(torch.randn(1, tokens, d_model) * 0.02)
        if feature_dim:
            self.build_views(feature_dim, pose_dim, d_model)
        else:
            self.feature_dim, self.pose_dim = 0, pose_dim
            self.null_view = nn.Parameter(torch.zeros(1, 1, d_model))
        self.build_trunk(d_model, num_layers, num_heads, self.chunk, self_attention=True)

    def split(self) -> list[tuple[int, int]]:
        """[start, end) of every token's chunk in the weight vector."""
        return [(i * self.chunk, min((i + 1) * self.chunk, self.dim)) for i in range(self.tokens)]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor | None = None,
                pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Noisy weights [B, D], timesteps [B], view tokens [B, K, d] (None: unconditional) -> x0 [B, D]."""
        b = x_t.shape[0]
        x = F.pad(x_t, (0, self.chunk * self.tokens - self.dim)).reshape(b, self.tokens, self.chunk)
        if tokens is None:
            tokens = self.null_view.to(x.dtype).expand(b, 1, -1)
        out = self.trunk(self.token_in(x) + self.pos, t, tokens, pad_mask)
        return out.reshape(b, -1)[:, :self.dim]


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


@torch.no_grad()
def sample(dit: DiT, x: torch.Tensor, schedule: ddim.CosineDDIM, steps: int, tokens: torch.Tensor | None = None,
           pad_mask: torch.Tensor | None = None, *, guidance: float = 1.0, graphs: dict | None = None) -> torch.Tensor:
    """DDIM from the noise ``x`` with ``dit`` conditioned on view tokens [B, K, d] (None: the
    unconditional model). ``guidance`` != 1: classifier-free guidance against the "no image" token.
    On a GPU without guidance the whole loop is captured once per (batch, steps) as a CUDA graph and
    replayed (``graphs``: the cache; None runs eagerly)."""
    def loop(x, *cond):
        return ddim.sample(lambda y, t: dit(y, t, *cond), x, schedule, steps)

    cond = () if tokens is None else (tokens,) if pad_mask is None else (tokens, pad_mask)
    if guidance == 1.0:
        if graphs is not None and x.device.type == "cuda":
            return cudagraphs.graphed_call(graphs, loop, x, *cond, key=steps)
        return loop(x, *cond)
    null = dit.null_view.expand(x.shape[0], 1, -1)
    return ddim.sample(lambda y, t: dit(y, t, *cond), x, schedule, steps, uncond=lambda y, t: dit(y, t, null),
                       guidance=guidance)
