"""Mesh metrics of many meshes: ``metrics.mesh_metrics_many`` over ``workers`` processes (what notebooks
04, 10 and 14 now call, and the DeepSDF and weight-space evaluations did already) against one
``metrics.mesh_metrics`` call after another (what 04, 10 and 14 did). Per mesh, the sizes of notebook 10 at full (a 128^3 grid, 30,000 surface samples,
the IoU on 100,000 uniform points), on procedural shapes (8 kinds, each measured 6 times: 48 meshes; notebook
10 measures 416 in 6 calls); ``workers`` = 8, the cores of a job that shares a GPU on a node with 16 cores per
GPU. Both give the same numbers (compared to 1e-6 relative); the project's time includes starting its workers."""

from __future__ import annotations

import os

import numpy as np
from harness import timed, write_result

from sdfnets import metrics, parallel
from sdfnets.data import meshes, procedural
from sdfnets.data.sampling import sample_sdf


def _serial(mesh_list, samples):
    return [metrics.mesh_metrics(m, s, seed=j) for j, (m, s) in enumerate(zip(mesh_list, samples))]


def run(quick: bool = False) -> dict:
    cores = len(os.sched_getaffinity(0))
    distinct, total, res, points, workers = (2, 4, 40, 8_000, 2) if quick else (8, 48, 128, 200_000, min(8, cores))
    shapes = [meshes.normalize_to_unit_sphere(procedural.generate(i, 0, res)[0])[0] for i in range(distinct)]
    truth = [sample_sdf(m, points, num_surface_points=min(30_000, points), seed=i) for i, m in enumerate(shapes)]
    other = [meshes.normalize_to_unit_sphere(procedural.generate(i, 1, res)[0])[0]  # another draw of each kind,
             for i in range(distinct)]  # in the same frame as the truth (unnormalised, far off: slower searches)
    preds = [other[i % distinct] for i in range(total)]
    samples = [truth[i % distinct] for i in range(total)]
    parallel._POOL.clear()  # a cold pool: the notebook pays its start once
    ours, rows = timed(metrics.mesh_metrics_many, preds, samples, range(total), workers=workers)
    warm, _ = timed(metrics.mesh_metrics_many, preds, samples, range(total), workers=workers)
    base, ref = timed(_serial, preds, samples)
    same = all(np.isclose(a[k], b[k], rtol=1e-6, equal_nan=True) for a, b in zip(rows, ref) for k in a)
    path = write_result(
        "mesh_metrics", unit="s per call", project=ours, baseline=base, higher_is_better=False,
        project_label=f"metrics.mesh_metrics_many, {workers} worker processes (started in the call)",
        baseline_label="metrics.mesh_metrics one mesh after another",
        sizes={"meshes": total, "distinct_shapes": distinct, "grid": res, "sdf_points": points,
               "uniform_points": points // 2, "workers": workers,
               "mean_faces": float(np.mean([len(m.faces) for m in preds]))},
        extra={"warm_pool_s": warm, "same_numbers": bool(same)})
    return {"path": str(path), "ratio": base / ours}
