"""DeepSDF's test-time reconstruction (notebooks 08, 11 and 16: ``reconstruct.fit_latents``, the decoder
frozen, 800 Adam steps of 8,192 SDF samples per shape) through the fused DeepSDF kernels (bf16, no weight
gradients for the frozen decoder) against the decoder run as a module in float32, what it ran before.
The decoder is the committed full-scale release; the targets are its own SDF at 24 of its training
latents (as many shapes as notebook 11 reconstructs), 120,000 random points each, so both fits can
reach them; the record holds each fit's SDF error against the targets beside the times."""

from __future__ import annotations

import torch
from harness import timed, write_result

from sdfnets import paths
from sdfnets.deepsdf import release
from sdfnets.deepsdf.reconstruct import fit_latents
from sdfnets.field import clamped_l1


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    decoder, latents, _ = release.load(paths.RELEASE_DIR / release.DEFAULT_NAME, dev)
    shapes, points, steps, per_step = (24, 120_000, 800, 8192) if cuda and not quick else (2, 4096, 5, 1024)
    g = torch.Generator().manual_seed(0)
    truth = latents[torch.randperm(len(latents), generator=g)[:shapes]].to(dev).float()
    pts = (torch.rand(shapes, points, 3, generator=g) * 2 - 1).to(dev)
    with torch.no_grad():
        sdf = torch.cat([decoder(truth[i:i + 1, None], pts[i:i + 1]).float() for i in range(shapes)])

    def fit(fused):
        z = fit_latents(decoder, pts, sdf, steps=steps, points_per_step=per_step, fused=fused)
        if cuda:
            torch.cuda.synchronize()
        return z

    def error(z):  # the fitted latents' SDF against the targets, clamped like the fit's loss
        with torch.no_grad():
            return float(torch.stack([clamped_l1(decoder(z[i:i + 1, None], pts[i:i + 1]).float(), sdf[i:i + 1], 0.1)
                                      .mean() for i in range(shapes)]).mean())

    repeat = 2 if cuda and not quick else 1  # on a GPU one untimed call first (CUDA set-up, Triton compilation)
    t_module, z_module = timed(fit, False, repeat=repeat)
    t_fused, z_fused = timed(fit, True, repeat=repeat)
    path = write_result("reconstruct", unit="s per reconstruction", project=t_fused, baseline=t_module,
                        project_label="the fused DeepSDF kernels, bf16 (fit_latents(fused=True))",
                        baseline_label="the decoder as a module, float32 (fused=False)", higher_is_better=False,
                        sizes={"shapes": shapes, "points_per_shape": points, "steps": steps,
                               "points_per_step": per_step},
                        extra={"sdf_l1_fused": error(z_fused), "sdf_l1_module": error(z_module),
                               "sdf_l1_start": error(torch.zeros_like(truth)),
                               "max_abs_latent_difference": float((z_fused - z_module).abs().max())})
    return {"path": str(path), "ratio": t_module / t_fused}
