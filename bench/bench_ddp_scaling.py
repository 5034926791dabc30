"""Phase 11 on several GPUs: point-samples per second of the same global batch on 1 rank and on W
ranks (all GPUs of the node with NCCL; on a machine with fewer than 2 GPUs, 2 CPU processes with
gloo), each a separate torchrun launch of ``sdfnets.deepsdf.distributed`` from this one process,
on synthetic shapes. Both run the one trainer (at full: the hand-fused bf16 step replayed as a CUDA
graph, device-resident samples, one all-reduce of the flat decoder gradient per step on W > 1), so
the 1-rank figure is the single-GPU figure. Scaling efficiency = W-rank / (W x 1-rank throughput)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from harness import write_result


def _launch(world: int, quick: bool) -> dict:
    cuda = torch.cuda.device_count() >= world and torch.cuda.is_available()
    scale, shapes, steps, per_step = ("smoke", 32, 6, 8) if quick or not cuda else ("full", 976, 400, 64)
    env = {**os.environ, "OMP_NUM_THREADS": "1",  # NVLink multicast stays off (NCCL, PyTorch, NVSHMEM)
           "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
    if not cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}", "-m",
           "sdfnets.deepsdf.distributed", "--scale", scale, "--synthetic", str(shapes), "--steps", str(steps),
           "--shapes-per-step", str(per_step), "--warmup", "3" if quick or not cuda else "30"]
    for attempt in range(2):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        # gloo on a CPU host has been seen to abort one rank at process-group teardown (SIGABRT,
        # "terminate called without an active exception"); one retry tells that apart from a real failure
        if res.returncode == 0 or "SIGABRT" not in res.stderr:
            break
    if res.returncode != 0:
        raise RuntimeError(f"torchrun with {world} rank(s) failed:\n{res.stderr[-3000:]}")
    line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]), "backend": "nccl" if cuda else "gloo"}


def run(quick: bool = False) -> dict:
    world = max(2, torch.cuda.device_count())
    one, many = _launch(1, quick), _launch(world, quick)
    eff = many["points_per_second"] / (world * one["points_per_second"])
    path = write_result("ddp_scaling", unit="point-samples/s", project=many["points_per_second"],
                        baseline=one["points_per_second"],
                        project_label=f"{world} ranks ({many['backend']}), shapes sharded, one all-reduce per step",
                        baseline_label="1 rank: the single-GPU trainer, same global batch",
                        sizes={"world": world, "steps": one["steps"]},
                        extra={"scaling_efficiency": eff, "backend": many["backend"], "recipe": many.get("recipe"),
                               "kernels": many.get("kernels")})
    return {"path": str(path), "ratio": many["points_per_second"] / one["points_per_second"]}
