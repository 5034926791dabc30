"""Where the weight DiT's training step spends its time, and which change makes it faster.

The phase-7 step (notebooks 08-09; 06, 07 and 10 train the same model with fewer view tokens) at full
size on random weights and features: its kernels under the PyTorch profiler (eager, so that each
op is named), then steps/s of variants of the CUDA-graphed step, each timed over the same steps after
capture, in one process:

- ``graph``: the step as it was before (bf16 autocast, foreach AdamW, one CUDA graph): the baseline;
- ``graph + fused AdamW``: the optimiser's single fused kernel;
- ``graph + compiled blocks + fused AdamW``: each transformer block through ``torch.compile``
  (Inductor's fused kernels; one compilation serves the eight blocks), then captured: the trainer as
  :func:`~sdfnets.weightspace.generate.train_weight_dit` builds it on a GPU;
- ``graph + compiled model + fused AdamW``: the whole model through one ``torch.compile``.

``first_10_steps_s`` holds capture and compilation; the first compiled variant on a fresh node
compiles from nothing, a later one in the same process may reuse its kernels.

``--model latent`` times phase 12's latent DiT (d_model 384, 4 layers, one latent token) the same way
(notebooks 08, 10, 12 and 15 train it), to see whether compiling pays there too.

Usage: python bench/weight_dit_step.py OUT_DIR [--steps 200] [--model weight|latent] [--quick]
Writes OUT_DIR/<weight|latent>_dit_step.json and OUT_DIR/<weight|latent>_dit_step_profile.txt.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from harness import git_commit

from sdfnets import config
from sdfnets.data.cameras import camera_poses
from sdfnets.diffusion.dit import LatentDiT, ViewDenoiser, WeightDiT
from sdfnets.diffusion.train import DenoisingTrainer
from sdfnets.layers import pose_embedding
from sdfnets.weightspace.nets import NetSpec


def trainer(wd, dim: int, n: int, feats: torch.Tensor, poses: torch.Tensor, device, *, compiled: str = "",
            fused: bool, graph: bool = True) -> DenoisingTrainer:
    torch.manual_seed(0)
    if dim == 64:  # phase 12's latent
        dit = LatentDiT(dim, feats.shape[2], wd.d_model, wd.num_layers, wd.num_heads, wd.pose_dim).to(device)
    else:
        dit = WeightDiT(dim, wd.tokens, feats.shape[2], wd.d_model, wd.num_layers, wd.num_heads, wd.pose_dim).to(device)
    g = torch.Generator(device=device).manual_seed(1)
    z = torch.randn(n, dim, generator=g, device=device)
    tr = DenoisingTrainer(ViewDenoiser(dit), dit, z, wd, seed=0, features=feats.to(device),
                          pose_emb=pose_embedding(poses.to(device), wd.pose_dim), device=device, cuda_graph=graph,
                          compile=compiled == "blocks")
    if compiled == "model":
        tr.model = torch.compile(tr.model, dynamic=False)
    if not fused:  # the trainer's own optimiser is the fused one
        tr.opt = torch.optim.AdamW(dit.parameters(), lr=torch.tensor(wd.lr, device=device) if graph else wd.lr,
                                   weight_decay=0.0, capturable=graph, foreach=True)
    return tr


def timed(tr: DenoisingTrainer, warm: int, steps: int) -> tuple[float, float, float]:
    """(seconds of the first ``warm`` steps (capture, compilation), steps/s over the next ``steps``, loss EMA)."""
    t0 = time.perf_counter()
    tr.run(warm)
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    tr.run(steps)
    torch.cuda.synchronize()
    return t1 - t0, steps / (time.perf_counter() - t1), tr.loss()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--model", default="weight", choices=("weight", "latent"))
    ap.add_argument("--quick", action="store_true", help="smoke-scale sizes (a check of the script)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda")
    cfg = config.weight_phase(config.resolve("smoke" if args.quick else "full"), "phase7")
    wd = cfg.weightdiff if args.model == "weight" else cfg.image2latent
    dim, n = (NetSpec().num_params, 512) if args.model == "weight" else (64, 586)
    feats = torch.randn(n, 64, cfg.encoder.dim, generator=torch.Generator().manual_seed(0))
    poses = torch.from_numpy(camera_poses(64)).float()

    # the eager step's kernels, by op
    tr = trainer(wd, dim, n, feats, poses, device, fused=False, graph=False)
    tr.run(5)
    torch.cuda.synchronize()
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        tr.run(5)
        torch.cuda.synchronize()
    ka = prof.key_averages()
    table = ka.table(sort_by="cuda_time_total", row_limit=45, max_name_column_width=60)
    kernels = prof.key_averages()
    cuda_total = sum(e.self_device_time_total for e in kernels  # ms per step, every kernel once (annotations
                     if not e.key.startswith(("Optimizer.", "ProfilerStep"))) / 5 / 1e3  # repeat their kernels)
    (out / f"{args.model}_dit_step_profile.txt").write_text(
        f"eager step, kernels' self time per step: {cuda_total:.2f} ms\n\n" + table)
    del tr

    res = {"benchmark": f"{args.model}_dit_step", "device": torch.cuda.get_device_name(), "git_commit": git_commit(),
           "torch": torch.__version__, "unit": "steps/s after capture (and compilation)",
           "sizes": {"batch": wd.batch, "d_model": wd.d_model, "num_layers": wd.num_layers,
                     "tokens": getattr(wd, "tokens", 1),
                     "max_views": wd.max_views, "dim": dim, "feature_dim": feats.shape[2]},
           "eager_kernel_ms_per_step": cuda_total, "steps": args.steps, "variants": {}}
    for name, kw in {"graph": dict(fused=False), "graph + fused AdamW": dict(fused=True),
                     "graph + compiled blocks + fused AdamW": dict(compiled="blocks", fused=True),
                     "graph + compiled model + fused AdamW": dict(compiled="model", fused=True)}.items():
        try:
            tr = trainer(wd, dim, n, feats, poses, device, **kw)
            warm_s, rate, loss = timed(tr, 10, args.steps)
            res["variants"][name] = {"first_10_steps_s": warm_s, "steps_per_s": rate, "loss_ema": loss}
            del tr
        except Exception as e:  # a variant that fails is reported, the others still run
            res["variants"][name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(name, res["variants"][name], flush=True)
        torch.cuda.empty_cache()
        v = res["variants"]
        if "steps_per_s" in v.get("graph", {}) and "steps_per_s" in v.get(name, {}):
            v[name]["over_graph"] = v[name]["steps_per_s"] / v["graph"]["steps_per_s"]
        (out / f"{args.model}_dit_step.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
