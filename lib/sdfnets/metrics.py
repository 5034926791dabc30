"""Every metric of the project, with its convention stated: a shape against its truth, vectors
against a bank of vectors (cosines, recall, retrieval), and sets of shapes against sets (MMD, COV,
1-NNA, memorisation). Notebooks ``05`` and ``11`` onwards.

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

Vectors (weights, latents, features): cosine similarity throughout.

Sets (``set_metrics``, PointFlow's conventions, Yang et al. 2019): the distance between two shapes
is PointFlow's Chamfer of their point clouds, mean squared nearest distance summed over both
directions (``chamfer_pointflow``; not the Chamfer-L1/L2 above). MMD: mean over reference shapes of
the distance to the nearest generated shape. COV: fraction of reference shapes that are the nearest
reference of at least one generated shape. 1-NNA: leave-one-out 1-nearest-neighbour accuracy over
generated + reference (50 % ideal; 100 % = the two sets are told apart). Memorisation (Gu et al.):
a generated sample is memorised when d(nearest training) / d(second nearest) < 1/3.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import point_cloud_utils as pcu
import torch
import torch.nn.functional as F
import trimesh
from scipy.spatial import cKDTree

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


_POOL: dict = {}


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, kept for the life of this process (starting one costs
    seconds: each worker imports torch). ``spawn``, not ``fork``: safe beside CUDA and OpenMP."""
    if workers not in _POOL:
        _POOL[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return _POOL[workers]


def default_workers(jobs: int) -> int:
    """Processes for ``jobs`` CPU-heavy jobs: every core this process may use, serial below 4 cores
    (where starting the workers costs more than it saves)."""
    cores = len(os.sched_getaffinity(0))
    return min(cores, jobs) if cores >= 4 else 1


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


def summarize(rows: list[dict]) -> dict:
    """Mean of each mesh metric over shapes (NaN-aware), and how many meshes came out empty."""
    keys = ("chamfer_l1", "chamfer_l2", "fscore", "normal_consistency", "iou")
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    out["empty_meshes"] = int(sum(np.isnan(r["chamfer_l1"]) for r in rows))
    return out


# ---------------------------------------------------------------------------------------------
# Vectors against vectors


def cosine_matrix(a, b) -> torch.Tensor:
    """[A, B] cosine similarities between the rows of ``a`` [A, D] and ``b`` [B, D]."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T


def pairwise_cosine(vectors) -> np.ndarray:
    """Off-diagonal cosine similarities of the rows of [N, D], in float64 (the thesis' "pairwise
    cosine" of weight vectors and of latents)."""
    v = torch.as_tensor(vectors).double()
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    c = v @ v.T
    return c[~torch.eye(len(v), dtype=torch.bool, device=v.device)].cpu().numpy()


def recall(pred, bank, true_rows) -> dict:
    """Per prediction: cosine to its true row of ``bank``, the true row's rank among all rows
    (1 = nearest by cosine), and the margin cos(true) - max cos(any other row)."""
    sims = cosine_matrix(pred, bank)  # [M, N]
    rows = torch.as_tensor(list(true_rows))
    cos_true = sims[torch.arange(len(rows)), rows]
    rank = (sims > cos_true[:, None]).sum(1) + 1
    others = sims.clone()
    others[torch.arange(len(rows)), rows] = -math.inf
    return {"cos": cos_true.numpy(), "rank": rank.numpy(), "margin": (cos_true - others.max(1).values).numpy()}


def nearest_rows(pred, bank, k: int = 1) -> torch.Tensor:
    """Rows of ``bank`` nearest (cosine) to every prediction: [M] for k = 1, else [M, k] best first."""
    sims = cosine_matrix(pred, bank)
    return sims.argmax(1) if k == 1 else sims.topk(k, dim=1).indices


def attractors(pred, truth, bank, k: int = 5) -> dict:
    """The collapse diagnostic of a conditional generator. ``pred`` [M, D] predictions for M held-out
    inputs, ``truth`` [M, D] their true targets, ``bank`` [N, D] the training targets. Per input:
    ``cos_true`` = cos(pred, truth), the ``k`` nearest training rows to the prediction (``top``,
    best first) with their cosines (``top_cos``), and ``closer`` = whether the nearest training row
    is closer to the prediction than its own target is. Over the inputs: how often each training
    row is the nearest (``top1_counts``, most frequent first), the fewest rows that are nearest for
    half of the inputs (``rows_for_half``), and the diversity of the predictions against that of
    the targets (mean pairwise cosine of each set; a collapsed model's predictions are more alike
    than the targets)."""
    pred, truth, bank = (torch.as_tensor(x).float() for x in (pred, truth, bank))
    sims = cosine_matrix(pred, bank)
    top_cos, top = sims.topk(min(k, len(bank)), dim=1)
    cos_true = F.cosine_similarity(pred, truth, dim=1)
    ids, counts = top[:, 0].unique(return_counts=True)
    order = counts.argsort(descending=True)
    ids, counts = ids[order], counts[order]
    rows_for_half = int((counts.cumsum(0) < len(pred) / 2).sum()) + 1
    return {"cos_true": cos_true.numpy(), "top": top.numpy(), "top_cos": top_cos.numpy(),
            "closer": (top_cos[:, 0] > cos_true).numpy(),
            "top1_counts": dict(zip(ids.tolist(), counts.tolist())), "rows_for_half": rows_for_half,
            "distinct_top1": len(ids),
            "pred_pairwise_cosine": float(pairwise_cosine(pred).mean()) if len(pred) > 1 else float("nan"),
            "truth_pairwise_cosine": float(pairwise_cosine(truth).mean()) if len(truth) > 1 else float("nan")}


def retrieve(features: torch.Tensor, query_ids, views: torch.Tensor, train_ids) -> torch.Tensor:
    """The nearest-neighbour baseline: for each query shape, the training shape whose mean view
    feature is nearest (cosine) to the mean feature of the query's given views. -> rows of train_ids."""
    q = features[torch.as_tensor(list(query_ids))[:, None], views].mean(1)
    return nearest_rows(q, features[torch.as_tensor(list(train_ids))].mean(1))


# ---------------------------------------------------------------------------------------------
# Sets of shapes against sets


def chamfer_pointflow(a: torch.Tensor, b: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """PointFlow's Chamfer between every cloud of ``a`` [A, P, 3] and every cloud of ``b`` [B, Q, 3]:
    [A, B] of mean_x min_y |x-y|^2 + mean_y min_x |x-y|^2."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    out = torch.empty(len(a), len(b))
    for i in range(len(a)):
        for j in range(0, len(b), chunk):
            d = torch.cdist(a[i].expand(len(b[j:j + chunk]), -1, -1), b[j:j + chunk]).square()  # [c, P, Q]
            out[i, j:j + chunk] = (d.min(2).values.mean(1) + d.min(1).values.mean(1)).cpu()
    return out


def set_metrics(d_gr, d_gg, d_rr) -> dict:
    """MMD, COV and 1-NNA from distances generated-reference [G, R], generated-generated [G, G]
    and reference-reference [R, R] (see the module doc for the conventions)."""
    d_gr, d_gg, d_rr = (torch.as_tensor(d, dtype=torch.float64) for d in (d_gr, d_gg, d_rr))
    g, r = d_gr.shape
    mmd = d_gr.min(0).values.mean()
    cov = len(set(d_gr.argmin(1).tolist())) / r
    full = torch.cat([torch.cat([d_gg, d_gr], 1), torch.cat([d_gr.T, d_rr], 1)], 0)
    full.fill_diagonal_(math.inf)  # leave one out
    label = torch.cat([torch.zeros(g), torch.ones(r)])
    nn_label = label[full.argmin(1)]
    correct = nn_label == label
    return {"mmd": float(mmd), "cov": float(cov), "1nna": float(correct.double().mean()),
            "1nna_generated": float(correct[:g].double().mean()), "1nna_reference": float(correct[g:].double().mean())}


def memorisation(d_gen_train, d_train_train=None, ratio: float = 1 / 3) -> dict:
    """How much of a generated set copies the training set. ``d_gen_train`` [G, T] distances (any
    metric: Chamfer of meshes, L2 of weight vectors). ``memorised``: share of samples whose nearest
    training sample is closer than ``ratio`` times the second nearest (Gu et al.). With
    ``d_train_train`` [T, T]: the median nearest-training distance of generated samples against
    that of training samples to each other, self excluded (Zeng et al.: below 1 = closer to the
    training set than it is to itself)."""
    d = torch.as_tensor(d_gen_train, dtype=torch.float64)
    two = d.topk(2, dim=1, largest=False).values
    out = {"memorised": float((two[:, 0] < ratio * two[:, 1]).double().mean()),
           "nearest_train_median": float(two[:, 0].median())}
    if d_train_train is not None:
        dt = torch.as_tensor(d_train_train, dtype=torch.float64).clone()
        dt.fill_diagonal_(math.inf)
        out["train_nearest_median"] = float(dt.min(1).values.median())
        out["novelty_ratio"] = out["nearest_train_median"] / out["train_nearest_median"]
    return out
