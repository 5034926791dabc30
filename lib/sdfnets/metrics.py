"""Mesh metrics, with their conventions stated (notebooks ``11_deepsdf``, ``12_image_to_latent``).

All shapes live in the unit sphere (radius 1). Distances are Euclidean, between point sets
sampled uniformly by area: ``num_points`` on the predicted mesh, and the ground truth's stored
surface samples.

- Chamfer-L1: mean of the two directions' mean distances (Occupancy Networks' convention).
- Chamfer-L2: sum of the two directions' mean squared distances (DeepSDF's convention).
- F-score at 1 %: harmonic mean of precision and recall at tau = 0.02, i.e. 1 % of the side
  (2) of the [-1, 1]^3 cube the shapes are normalised into (Tatarchenko et al.'s convention).
- Normal consistency: mean |cos| between each point's normal and its nearest neighbour's,
  averaged over both directions.
- Volumetric IoU: on the dataset's uniform samples in [-1, 1]^3, ground-truth inside = stored
  SDF < 0, predicted inside = winding number of the predicted mesh.
"""

from __future__ import annotations

import numpy as np
import point_cloud_utils as pcu
import trimesh
from scipy.spatial import cKDTree

FSCORE_TAU = 0.02


def sample_surface(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32)
    fid, bc = pcu.sample_mesh_random(v, f, n, random_seed=seed)
    fid, bc = np.atleast_1d(fid), np.reshape(bc, (-1, 3))
    return pcu.interpolate_barycentric_coords(f, fid, bc, v), np.asarray(mesh.face_normals)[fid]


def surface_metrics(pred_pts, pred_normals, gt_pts, gt_normals, tau: float = FSCORE_TAU) -> dict:
    d_pg, i_pg = cKDTree(gt_pts).query(pred_pts)  # precision side
    d_gp, i_gp = cKDTree(pred_pts).query(gt_pts)  # recall side
    precision, recall = (d_pg < tau).mean(), (d_gp < tau).mean()
    nc = 0.5 * (np.abs((pred_normals * gt_normals[i_pg]).sum(1)).mean()
                + np.abs((gt_normals * pred_normals[i_gp]).sum(1)).mean())
    return {
        "chamfer_l1": float(0.5 * (d_pg.mean() + d_gp.mean())),
        "chamfer_l2": float((d_pg**2).mean() + (d_gp**2).mean()),
        "fscore": float(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)),
        "normal_consistency": float(nc),
    }


def volumetric_iou(mesh: trimesh.Trimesh, points: np.ndarray, gt_inside: np.ndarray) -> float:
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32)
    s, _, _ = pcu.signed_distance_to_mesh(np.ascontiguousarray(points, np.float64), v, f)
    pred_inside = s < 0
    union = (pred_inside | gt_inside).sum()
    return float((pred_inside & gt_inside).sum() / union) if union else 1.0


def mesh_metrics(pred: trimesh.Trimesh | None, sdf_samples: dict, num_points: int = 30_000, seed: int = 0) -> dict:
    """All metrics of a predicted mesh against a shape's stored samples (see the module doc)."""
    if pred is None or len(pred.faces) == 0:
        return {"chamfer_l1": float("nan"), "chamfer_l2": float("nan"), "fscore": 0.0,
                "normal_consistency": float("nan"), "iou": 0.0}
    pts, normals = sample_surface(pred, num_points, seed)
    out = surface_metrics(pts, normals, sdf_samples["surface_points"], sdf_samples["surface_normals"])
    uniform = ~sdf_samples["is_near"]
    out["iou"] = volumetric_iou(pred, sdf_samples["points"][uniform], sdf_samples["sdf"][uniform] < 0)
    return out
