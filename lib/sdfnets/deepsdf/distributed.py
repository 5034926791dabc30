"""Phase 11 on several GPUs (or CPU processes) under torchrun: the single-GPU trainer at world size W.

    torchrun --nproc-per-node 2 -m sdfnets.deepsdf.distributed --scale full

There is one trainer, :class:`sdfnets.deepsdf.train.Trainer`; this module only starts the process
group and hands it rank and world size. Shapes are sharded across ranks (rank r owns shapes r,
r + W, ...: their SDF samples on its device and their latents), the decoder is replicated, every
rank takes the same global batch and point draws and computes its own positions of it with the
same step as one GPU (the hand-fused bf16 kernels replayed as a CUDA graph on Hopper), and the
decoder's gradients are summed by one all-reduce of a flat buffer per step. A run on W ranks equals
the run on one up to the order of floating-point sums, and its checkpoints (gathered in shape order)
resume on any number of ranks (``tests/test_distributed.py``: 2 gloo processes against 1).

With ``--scale`` the run is the phase-11 run of that scale (same key, same folder under
``checkpoints/runs/deepsdf/``: notebook 11 then loads it); ``--synthetic N`` trains on N spheres for
throughput measurements (``bench/bench_ddp_scaling.py``) and writes nothing unless ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from .. import devices
from ..data.bank import SDFBank
from ..io import save_checkpoint
from .train import Trainer


def train(cfg, data: torch.Tensor, steps: int, *, rank: int = 0, world: int = 1, device=None,
          resume: dict | None = None, warmup: int = 0) -> tuple[dict, float]:
    """Train ``steps`` global steps on ``data`` [N, P, 4] (every rank passes the whole array and
    keeps its shard). ``resume``: a state from any world size (the run continues exactly).
    ``warmup`` steps run first, untimed (kernel autotuning, graph capture). Returns (the gathered
    state, with ``world``; seconds of the ``steps``)."""
    device = devices.default_device(device)
    tr = Trainer(cfg, SDFBank(data[rank::world].to(device)), device, rank=rank, world=world, num_shapes=len(data))
    if resume is not None:
        tr.load_state(resume)
    if warmup:
        tr.run(warmup)
        tr.loss()  # waits for the device (and, on several ranks, for every rank)
    t0 = time.perf_counter()
    tr.run(steps)
    if tr.device.type == "cuda":
        torch.cuda.synchronize(tr.device)
    seconds = time.perf_counter() - t0
    return {**tr.state(), "world": world}, seconds


def synthetic(n: int, p: int, seed: int = 0) -> torch.Tensor:
    """[n, p, 4] samples of n spheres (radii 0.3 to 0.8), the same on every rank."""
    return SDFBank.synthetic(n, p, "cpu", seed).data


def main(argv=None) -> None:  # pragma: no cover - exercised through torchrun by the benchmark and on GPU nodes
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="smoke", help="the config scale (and, without --synthetic, its dataset)")
    ap.add_argument("--steps", type=int, default=None, help="global steps (default: the config's epochs)")
    ap.add_argument("--synthetic", type=int, default=0, help="N synthetic shapes (spheres) instead of the dataset, "
                                                             "for throughput measurements")
    ap.add_argument("--shapes-per-step", type=int, default=None, help="global batch in shapes (a multiple of W)")
    ap.add_argument("--warmup", type=int, default=20, help="--synthetic: steps before the timed ones (capture, autotune)")
    ap.add_argument("--out", default=None, help="--synthetic: write the gathered state here (rank 0)")
    args = ap.parse_args(argv)
    from .. import config

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        for k in ("NCCL_NVLS_ENABLE", "NVSHMEM_DISABLE_NVLS"):  # NVLink multicast stays off
            os.environ.setdefault(k, "0" if k == "NCCL_NVLS_ENABLE" else "1")
        os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    cfg = config.resolve(args.scale, deepsdf={"shapes_per_step": args.shapes_per_step} if args.shapes_per_step else {})
    dc = cfg.deepsdf
    try:
        if args.synthetic:
            data = synthetic(args.synthetic, cfg.data.num_points)
            steps = args.steps or math.ceil(len(data) / dc.shapes_per_step) * dc.epochs
            ck, seconds = train(cfg, data, steps, rank=rank, world=world, device=device, warmup=args.warmup)
            pps = steps * dc.shapes_per_step * dc.points_per_shape / seconds
            if rank == 0:
                print(f"{world} rank(s): {steps} steps in {seconds:.2f} s, {pps / 1e6:.2f} M point-samples/s")
                print("RESULT " + json.dumps({"world": world, "steps": steps, "seconds": seconds,
                                              "points_per_second": pps, "device": str(device),
                                              "recipe": dc.recipe, "kernels": dc.kernels}))
                if args.out:
                    save_checkpoint(Path(args.out), **ck, seconds=seconds, points_per_second=pps)
        else:
            from ..data import load_or_build
            from ..data.splits import with_ood
            from .train import train as train_run

            ds = load_or_build(cfg.data)
            r = train_run(cfg, ds, with_ood(ds, cfg.image2latent.ood_category)[0], device=device, max_steps=args.steps, rank=rank, world=world)
            if rank == 0:
                print(f"{world} rank(s): {r.steps} steps, {r.points_per_second / 1e6:.2f} M point-samples/s, "
                      f"run in {r.run_dir}")
        if world > 1:
            dist.barrier()
    finally:
        if world > 1:
            dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    main()
