"""An SDF as a function of points: the training loss, dense and coarse-to-fine grids, marching cubes.

Shared by every phase that turns a network into a mesh (per-shape networks in phases 0-10, the
DeepSDF decoder in 11-12). A *field* is any callable mapping points [M, 3] to SDF values [M]
on one device, e.g. ``lambda p: decoder(latent, p)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import trimesh
from skimage.measure import marching_cubes

BOUND = 1.02  # the grid reaches a little past the unit sphere so surfaces touching it close

Field = Callable[[torch.Tensor], torch.Tensor]


def clamped_l1(pred: torch.Tensor, target: torch.Tensor, clamp: float) -> torch.Tensor:
    """DeepSDF's loss, elementwise: |clamp(pred) - clamp(target)| with both clamped to +-clamp."""
    return (pred.clamp(-clamp, clamp) - target.clamp(-clamp, clamp)).abs()


def grid_points(resolution: int, device=None, bound: float = BOUND) -> torch.Tensor:
    """The resolution^3 grid over [-bound, bound]^3 as points [R^3, 3] (x slowest, z fastest)."""
    axis = torch.linspace(-bound, bound, resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)


def default_chunk(device=None, gpu: int = 2**18) -> int:
    """Points per call of a field: ``gpu`` on a GPU (large GEMMs); 4,096 on a CPU, where a chunk's
    activations then stay in cache: 1.4-2.6x faster grids for 64- to 512-wide decoders on 2 cores
    (``bench/bench_grid_chunk.py``)."""
    return gpu if torch.device(device or "cpu").type == "cuda" else 2**12


@torch.no_grad()
def sdf_grid(field: Field, resolution: int = 128, *, device=None, bound: float = BOUND,
             chunk: int | None = None) -> np.ndarray:
    """``field`` on the resolution^3 grid, evaluated in chunks on ``device``: [R, R, R]."""
    chunk = chunk or default_chunk(device)
    grid = grid_points(resolution, device, bound)
    out = torch.empty(len(grid), device=device)
    for i in range(0, len(grid), chunk):
        out[i:i + chunk] = field(grid[i:i + chunk]).float()
    return out.reshape(resolution, resolution, resolution).cpu().numpy()


@torch.no_grad()
def sdf_grid_sparse(field: Field, resolution: int = 256, *, device=None, base: int = 32, bound: float = BOUND,
                    band: float = 1.5, chunk: int | None = None) -> np.ndarray:
    """The grid of :func:`sdf_grid`, evaluated coarse to fine: dense at ``base``, then at each
    doubling the previous level is upsampled trilinearly and the field is evaluated only where that
    value is within ``band`` cell diagonals (of the previous level) of the surface. Far from the
    surface the upsampled values keep the right sign, which is all marching cubes needs there.
    At 128^3 this evaluates about a tenth of the points."""
    chunk = chunk or default_chunk(device)
    levels = [resolution]
    while levels[-1] // 2 >= base:
        levels.append(levels[-1] // 2)
    levels = levels[::-1]
    values = torch.from_numpy(sdf_grid(field, levels[0], device=device, bound=bound, chunk=chunk)).to(device)
    for prev, res in zip(levels[:-1], levels[1:]):
        fine = torch.nn.functional.interpolate(values[None, None], size=(res,) * 3, mode="trilinear",
                                               align_corners=True)[0, 0].flatten()
        idx = (fine.abs() < band * np.sqrt(3) * 2 * bound / (prev - 1)).nonzero()[:, 0]
        axis = torch.linspace(-bound, bound, res, device=device)
        pts = torch.stack([axis[idx // res**2], axis[(idx // res) % res], axis[idx % res]], dim=-1)
        for s in range(0, len(pts), chunk):
            fine[idx[s:s + chunk]] = field(pts[s:s + chunk]).float()
        values = fine.reshape(res, res, res)
    return values.cpu().numpy()


def clean_grid(values: np.ndarray, smooth: float = 0.0, min_part: float = 0.05, bound: float = BOUND) -> np.ndarray:
    """A predicted SDF grid (of :func:`grid_points`) made tidier before marching cubes: every inside region
    holding less than ``min_part`` of the largest one's cells pushed outside (floaters), every enclosed pocket
    of outside that small filled (bubbles), and optionally Gaussian-smoothed first (``smooth``: the standard
    deviation as a length; 0.016 is one cell of a 128^3 grid). scipy has the parts (filter, labelling);
    nothing does this on a grid."""
    from scipy import ndimage

    cell = 2 * bound / (values.shape[0] - 1)
    out = ndimage.gaussian_filter(values, smooth / cell) if smooth > 0 else np.array(values, copy=True)
    if min_part > 0:
        labels, n = ndimage.label(out < 0)
        if n == 0:
            return out
        sizes = np.bincount(labels.ravel())[1:]
        keep = min_part * sizes.max()
        drop = np.isin(labels, np.flatnonzero(sizes < keep) + 1)
        out[drop] = np.abs(out[drop]) + 1e-6
        # and the small pockets of outside enclosed by the shape (bubbles: each one more surface part)
        labels, n = ndimage.label(out >= 0)
        border = np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(),
                                           labels[:, :, [0, -1]].ravel()]))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        pockets = np.setdiff1d(np.flatnonzero(sizes < keep), np.append(border, 0))
        fill = np.isin(labels, pockets)
        out[fill] = -np.abs(out[fill]) - 1e-6
    return out


def grid_to_mesh(values: np.ndarray, bound: float = BOUND, near_surface_only: bool = False) -> trimesh.Trimesh | None:
    """Zero level set by marching cubes; None when the field never crosses zero.
    ``near_surface_only`` visits only cells within two cell diagonals of the surface (same mesh
    for a distance field, several times faster on large grids)."""
    if values.min() >= 0 or values.max() <= 0:
        return None
    step = 2 * bound / (values.shape[0] - 1)
    offset = np.zeros(3)
    mask = None
    if near_surface_only:  # the band around the surface, cropped to its bounding box
        mask = np.abs(values) < 2 * np.sqrt(3) * step
        lo, hi = [], []
        for ax in range(3):
            hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))
            lo.append(max(int(hit[0]) - 1, 0))
            hi.append(min(int(hit[-1]) + 2, values.shape[ax]))
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        values, mask, offset = values[box], mask[box], np.asarray(lo) * step
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(step, step, step), mask=mask)
    verts = verts + offset - bound
    tri = verts[faces]
    if np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() < 0:  # signed volume
        faces = faces[:, ::-1]  # outward normals
    return trimesh.Trimesh(verts, np.ascontiguousarray(faces), process=False)


def field_to_mesh(field: Field, resolution: int = 128, *, device=None) -> trimesh.Trimesh | None:
    return grid_to_mesh(sdf_grid(field, resolution, device=device))
