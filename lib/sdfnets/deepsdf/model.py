"""Phase 11's model (notebook ``11_deepsdf``): one shared SDF decoder, one latent per shape.

``f(z, x) = MLP(concat(z, PE(x)))`` with z a 64-dim latent and PE the positional encoding of
xyz with 6 frequency bands (3 + 2*3*6 = 39 dims), 103 inputs in all. Eight hidden ReLU layers of
width 512; the input is concatenated back in before the fifth (DeepSDF's skip connection).
That is 1,945,089 parameters, the thesis' "~1.95 M".
"""

from __future__ import annotations

import torch
from torch import nn

from ..field import field_to_mesh
from ..layers import PositionalEncoding


class Decoder(nn.Module):
    """``input_align`` > 1 pads the 103 inputs with zeros up to a multiple (tensor-core GEMMs want
    dimensions divisible by 8); the padded weight columns only ever see zeros, get zero gradients
    and stay zero, so the function is the unpadded one."""

    def __init__(self, latent_dim: int = 64, hidden: int = 512, num_layers: int = 8, skip_layer: int = 4,
                 pe_bands: int = 6, input_align: int = 1):
        super().__init__()
        self.pe = PositionalEncoding(pe_bands)
        self.latent_dim = latent_dim
        raw = latent_dim + self.pe.out_dim
        in_dim = -(-raw // input_align) * input_align
        self.pad = in_dim - raw
        self.skip_layer = skip_layer if 0 < skip_layer < num_layers else None
        dims = []
        for i in range(num_layers):
            d_in = in_dim if i == 0 else hidden
            if i == self.skip_layer:
                d_in += in_dim
            dims.append((d_in, hidden))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in dims)
        self.out = nn.Linear(hidden, 1)

    def forward(self, latents: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``latents`` [..., latent_dim] (broadcast against) ``points`` [..., 3] -> SDF [...]."""
        enc = self.pe(points)
        latents = latents.expand(*enc.shape[:-1], self.latent_dim)
        parts = [latents.to(enc.dtype), enc]
        if self.pad:
            parts.append(enc.new_zeros(*enc.shape[:-1], self.pad))
        inp = torch.cat(parts, dim=-1)
        h = inp
        for i, layer in enumerate(self.layers):
            if i == self.skip_layer:
                h = torch.cat([h, inp], dim=-1)
            h = torch.relu(layer(h))
        return self.out(h).squeeze(-1)

    @property
    def device(self) -> torch.device:
        return self.out.weight.device

    def field(self, latent: torch.Tensor):
        """The SDF of one latent as a function of points [M, 3] (for :mod:`sdfnets.field`)."""
        z = latent.to(self.device).reshape(1, -1)
        return lambda points: self(z, points)


def make_decoder(cfg) -> Decoder:
    """The decoder of a :class:`~sdfnets.config.DeepSDFConfig`."""
    return Decoder(cfg.latent_dim, cfg.hidden, cfg.num_layers, cfg.skip_layer, cfg.pe_bands, cfg.input_align)


def latent_to_mesh(decoder: Decoder, latent: torch.Tensor, resolution: int = 128):
    """Marching-cubes mesh of one latent's SDF (None where it never crosses zero)."""
    return field_to_mesh(decoder.field(latent), resolution, device=decoder.device)
