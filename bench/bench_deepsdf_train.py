"""Phase 11 training throughput, point-samples per second: the thesis recipe (eager float32,
4 shapes x 8,192 points per step) against the fast recipe (64 x 8,192 points per step, bf16,
fused Adam) computed by the hand-fused kernels (``kernels="triton"``, deepsdf/fused.py, the step
as one CUDA graph); the fast recipe through torch.compile is reported beside them. All through
:class:`sdfnets.deepsdf.train.Trainer` on the same device-resident bank of 976 shapes x 200,000
samples, timed with the device synchronised after a warm-up that includes compilation."""

from __future__ import annotations

import time

import torch
from harness import write_result

from sdfnets import config
from sdfnets.data.bank import SDFBank
from sdfnets.deepsdf.train import Trainer
from sdfnets.layers import count_parameters



def _throughput(recipe, overrides, bank, warmup, steps):
    cfg = config.resolve("full", deepsdf={"recipe": recipe, **overrides})
    tr = Trainer(cfg, bank)
    tr.run(warmup)
    sync = torch.cuda.synchronize if bank.data.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    tr.run(steps)
    sync()
    return tr.points_per_step * steps / (time.perf_counter() - t0), count_parameters(tr.decoder)


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if quick or not cuda:
        n, p, warm, steps = 32, 20_000, 2, 3
        fast = {"shapes_per_step": 8, "points_per_shape": 1024}
        thesis = {"points_per_shape": 1024}
    else:
        n, p, warm, steps = 976, 200_000, 30, 200
        fast = {"shapes_per_step": 64}
        thesis = {}
    bank = SDFBank.synthetic(n, p, device)
    pps_thesis, params = _throughput("thesis", thesis, bank, warm, steps)
    pps_inductor, _ = _throughput("fast", {**fast, "kernels": "inductor"}, bank, warm, steps)
    pps_fast, _ = _throughput("fast", {**fast, "kernels": "triton"}, bank, warm, steps)
    kernels = "hand-fused Triton GEMM epilogues, one CUDA graph" if cuda else "its float32 PyTorch reference (no GPU)"
    path = write_result("deepsdf_train", unit="point-samples/s", project=pps_fast, baseline=pps_thesis,
                        project_label=f"fast recipe, {kernels}, bf16, fused Adam, "
                                      f"{fast.get('shapes_per_step', 64)} shapes/step",
                        baseline_label="thesis recipe: eager float32, 4 shapes x 8,192 points/step",
                        sizes={"shapes": n, "samples_per_shape": p, "decoder_parameters": params,
                               "timed_steps": steps},
                        extra={"flop_limit_estimate": "6 x parameters per sample",
                               "fast_recipe_torch_compile_points_per_second": pps_inductor,
                               "hand_fused_over_torch_compile": pps_fast / pps_inductor})
    return {"path": str(path), "ratio": pps_fast / pps_thesis, "over_compile": pps_fast / pps_inductor}
