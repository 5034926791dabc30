"""The visual hull: the largest shape consistent with K silhouettes seen from known cameras.

A point of the unit cube is kept when it projects inside the object's mask in every view (Laurentini's
visual hull, carved on a grid). No learning: it is the baseline any image → 3-D method must beat from the same
views, and a constraint for one (the true surface lies inside the hull, so ``max(sdf, hull_sdf)`` can only
help). Concavities no silhouette sees (a seat between armrests, a bowl's inside) stay filled.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..data.cameras import project
from ..data.render import foreground
from ..field import BOUND, grid_points


def carve(masks: np.ndarray, poses: np.ndarray, yfov: float, resolution: int = 128,
          bound: float = BOUND, dilate: int = 0) -> np.ndarray:
    """Occupancy [R, R, R] (x slowest, as :func:`sdfnets.field.grid_points`) of the hull of ``masks`` [K, H, W]
    seen from ``poses`` [K, 4, 4]. ``dilate`` grows each mask by that many pixels first (keeps parts thinner than
    the grid's step, at the price of a fatter hull); a point outside a view's image is carved (every render
    holds the whole unit sphere)."""
    masks = np.asarray(masks, bool)
    if dilate:
        masks = np.stack([ndimage.binary_dilation(m, iterations=dilate) for m in masks])
    pts = grid_points(resolution, bound=bound).double()
    keep = np.ones(len(pts), bool)
    for mask, pose in zip(masks, torch.as_tensor(np.asarray(poses)).double()):  # one view at a time
        uv, cam = (x[0, 0].numpy() for x in project(pts[torch.from_numpy(keep)][None], pose[None, None], yfov))
        h, w = mask.shape
        col = np.floor((uv[:, 0] + 1) / 2 * w).astype(np.int64)
        row = np.floor((uv[:, 1] + 1) / 2 * h).astype(np.int64)
        inside = (cam[:, 2] < 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        hit = np.zeros(inside.shape, bool)
        hit[inside] = mask[row[inside], col[inside]]
        idx = np.flatnonzero(keep)
        keep[idx[~hit]] = False
    return keep.reshape(resolution, resolution, resolution)


def hull_sdf(occupancy: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """A signed distance [R, R, R] to the hull's boundary (negative inside, world units), from Euclidean
    distance transforms of the occupancy and its complement; zero crossings lie between grid points."""
    step = 2 * bound / (occupancy.shape[0] - 1)
    outside = ndimage.distance_transform_edt(~occupancy) * step
    inside = ndimage.distance_transform_edt(occupancy) * step
    return np.where(occupancy, -inside + step / 2, outside - step / 2).astype(np.float32)


def visual_hull(images: np.ndarray, poses: np.ndarray, yfov: float, resolution: int = 128):
    """The hull of rendered views as a mesh (marching cubes of :func:`hull_sdf`), or None when nothing is left."""
    from ..field import grid_to_mesh

    occ = carve(foreground(images), np.asarray(poses), yfov, resolution)
    return grid_to_mesh(hull_sdf(occ)) if occ.any() else None


def constrain(sdf: torch.Tensor | np.ndarray, hull: torch.Tensor | np.ndarray):
    """A predicted SDF held inside the hull: the surface cannot lie where a silhouette says there is nothing."""
    if isinstance(sdf, torch.Tensor):
        return torch.maximum(sdf, torch.as_tensor(hull, dtype=sdf.dtype, device=sdf.device))
    return np.maximum(sdf, hull)


def measure(dataset, ids, images: np.ndarray, poses, yfov: float, resolution: int = 128, within=None,
            progress: bool = False) -> dict:
    """The hull of each shape's views (``images`` [M, K, H, W, 3], ``poses`` [M, K, 4, 4]) measured against the
    shape like any method's meshes: the summary (F-score, Chamfer, IoU, parts) and the rows. With ``within``
    (an iterable of another method's SDF grids on the same grid, one per shape): that method held inside the
    hull (:func:`constrain`) instead."""
    from .. import metrics

    ids = [int(i) for i in ids]
    hulls = (hull_sdf(carve(foreground(images[j]), poses[j], yfov, resolution)) for j in range(len(ids)))
    grids = hulls if within is None else (constrain(np.asarray(g), h) for g, h in zip(within, hulls))
    return metrics.measure_grids(((g, dataset.sdf(i), i) for g, i in zip(grids, ids)), ids, progress=progress,
                                 desc="visual hull")
