"""Phase 1 training: every per-shape ReLU+PE decoder (54,785 parameters) at once as one batched
model, against a Python loop that trains the same networks one by one, the same number of
steps each, through the same :class:`sdfnets.weightspace.fit.BatchedFit` (the loop gives it
one network at a time). Reported as network-steps per second (each step: 4,096 points per
network, forward, backward, Adam), device synchronised, after a warm-up; the time for the
phase-1 run at the full preset's step count follows from it."""

from __future__ import annotations

import time

import torch
from harness import write_result

from sdfnets import config
from sdfnets.data.bank import SDFBank
from sdfnets.weightspace.fit import BatchedFit
from sdfnets.weightspace.nets import NetSpec, init_params



def _rate(spec, bank, rows, steps, warmup, points, lr):
    """Network-steps per second of BatchedFit over bank rows ``rows`` (one fit for all of them)."""
    sub = SDFBank(bank.data[rows])
    tr = BatchedFit(spec, init_params(spec, len(rows)), sub, lr=lr, steps=warmup + steps, points_per_shape=points)
    tr.run(warmup)
    sync = torch.cuda.synchronize if bank.data.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    tr.run(steps)
    sync()
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    cfg = config.resolve("full")
    wc = cfg.weightspace
    spec = NetSpec.from_config(wc)
    if quick or not cuda:
        n, p, steps, warm, points = 8, 20_000, 3, 1, 1024
    else:
        n, p, steps, warm, points = 774, 200_000, 20, 5, wc.points_per_shape  # the Sweet Home 3D corpus
    bank = SDFBank.synthetic(n, p, device)
    t_batched = _rate(spec, bank, list(range(n)), steps, warm, points, wc.lr)
    t_loop = sum(_rate(spec, bank, [i], steps, warm, points, wc.lr) for i in range(n))
    batched, loop = n * steps / t_batched, n * steps / t_loop
    path = write_result("weightspace_fit", unit="network-steps/s", project=batched, baseline=loop,
                        project_label=f"all {n} networks as one batched model (bmm, fused Adam, TF32 on GPU)",
                        baseline_label="a Python loop over the networks, one at a time, same steps",
                        sizes={"networks": n, "samples_per_shape": p, "points_per_step": points,
                               "parameters_per_network": spec.num_params, "timed_steps": steps},
                        extra={"full_preset_steps": wc.steps,
                               "full_run_seconds_estimate": {"batched": wc.steps * n / batched,
                                                             "loop": wc.steps * n / loop}})
    return {"path": str(path), "ratio": batched / loop}
