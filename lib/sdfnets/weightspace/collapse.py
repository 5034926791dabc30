"""The collapse diagnostics of the weight-space line (notebooks ``06``-``10`` and ``17``): what a weight
generator's outputs are, measured in weight space and as meshes, on the same held-out inputs.

- :func:`held_out` -- predictions for held-out shapes against their true weight vectors and the
  training set: the attractor statistics (:func:`sdfnets.metrics.attractors`) on the raw vectors
  (the write-up's measure) and on the residuals from the common start, where the shared anchor no
  longer inflates every cosine; then each prediction decoded and meshed, measured against its
  true shape, against the shape of its top attractor, and beside the retrieval baseline (the
  training decoder whose views look most alike).
- :func:`nudge` -- how far conditioning moves predictions from the unconditional centroid, toward
  their targets; :func:`topk_overlap` -- the write-up's "same four shapes regardless of input", on
  draws of n inputs.
- :func:`generated` -- unconditional samples as a set: MMD / COV / 1-NNA against held-out shapes
  and the memorisation check against the training shapes.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import devices, metrics
from .analysis import meshes
from .nets import NetSpec, unflatten


def decode(spec: NetSpec, weights: torch.Tensor, resolution: int, device=None) -> list:
    """Marching-cubes mesh of every weight vector [M, D] (None where the field has no surface)."""
    device = devices.default_device(device)
    return meshes(spec, unflatten(spec, weights.to(device).float()), resolution)


def _vector_stats(att: dict) -> dict:
    return {"cos_true_mean": float(att["cos_true"].mean()), "top1_cos_mean": float(att["top_cos"][:, 0].mean()),
            "closer_share": float(att["closer"].mean()), "distinct_top1": att["distinct_top1"],
            "rows_for_half": att["rows_for_half"], "pred_pairwise_cosine": att["pred_pairwise_cosine"],
            "truth_pairwise_cosine": att["truth_pairwise_cosine"]}


def held_out(pred: torch.Tensor, weights: torch.Tensor, start: torch.Tensor, train_rows, test_rows, dataset,
             obj_idx, spec: NetSpec, *, k: int = 5, resolution: int = 128, retrieved_rows=None) -> dict:
    """Everything measured about predictions ``pred`` [M, D] for the shapes of weight-set rows
    ``test_rows`` (``weights`` [N, D] every network, ``start`` [D] where they all started,
    ``obj_idx`` row -> dataset shape). ``retrieved_rows``: per input, the training row the
    retrieval baseline picks. Returns summary numbers under ``"vectors"``, ``"residual"``,
    ``"mesh"``; per-input rows under ``"inputs"``; the meshes under ``"meshes"``."""
    train_rows, test_rows = list(map(int, train_rows)), list(map(int, test_rows))
    pred = pred.float().cpu()
    w, s = weights.float().cpu(), start.float().cpu()
    bank, truth = w[train_rows], w[test_rows]
    att = metrics.attractors(pred, truth, bank, k)
    res = metrics.attractors(pred - s, truth - s, bank - s, k)
    pred_meshes = decode(spec, pred, resolution)
    top_rows = [train_rows[j] for j in att["top"][:, 0]]
    inputs = []
    rows_true, rows_attr, rows_ret = [], [], []
    ret_meshes = decode(spec, w[list(retrieved_rows)], resolution) if retrieved_rows is not None else None
    seeds = range(len(test_rows))
    rows_true = metrics.mesh_metrics_many(pred_meshes, [dataset.sdf(obj_idx[r]) for r in test_rows], seeds)
    rows_attr = metrics.mesh_metrics_many(pred_meshes, [dataset.sdf(obj_idx[r]) for r in top_rows], seeds)
    if ret_meshes is not None:
        rows_ret = metrics.mesh_metrics_many(ret_meshes, [dataset.sdf(obj_idx[r]) for r in test_rows], seeds)
    for i, r in enumerate(test_rows):
        inputs.append({"row": r, "obj_idx": int(obj_idx[r]), "cos_true": float(att["cos_true"][i]),
                       "top": [int(obj_idx[train_rows[j]]) for j in att["top"][i]],
                       "top_cos": [float(c) for c in att["top_cos"][i]],
                       "residual_cos_true": float(res["cos_true"][i]),
                       "fscore": rows_true[i]["fscore"], "fscore_vs_top": rows_attr[i]["fscore"]})
    top_counts = {int(obj_idx[train_rows[j]]): c for j, c in att["top1_counts"].items()}
    mesh = {"prediction": metrics.summarize(rows_true), "prediction_vs_top_attractor": metrics.summarize(rows_attr)}
    if rows_ret:
        mesh["retrieval"] = metrics.summarize(rows_ret)
    return {"vectors": {**_vector_stats(att), "top1_counts": top_counts}, "residual": _vector_stats(res),
            "mesh": mesh, "inputs": inputs, "meshes": {"prediction": pred_meshes, "retrieval": ret_meshes},
            "cos_true": att["cos_true"], "top_cos": att["top_cos"], "residual_cos_true": res["cos_true"],
            "residual_top_cos": res["top_cos"]}


def nudge(pred: torch.Tensor, uncond: torch.Tensor, truth: torch.Tensor) -> dict:
    """How far the image moves a prediction, the write-up's "~3 % directional nudge" measured: ``c`` is
    the mean of the unconditional predictions ``uncond`` [M, D] (the same model and noise, the "no image"
    token in place of the views); per input, ``moved`` = |p - c| / |t - c| (the distance conditioning
    moved the prediction from the centroid, relative to the target's distance from it) and ``toward``
    = (p - c) . (t - c) / |t - c|^2 (the share of the way to the target it went: 1 reaches it, 0 does
    not move toward it). Means over inputs, with the per-input values."""
    p, u, t = (torch.as_tensor(x).double() for x in (pred, uncond, truth))
    c = u.mean(0)
    to_target = t - c
    moved = (p - c).norm(dim=1) / to_target.norm(dim=1)
    toward = ((p - c) * to_target).sum(1) / to_target.pow(2).sum(1)
    return {"moved_mean": float(moved.mean()), "toward_mean": float(toward.mean()),
            "uncond_spread": float((u - c).norm(dim=1).mean() / to_target.norm(dim=1).mean()),
            "moved": moved.numpy(), "toward": toward.numpy()}


def topk_overlap(top: np.ndarray, sizes=(4, 8, 16, 32), draws: int = 200, seed: int = 0) -> dict:
    """The write-up's attractor statistic on n inputs: draw n of the held-out inputs (``draws`` times;
    once when n is all of them) and count the training shapes in *every* drawn input's list of nearest
    training shapes ``top`` [M, k] (``common``: the write-up found 4 of its 5 on each of its 4 inputs,
    "the same four regardless of input") and in any of them (``union``: k when every list is the same,
    k * n when no two share a shape). -> {n: {"common_mean", "common_max", "union_mean", "share_common"}},
    ``share_common`` the share of draws with at least k - 1 shapes in common (the write-up's case)."""
    top = np.asarray(top)
    m, k = top.shape
    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        if n > m:
            continue
        common, union = [], []
        for _ in range(draws if n < m else 1):
            lists = [set(top[r].tolist()) for r in rng.choice(m, n, replace=False)]
            common.append(len(set.intersection(*lists)))
            union.append(len(set.union(*lists)))
        common = np.asarray(common)
        out[n] = {"common_mean": float(common.mean()), "common_max": int(common.max()),
                  "union_mean": float(np.mean(union)), "share_common": float((common >= k - 1).mean())}
    return out


def write_up_statistics(gen, features, poses, ids, k: int, pred: torch.Tensor, truth: torch.Tensor, result: dict,
                        seed: int = 0) -> dict:
    """The write-up's two statistics of a conditional weight generator ``gen`` on held-out inputs ``ids`` (its
    predictions ``pred`` from ``k`` views each, seed ``seed``; ``result`` from :func:`held_out`): the
    :func:`nudge` (the same draws with the "no image" token give the centroid) and the :func:`topk_overlap` of
    the inputs' nearest training shapes on draws of 4, 8, 16 and 32 inputs."""
    uncond, _ = gen.predict(features, poses, ids, k, seed=seed, guidance=0.0)
    top = np.array([row["top"] for row in result["inputs"]])
    n = nudge(pred, uncond, truth)
    return {"nudge": {q: v for q, v in n.items() if q.endswith(("_mean", "_spread"))},
            "draws": topk_overlap(top, sizes=[m for m in (4, 8, 16, 32) if m <= len(top)] or [len(top)], seed=seed)}


def summary(result: dict, dataset, top: int = 5) -> dict:
    """What a values file keeps of :func:`held_out`'s result: the summary numbers and the ``top``
    most frequent nearest training shapes by uid and category."""
    counts = list(result["vectors"]["top1_counts"].items())[:top]
    return {"vectors": {k: v for k, v in result["vectors"].items() if k != "top1_counts"},
            "residual": result["residual"], "mesh": result["mesh"],
            "top_attractors": [{"uid": dataset.uid_of(i), "category": dataset.categories[i], "inputs": c}
                               for i, c in counts]}


def shape_clouds(dataset, obj_ids, n: int, seed: int = 0) -> torch.Tensor:
    """[len(obj_ids), n, 3] of each shape's stored surface points (a seeded subset)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in obj_ids:
        pts = dataset.sdf(int(i))["surface_points"]
        out.append(pts[rng.choice(len(pts), n, replace=len(pts) < n)])
    return torch.as_tensor(np.stack(out), dtype=torch.float32)


def mesh_clouds(mesh_list, n: int, seed: int = 0) -> torch.Tensor:
    """[len(mesh_list), n, 3] surface samples; an empty mesh (no surface) becomes n points at the
    origin, so a failed sample counts as a far-off shape rather than being dropped."""
    out = [np.zeros((n, 3)) if m is None or len(m.faces) == 0 else metrics.sample_surface(m, n, seed + i)[0]
           for i, m in enumerate(mesh_list)]
    return torch.as_tensor(np.stack(out), dtype=torch.float32)


def generated(samples: torch.Tensor, reference: torch.Tensor, train: torch.Tensor, device=None) -> dict:
    """A generated set of point clouds [G, P, 3] against held-out ``reference`` clouds [R, P, 3]
    (MMD-CD, COV-CD, 1-NNA; :func:`sdfnets.metrics.set_metrics`) and against the ``train`` clouds
    [T, P, 3]: memorisation (:func:`sdfnets.metrics.memorisation`) and each set's median distance to
    its nearest training shape (samples far closer to the training set than held-out shapes are
    copies)."""
    device = devices.default_device(device)
    g, r, t = (x.to(device) for x in (samples, reference, train))
    cd = metrics.chamfer_pointflow
    d_gr, d_gg, d_rr, d_gt, d_rt = cd(g, r), cd(g, g), cd(r, r), cd(g, t), cd(r, t)
    out = metrics.set_metrics(d_gr, d_gg, d_rr)
    out["memorisation"] = metrics.memorisation(d_gt)
    out["sample_nearest_train_median"] = float(d_gt.min(1).values.median())
    out["reference_nearest_train_median"] = float(d_rt.min(1).values.median())
    out["nearest_train_ratio"] = out["sample_nearest_train_median"] / out["reference_nearest_train_median"]
    out["nearest_train"] = d_gt.argmin(1).tolist()
    return out
