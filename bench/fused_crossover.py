"""Where the fused DeepSDF kernels start to pay for a frozen decoder (``fused.TritonOps.min_points``): the
release decoder's silhouette refinement (60 steps, 48 x 48 rays, 48 samples) and test-time reconstruction
(200 steps) at growing numbers of points per step, through the module (bf16 autocast for the refinement,
float32 for the reconstruction, as each ran before) and forced through the fused kernels (``fused=True``).
Mean of three (two) calls after a warm-up; prints one line per size. On a GPU node:

    python bench/fused_crossover.py | tee bench/results/fused_crossover-gpu.txt
"""

import time

import numpy as np
import torch

from sdfnets import paths
from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere
from sdfnets.deepsdf import fused, release
from sdfnets.deepsdf.reconstruct import fit_latents
from sdfnets.image2latent import refine as rf


def timed_mean(fn, n: int = 3) -> float:
    """Mean seconds of ``n`` calls after one untimed warm-up (CUDA set-up, Triton compilation)."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def main() -> None:
    fused.TritonOps.min_points = 0  # the kernels at every size, to find where they start to pay
    dec, lat, _ = release.load(paths.RELEASE_DIR / release.DEFAULT_NAME, "cuda")
    yy, xx = np.mgrid[:224, :224]
    yfov, cfg = fov_for_unit_sphere(2.5), rf.RefineConfig()
    for objects, views in ((1, 1), (1, 4), (2, 4), (8, 1), (8, 4)):
        img = np.full((objects, views, 224, 224, 3), 255, np.uint8)
        img[:, :, (yy - 112) ** 2 + (xx - 100) ** 2 < 50 ** 2] = 90
        poses = np.stack([camera_poses(views)] * objects)
        z0 = lat[:objects].cuda()
        pts = objects * views * 1508 * 48  # the rays that meet the unit sphere, 48 samples each
        r = {f: timed_mean(lambda: rf.refine(dec, z0, img, poses, yfov, cfg, fused=f)) for f in (False, True)}
        print(f"refine {objects} x {views} views ({pts:,} points/step): module {r[False]:.3f} s, "
              f"fused {r[True]:.3f} s")
    for shapes, per in ((1, 8192), (4, 8192), (24, 8192)):
        p = torch.rand(shapes, 30000, 3, device="cuda") * 2 - 1
        s = torch.rand(shapes, 30000, device="cuda") * 0.1
        r = {f: timed_mean(lambda: fit_latents(dec, p, s, steps=200, points_per_step=per, fused=f), 2)
             for f in (False, True)}
        print(f"fit {shapes} x {per} ({shapes * per:,} points/step, 200 steps): module fp32 {r[False]:.3f} s, "
              f"fused {r[True]:.3f} s")


if __name__ == "__main__":
    main()
