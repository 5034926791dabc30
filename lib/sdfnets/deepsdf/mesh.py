"""From a latent to a mesh (notebook ``11_deepsdf``): batched grid evaluation, marching cubes."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from skimage.measure import marching_cubes

BOUND = 1.02  # the grid reaches a little past the unit sphere so surfaces touching it close


@torch.no_grad()
def sdf_grid(decoder, latent: torch.Tensor, resolution: int = 128, bound: float = BOUND,
             chunk: int = 2**18) -> np.ndarray:
    """Decoder SDF on a resolution^3 grid over [-bound, bound]^3, evaluated in chunks on its device."""
    device = next(decoder.parameters()).device
    axis = torch.linspace(-bound, bound, resolution, device=device)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    z = latent.to(device).reshape(1, -1)
    out = torch.empty(len(grid), device=device)
    for i in range(0, len(grid), chunk):
        out[i:i + chunk] = decoder(z, grid[i:i + chunk]).float()
    return out.reshape(resolution, resolution, resolution).cpu().numpy()


def grid_to_mesh(values: np.ndarray, bound: float = BOUND) -> trimesh.Trimesh | None:
    """Zero level set by marching cubes; None when the field never crosses zero."""
    if values.min() >= 0 or values.max() <= 0:
        return None
    step = 2 * bound / (values.shape[0] - 1)
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(verts - bound, faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def latent_to_mesh(decoder, latent: torch.Tensor, resolution: int = 128) -> trimesh.Trimesh | None:
    return grid_to_mesh(sdf_grid(decoder, latent, resolution))


def export(mesh: trimesh.Trimesh, path) -> None:
    """OBJ, PLY or GLB, by the file's extension."""
    mesh.export(path)
