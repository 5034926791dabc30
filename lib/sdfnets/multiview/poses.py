"""Poses for views taken from unknown directions, for the pixel-aligned network: a first shape from the
default poses (:func:`sdfnets.data.cameras.default_poses`) on a coarse grid, then each view's camera searched
on a grid of directions by how well that shape's silhouette from there matches the view's (IoU), and the
shape predicted again from the found poses; ``rounds`` repeats the search from the new shape.

The same search as phase 12's (:func:`sdfnets.image2latent.refine.estimate_poses`), with the shape given as
an SDF grid instead of a latent: silhouettes are cast by marching each candidate camera's rays through the
grid (trilinear samples; a ray is inside where its smallest sample is negative).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.cameras import CAMERA_DISTANCE, camera_pose, default_poses
from ..field import BOUND
from ..image2latent.refine import camera_rays, foreground_masks, ray_points, silhouette_iou
from .pixelsdf import PixelSDF, sdf_grid

ELEVATIONS = (-20.0, 0.0, 20.0, 40.0, 60.0)


def candidate_poses(azimuths: int = 24, elevations=ELEVATIONS, distance: float = CAMERA_DISTANCE) -> np.ndarray:
    """Cameras [C, 4, 4] looking at the origin from every azimuth step and elevation."""
    return np.stack([camera_pose(a, e, distance) for e in elevations for a in np.arange(azimuths) * 360.0 / azimuths])


@torch.no_grad()
def grid_silhouettes(grid: np.ndarray, poses: np.ndarray, yfov: float, res: int = 24, samples: int = 48,
                     chunk: int = 32) -> torch.Tensor:
    """Hard silhouettes [C, res * res] (bool) of the SDF ``grid`` [R, R, R] (on :func:`sdfnets.field.grid_points`:
    x slowest) seen by cameras ``poses`` [C, 4, 4]."""
    vol = torch.as_tensor(np.asarray(grid), dtype=torch.float32)[None, None]  # [1, 1, X, Y, Z]
    out = []
    for s in range(0, len(poses), chunk):
        o, d = camera_rays(torch.as_tensor(np.asarray(poses[s:s + chunk])).float(), float(yfov), res)
        pts, hit = ray_points(o, d, samples)  # [c, R, S, 3], [c, R]
        # grid_sample reads (W, H, D) = (z, y, x) in [-1, 1]; outside the grid counts as outside the shape
        coords = (pts[..., [2, 1, 0]] / BOUND).reshape(1, -1, 1, 1, 3)
        sdf = F.grid_sample(vol, coords, align_corners=True, padding_mode="border").reshape(pts.shape[:-1])
        out.append((sdf.min(-1).values < 0) & hit)
    return torch.cat(out)


def search_poses(model: PixelSDF, images: np.ndarray, yfov: float, image_size: int, *, rounds: int = 1,
                 grid_res: int = 48, res: int = 24, azimuths: int = 24, elevations=ELEVATIONS,
                 start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Camera poses [K, 4, 4] for views ``images`` [K, H, W, 3] of unknown direction, and each view's best
    silhouette IoU [K]: starting from ``start`` (default: :func:`default_poses`), ``rounds`` times predict the
    shape on a ``grid_res`` grid and move every view to the candidate camera whose silhouette of it fits best."""
    images = np.asarray(images)
    poses = default_poses(len(images)) if start is None else np.asarray(start)
    cands = candidate_poses(azimuths, elevations)
    masks = foreground_masks(images, res).reshape(len(images), -1)
    best = np.zeros(len(images))
    for _ in range(rounds):
        grid = sdf_grid(model, images, poses, image_size, grid_res)
        iou = silhouette_iou(masks, grid_silhouettes(grid, cands, yfov, res))
        pick = iou.argmax(1).numpy()
        poses, best = cands[pick], iou.max(1).values.numpy()
    return poses, best
