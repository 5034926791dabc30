"""Silhouette refinement (notebook 16, image2mesh ``--refine``): the decoder's work on the rays that meet
the unit sphere only (``Views(compact=True)``, what the project runs) against every ray of every view
(``compact=False``). Both refine the same 16 latents of the phase-11 decoder (8x512, random weights: the
time does not depend on them) against 4 views each at the full recipe's settings (48 x 48 rays, 48
samples per ray, 60 Adam steps, 8 objects per batch, bf16 on a GPU); the record also holds the largest
difference between the two results, which should be float noise. Both run the decoder as a module
(``fused=False``); ``bench_refine_fused.py`` times the fused kernels against that."""

from __future__ import annotations

import numpy as np
import torch
from harness import timed, write_result

from sdfnets import config
from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere
from sdfnets.deepsdf.model import make_decoder
from sdfnets.image2latent import refine as rf


def setup(quick: bool = False):
    """The refinement both benchmarks time: ``go(**refine_options) -> latents`` (synchronised; ``go.start``
    holds the starting latents), the repeat count and the sizes."""
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    cfg = config.resolve("full")
    if quick or not cuda:
        objects, rcfg, repeat = 2, rf.RefineConfig(steps=3, res=12, samples=12), 1
    else:
        objects, rcfg, repeat = 16, rf.RefineConfig(), 3
    torch.manual_seed(0)
    decoder = make_decoder(cfg.deepsdf).to(dev).eval()
    poses = camera_poses(4)
    yy, xx = np.mgrid[:224, :224]
    disc = (yy - 112) ** 2 + (xx - 112) ** 2 < 60 ** 2  # a dark disc on white: every view's foreground
    images = np.full((objects, 4, 224, 224, 3), 255, np.uint8)
    images[:, :, disc] = (90, 100, 130)
    z0 = torch.randn(objects, cfg.deepsdf.latent_dim) * 0.05
    yfov = fov_for_unit_sphere(2.5)

    def go(**options):
        z = rf.refine(decoder, z0, images, np.stack([poses] * objects), yfov, rcfg, **options)[0]
        if cuda:
            torch.cuda.synchronize()
        return z

    go.start = z0
    rays = rf.Views(images[:1], poses[None], yfov, rcfg.res, rcfg.samples, "cpu")
    sizes = {"objects": objects, "views": 4, "rays_per_view": rcfg.res ** 2,
             "rays_kept_per_view": int(rays.points.shape[-3]), "samples_per_ray": rcfg.samples, "steps": rcfg.steps}
    return go, repeat, sizes


def run(quick: bool = False) -> dict:
    go, repeat, sizes = setup(quick)
    t_full, z_full = timed(go, repeat=repeat, compact=False, fused=False)
    t_compact, z_compact = timed(go, repeat=repeat, compact=True, fused=False)
    path = write_result("refine", unit="s per refinement", project=t_compact, baseline=t_full,
                        project_label="rays that meet the unit sphere only (Views(compact=True))",
                        baseline_label="every ray of every view (compact=False)", higher_is_better=False,
                        sizes=sizes, extra={"max_abs_latent_difference": float((z_full - z_compact).abs().max())})
    return {"path": str(path), "ratio": t_full / t_compact}
