"""Silhouette refinement through the fused DeepSDF kernels (``Views(fused=True)``: each latent's share of
the first and the skip layer once per object, one Triton kernel per layer, no weight gradients for the
frozen decoder) against the decoder run as a module under bf16 autocast, both on the rays that meet the
unit sphere; the same refinement as ``bench_refine.py`` (16 latents x 4 views, 48 x 48 rays, 48 samples,
60 Adam steps). On a CPU the fused side is the kernels' PyTorch reference (float32). The record holds
the largest difference between the two refined latents beside how far refinement moved them."""

from __future__ import annotations

import torch
from bench_refine import setup
from harness import timed, write_result

from sdfnets.deepsdf import fused


def run(quick: bool = False) -> dict:
    go, repeat, sizes = setup(quick)
    t_module, z_module = timed(go, repeat=repeat, fused=False)
    t_fused, z_fused = timed(go, repeat=repeat, fused=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    path = write_result("refine_fused", unit="s per refinement", project=t_fused, baseline=t_module,
                        project_label="the fused DeepSDF kernels (Views(fused=True))",
                        baseline_label="the decoder as a module, bf16 autocast on a GPU (fused=False)",
                        higher_is_better=False, sizes=sizes,
                        extra={"ops": type(fused.ops_for(dev, True)).__name__,
                               "max_abs_latent_difference": float((z_fused - z_module).abs().max()),
                               "max_abs_latent_move": float((z_module.cpu() - go.start).abs().max())})
    return {"path": str(path), "ratio": t_module / t_fused}
