"""Learning-rate schedules, shared by every trainer."""

from __future__ import annotations

import math

import torch


def cosine(step: int, total: int, floor: float = 0.05) -> float:
    """Cosine decay from 1 to ``floor`` over ``total`` steps."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / total))


def linear_warmup(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / max(warmup, 1))


def set_lr(opt: torch.optim.Optimizer, lrs) -> None:
    """Set each parameter group's learning rate; in place where it is a tensor (a captured CUDA graph
    reads it from that memory)."""
    for g, lr in zip(opt.param_groups, lrs):
        g["lr"].fill_(lr) if torch.is_tensor(g["lr"]) else g.__setitem__("lr", lr)


def tensor_lrs(opt: torch.optim.Optimizer, device) -> None:
    """Learning rates as device tensors, as a graph-captured ``capturable`` optimiser needs them."""
    for g in opt.param_groups:
        g["lr"] = torch.as_tensor(g["lr"], dtype=torch.float32, device=device)
