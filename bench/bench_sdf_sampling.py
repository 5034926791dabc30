"""SDF sampling: the project's sampler (point-cloud-utils, winding-number signs) against
mesh_to_sdf's ``sample_sdf_near_surface`` (its defaults: virtual scans, normal-based signs),
on the same procedural meshes. Also measures how often each gets the sign wrong against
exact winding-number signs (overall, and beyond 0.01 of the surface), and the distance error
of mesh_to_sdf's values."""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "true")

import numpy as np  # noqa: E402
from harness import timed, write_result  # noqa: E402

from sdfnets.data import meshes, procedural, sampling  # noqa: E402


def _meshes(n: int, resolution: int):
    return [meshes.normalize_to_unit_sphere(procedural.generate(i, 0, resolution)[0])[0] for i in range(n)]


def run(quick: bool = False) -> dict:
    import mesh_to_sdf

    n_shapes, n_points, res = (1, 2_000, 48) if quick else (4, 50_000, 112)
    shapes = _meshes(n_shapes, res)
    t_proj = t_base = 0.0
    wrong_base, wrong_base_off, err_base, wrong_proj = [], [], [], []
    for i, m in enumerate(shapes):
        dt, ours = timed(sampling.sample_sdf, m, n_points, num_surface_points=1, seed=i)
        t_proj += dt
        ref = sampling.signed_distance(m, ours["points"].astype(np.float64))
        wrong_proj.append(float((np.sign(ours["sdf"]) != np.sign(ref)).mean()))
        dt, (pts, sdf) = timed(mesh_to_sdf.sample_sdf_near_surface, m, number_of_points=n_points)
        t_base += dt
        exact = sampling.signed_distance(m, pts.astype(np.float64))
        wrong = np.sign(sdf) != np.sign(exact)
        wrong_base.append(float(wrong.mean()))
        wrong_base_off.append(float(wrong[np.abs(exact) > 0.01].mean()))
        err_base.append(float(np.abs(sdf - exact).mean()))
    total = n_shapes * n_points
    path = write_result(
        "sdf_sampling", unit="points/s", project=total / t_proj, baseline=total / t_base,
        project_label="sdfnets.data.sampling.sample_sdf (point-cloud-utils)",
        baseline_label="mesh_to_sdf.sample_sdf_near_surface (defaults)",
        sizes={"shapes": n_shapes, "points_per_shape": n_points, "mean_faces": float(np.mean([len(m.faces) for m in shapes]))},
        extra={"sign_error_rate": {"project": float(np.mean(wrong_proj)), "baseline": float(np.mean(wrong_base))},
               "baseline_sign_error_rate_beyond_0.01": float(np.mean(wrong_base_off)),
               "baseline_mean_abs_distance_error": float(np.mean(err_base))})
    return {"path": str(path), "ratio": total / t_proj / (total / t_base)}
