"""Weight-only int8 storage for the releases (the repository's size budget): each matrix or convolution kernel
as int8 with one float16 scale per output row, symmetric. Hand-written because it is four lines; the
libraries that do this (torchao, bitsandbytes) quantise for fast inference, which the releases do not need."""

from __future__ import annotations

import torch


def quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8: ``w ~ q * scale`` along the first dimension (a matrix's rows, a kernel's output
    channels)."""
    scale = (w.detach().abs().flatten(1).amax(dim=1) / 127.0).clamp_min(1e-12)
    rows = scale.reshape(-1, *[1] * (w.dim() - 1))
    return torch.round(w.detach() / rows).clamp(-127, 127).to(torch.int8), scale.half()


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale.float().reshape(-1, *[1] * (q.dim() - 1))
