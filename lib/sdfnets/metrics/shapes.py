"""A shape against its truth: Chamfer, F-score, normal consistency, IoU, connected parts.

Shape vs truth (``mesh_metrics``):

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

from ..parallel import default_workers, process_pool

FSCORE_TAU = 0.02


def sample_surface(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32)
    # point-cloud-utils reads random_seed=0 as "unseeded": seed k is passed as k + 1, so every seed is fixed
    fid, bc = pcu.sample_mesh_random(v, f, n, random_seed=seed + 1)
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


def _mesh_metrics_job(args) -> dict:
    v, f, samples, num_points, seed = args
    return mesh_metrics(trimesh.Trimesh(v, f, process=False) if v is not None else None, samples, num_points, seed)


def mesh_metrics_many(meshes, samples, seeds, num_points: int = 30_000, workers: int | None = None) -> list[dict]:
    """:func:`mesh_metrics` of every ``meshes[k]`` against ``samples[k]`` (seed ``seeds[k]``), the numbers of
    one call each (to 1e-3 relative, tested), spread over ``workers`` processes (default :func:`default_workers`).
    The inside test of the IoU (a winding number over 100,000 points at full scale, about a second
    per mesh) holds the GIL, hence processes."""
    jobs = [(None if m is None or len(m.faces) == 0 else np.asarray(m.vertices), None if m is None else
             np.asarray(m.faces), s, num_points, int(seed)) for m, s, seed in zip(meshes, samples, seeds)]
    workers = default_workers(len(jobs)) if workers is None else min(workers, len(jobs))
    if workers <= 1:
        return [_mesh_metrics_job(j) for j in jobs]
    return list(process_pool(workers).map(_mesh_metrics_job, jobs))


def components(mesh: trimesh.Trimesh | None) -> dict:
    """Connected parts of a mesh: how many, and the largest part's share of the enclosed volume
    (of the surface area where the parts enclose none). An empty mesh: 0 parts, share 0."""
    if mesh is None or len(mesh.faces) == 0:
        return {"components": 0, "largest_share": 0.0}
    parts = mesh.split(only_watertight=False)
    size = np.array([abs(p.volume) for p in parts])
    if size.sum() <= 0:
        size = np.array([p.area for p in parts])
    return {"components": len(parts), "largest_share": float(size.max() / size.sum()) if size.sum() > 0 else 0.0}


def parts_summary(rows: list[dict], share: float = 0.9) -> dict:
    """Over rows carrying :func:`components`: the share of meshes in one part, the share whose largest
    part holds at least ``share`` of the volume ("holds together"), and the mean number of parts."""
    return {"one_part": float(np.mean([r["components"] == 1 for r in rows])),
            "holds_together": float(np.mean([r["largest_share"] >= share for r in rows])),
            "components_mean": float(np.mean([r["components"] for r in rows]))}


def grid_job(args) -> tuple:
    """Marching cubes, metrics against the truth and connected parts of one SDF grid (a worker's job):
    ``(grid, sdf_samples, seed)`` -> (vertices or None, faces or None, metrics and parts)."""
    from ..field import grid_to_mesh

    grid, samples, seed = args
    mesh = grid_to_mesh(grid)
    found = {**mesh_metrics(mesh, samples, seed=seed), **components(mesh)}
    return (None, None, found) if mesh is None else (mesh.vertices, mesh.faces, found)


def grids_and_metrics(jobs, ids: list[int], progress: bool = True, workers: int | None = None, desc: str = "mesh"):
    """The meshes and metric rows of ``jobs`` (an iterable of :func:`grid_job`'s arguments, one per id in
    ``ids``): the grids are made one by one by the caller's iterator while worker processes (default every core
    from 4 cores up) run marching cubes and metrics of the grids before them."""
    from tqdm import tqdm

    workers = default_workers(len(ids)) if workers is None else min(workers, len(ids))
    done = map(grid_job, jobs) if workers <= 1 else process_pool(workers).map(grid_job, jobs)
    meshes, rows = [], []
    for i, (v, f, found) in zip(ids, tqdm(done, total=len(ids), desc=desc, unit="shape", disable=not progress)):
        meshes.append(None if v is None else trimesh.Trimesh(v, f, process=False))
        rows.append({"obj_idx": i, **found})
    return meshes, rows


def measure_grids(jobs, ids: list[int], progress: bool = False, desc: str = "mesh") -> dict:
    """:func:`grids_and_metrics` summarised as every method of notebook 16 is: F-score, Chamfer, IoU, normal
    consistency, connected parts, and the rows."""
    return summary_of(grids_and_metrics(jobs, ids, progress=progress, desc=desc)[1])


def summary_of(rows: list[dict]) -> dict:
    """Mesh metric rows as notebook 16 reports a method: means of the metrics, parts, and the rows."""
    return summarize(rows) | parts_summary(rows) | {"rows": rows}


def summarize(rows: list[dict]) -> dict:
    """Mean of each mesh metric over shapes (NaN-aware), and how many meshes came out empty."""
    keys = ("chamfer_l1", "chamfer_l2", "fscore", "normal_consistency", "iou")
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    out["empty_meshes"] = int(sum(np.isnan(r["chamfer_l1"]) for r in rows))
    return out
