"""Evaluating phase 11 (notebook ``11_deepsdf``): per-shape SDF error, latent geometry, meshes,
test-time reconstruction of unseen shapes (DeepSDF's auto-decoder inference) and interpolation."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .. import metrics
from .mesh import latent_to_mesh  # noqa: F401  (re-exported for the notebooks)
from .train import SDFBank, clamped_l1


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


def pairwise_cosines(vectors: torch.Tensor | np.ndarray) -> np.ndarray:
    """Off-diagonal cosine similarities of the rows (the thesis' 'latent pairwise cosine')."""
    v = torch.as_tensor(vectors, dtype=torch.float64)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    c = v @ v.T
    return c[~torch.eye(len(v), dtype=torch.bool)].numpy()


def train_test_ids(dataset) -> tuple[list[int], list[int]]:
    """Shapes to train on (the train split) and to reconstruct unseen (the test split). A tiny
    corpus with an empty test split lends its last training shape to it."""
    train, test = dataset.split("train"), dataset.split("test")
    if not test and len(train) > 1:
        train, test = train[:-1], train[-1:]
    return train, test


def mesh_and_metrics(decoder, latents: torch.Tensor, dataset, obj_ids, resolution: int = 128,
                     progress: bool = True):
    """Decode the mesh of ``latents[k]`` and measure it against shape ``obj_ids[k]``'s samples."""
    meshes, rows = [], []
    for z, i in tqdm(list(zip(latents, obj_ids)), desc="mesh", unit="shape", disable=not progress):
        mesh = latent_to_mesh(decoder, z, resolution)
        meshes.append(mesh)
        rows.append({"obj_idx": int(i), **metrics.mesh_metrics(mesh, dataset.sdf(int(i)), seed=int(i))})
    return meshes, rows


def summarize(rows: list[dict]) -> dict:
    """Mean of each metric over shapes (NaN-aware), and how many meshes came out empty."""
    keys = ("chamfer_l1", "chamfer_l2", "fscore", "normal_consistency", "iou")
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    out["empty_meshes"] = int(sum(np.isnan(r["chamfer_l1"]) for r in rows))
    return out


def fit_latents(decoder, points: torch.Tensor, sdf: torch.Tensor, *, steps: int = 800, lr: float = 5e-3,
                latent_reg: float = 1e-4, clamp: float = 0.1, init_std: float = 0.01, points_per_step: int = 8192,
                seed: int = 0) -> torch.Tensor:
    """DeepSDF's test-time reconstruction: the decoder frozen, one latent per shape optimised to
    fit that shape's observed SDF samples. ``points`` [T, P, 3], ``sdf`` [T, P] -> latents [T, D].
    The T fits are independent; they run as one batch."""
    device = next(decoder.parameters()).device
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
            pred = decoder(z[:, None, :], points[rows, idx]).float()
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


def interpolate(decoder, z0: torch.Tensor, z1: torch.Tensor, num: int = 5, resolution: int = 96):
    """Meshes along the straight line between two latents."""
    return [latent_to_mesh(decoder, (1 - t) * z0 + t * z1, resolution) for t in np.linspace(0, 1, num)]
