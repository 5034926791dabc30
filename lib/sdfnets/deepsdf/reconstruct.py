"""DeepSDF's test-time reconstruction (notebook ``11_deepsdf``): the decoder frozen, a latent fitted
to an unseen shape's observations (its SDF samples, or an oriented surface point cloud alone), as
DeepSDF keeps it apart from evaluation (``reconstruct.py``)."""

from __future__ import annotations

import numpy as np
import torch

from ..field import clamped_l1
from . import fused as fz


def fit_latents(decoder, points: torch.Tensor, sdf: torch.Tensor, *, steps: int = 800, lr: float = 5e-3,
                latent_reg: float = 1e-4, clamp: float = 0.1, init_std: float = 0.01, points_per_step: int = 8192,
                seed: int = 0, fused: bool | None = None) -> torch.Tensor:
    """DeepSDF's test-time reconstruction: the decoder frozen, one latent per shape optimised to
    fit that shape's observed SDF samples. ``points`` [T, P, 3], ``sdf`` [T, P] -> latents [T, D].
    The T fits are independent; they run as one batch. ``fused``: the decoder through the fused
    kernels (:func:`.fused.ops_for`; None: where they are compiled, in bf16 as the decoder was trained),
    else as a module in float32."""
    device = next(decoder.parameters()).device
    ops = fz.ops_for(device, fused)
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    points, sdf = points.to(device), sdf.to(device)
    t, p = sdf.shape
    z = (torch.randn(t, decoder.latent_dim, device=device, generator=g) * init_std).requires_grad_()
    opt = torch.optim.Adam([z], lr=lr)
    rows = torch.arange(t, device=device)[:, None]
    frozen = [q.requires_grad for q in decoder.parameters()]
    for q in decoder.parameters():
        q.requires_grad_(False)
    try:
        for step in range(steps):
            idx = torch.randint(p, (t, min(points_per_step, p)), generator=g, device=device)
            pred = fz.frozen_sdf(decoder, z, points[rows, idx], ops)
            loss = clamped_l1(pred, sdf[rows, idx], clamp).mean(dim=1).sum() + latent_reg * z.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step == steps // 2:
                for grp in opt.param_groups:
                    grp["lr"] = lr / 10
    finally:
        for q, r in zip(decoder.parameters(), frozen):
            q.requires_grad_(r)
    return z.detach()


def samples_from_point_cloud(points: np.ndarray, normals: np.ndarray, eps: float = 0.01):
    """SDF samples from an oriented point cloud: 0 on the surface, +-eps along the normals.
    ``points``/``normals`` [..., M, 3] -> (points [..., 3M, 3], sdf [..., 3M])."""
    pts = np.concatenate([points, points + eps * normals, points - eps * normals], axis=-2)
    zero = np.zeros(points.shape[:-1])
    sdf = np.concatenate([zero, zero + eps, zero - eps], axis=-1)
    return torch.as_tensor(pts, dtype=torch.float32), torch.as_tensor(sdf, dtype=torch.float32)


def reconstruct(decoder, dataset, obj_ids, *, source: str = "sdf", steps: int = 800, num_points: int = 30_000,
                seed: int = 0) -> torch.Tensor:
    """Latents for unseen shapes, fitted to their SDF samples (``source="sdf"``) or to an oriented
    surface point cloud alone (``source="points"``)."""
    if source == "sdf":
        data = [dataset.sdf(int(i)) for i in obj_ids]
        rng = np.random.default_rng(seed)  # samples are stored near-surface first: take a random subset
        keep = [rng.choice(len(d["sdf"]), min(len(d["sdf"]), num_points * 4), replace=False) for d in data]
        pts = torch.from_numpy(np.stack([d["points"][k] for d, k in zip(data, keep)]))
        sdf = torch.from_numpy(np.stack([d["sdf"][k] for d, k in zip(data, keep)]))
    elif source == "points":
        data = [dataset.sdf(int(i)) for i in obj_ids]
        pts, sdf = samples_from_point_cloud(np.stack([d["surface_points"][:num_points] for d in data]),
                                            np.stack([d["surface_normals"][:num_points] for d in data]))
    else:
        raise ValueError(f"source must be 'sdf' or 'points', not {source!r}")
    return fit_latents(decoder, pts, sdf, steps=steps, seed=seed)
