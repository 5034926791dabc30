"""Evaluating phase 11 (notebook ``11_deepsdf``): per-shape SDF error, meshes measured against
the truth, interpolation. Test-time reconstruction of unseen shapes is :mod:`.reconstruct`; the
metrics themselves are :mod:`sdfnets.metrics`."""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics
from ..data.bank import SDFBank
from ..field import clamped_l1, sdf_grid
from .model import latent_to_mesh


@torch.no_grad()
def per_shape_sdf_l1(decoder, latents: torch.Tensor, bank: SDFBank, num_points: int = 32_768,
                     clamp: float = 0.1, seed: int = 0, chunk: int = 16) -> np.ndarray:
    """Clamped-L1 SDF error of each shape on a fixed random subset of its samples (the training
    loss without the regulariser)."""
    out = []
    for ids, pts, sdf in bank.fixed_subsets(num_points, seed, chunk):
        pred = decoder(latents[ids][:, None, :].to(pts.device), pts).float()
        out.append(clamped_l1(pred, sdf, clamp).mean(dim=1).cpu())
    return torch.cat(out).numpy()


def mesh_and_metrics(decoder, latents: torch.Tensor, dataset, obj_ids, resolution: int = 128,
                     progress: bool = True, workers: int | None = None):
    """Decode the mesh of ``latents[k]`` and measure it against shape ``obj_ids[k]``'s samples; each
    row also holds the mesh's connected parts (:func:`sdfnets.metrics.components`). The SDF grids
    are computed one by one on the decoder's device while worker processes (``workers``, default
    every core from 4 cores up) run marching cubes and the metrics of the grids before them."""
    ids = [int(i) for i in obj_ids]
    jobs = ((sdf_grid(decoder.field(z), resolution, device=decoder.device), dataset.sdf(i), i)
            for z, i in zip(latents, ids))
    return metrics.grids_and_metrics(jobs, ids, progress=progress, workers=workers)


def interpolate(decoder, z0: torch.Tensor, z1: torch.Tensor, num: int = 5, resolution: int = 96):
    """Meshes along the straight line between two latents."""
    return [latent_to_mesh(decoder, (1 - t) * z0 + t * z1, resolution) for t in np.linspace(0, 1, num)]


def spread_and_worst(errors: np.ndarray, num: int, worst: int = 4) -> list[int]:
    """Rows to mesh: ``num`` spread evenly over the shapes sorted by error, plus the ``worst`` worst."""
    order = np.argsort(errors)
    spread = np.linspace(0, len(order) - 1, min(num, len(order))).astype(int)
    return sorted(set(order[spread].tolist()) | set(order[-worst:].tolist()))


def other_category(categories: list[str], rows: list[int]) -> tuple[int, int]:
    """Two rows of ``rows`` from different categories (for an interpolation), or the first and last."""
    a = rows[0]
    return a, next((k for k in rows if categories[k] != categories[a]), rows[-1])
