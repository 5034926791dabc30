"""Phases 6-10 training speed: the ~131 M-parameter weight DiT's step (8 weight tokens of 6,849
entries, d_model 768, 8 layers, batch 256, up to 8 view tokens: phase 7) replayed as one CUDA
graph against the same step run eagerly (both bf16 autocast, foreach AdamW), through
:func:`sdfnets.weightspace.generate.train_weight_dit` on random weight vectors and features (speed
does not depend on their values). Reports steps per second and both runs' final loss EMA (same
math, so the two should agree closely). On a CPU both are eager; the ratio is then about 1."""

from __future__ import annotations

import os
import tempfile
import time

import torch
from harness import write_result

from sdfnets import config
from sdfnets.data.cameras import camera_poses
from sdfnets.weightspace.fit import WeightSet
from sdfnets.weightspace.generate import train_weight_dit
from sdfnets.weightspace.nets import NetSpec


def run(quick: bool = False) -> dict:
    steps = 20 if quick or not torch.cuda.is_available() else 300
    cfg = config.weight_phase(config.resolve("smoke" if quick else "full",
                                             weightdiff={"steps": steps, "checkpoint_every": 10**6}), "phase7")
    g = torch.Generator().manual_seed(0)
    spec = NetSpec()
    n = 256
    ws = WeightSet(spec, torch.randn(n, spec.num_params, generator=g), torch.zeros(n, spec.num_params), list(range(n)),
                   [str(i) for i in range(n)], torch.zeros(n).numpy(), {})
    feats = torch.randn(n, 64, 256, generator=g)
    poses = torch.from_numpy(camera_poses(64)).float()
    out = {}
    old = os.environ.get("SDFNETS_RUNS_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SDFNETS_RUNS_DIR"] = tmp
        try:
            for name, graphed in (("eager", False), ("graph", True)):
                t0 = time.perf_counter()
                m = train_weight_dit(cfg, ws, range(n), features=feats, poses=poses, encoder="bench", tag=name,
                                     cuda_graph=graphed, progress=False)
                out[name] = (steps / (time.perf_counter() - t0), m.history[-1][1])
                del m
        finally:
            os.environ.pop("SDFNETS_RUNS_DIR") if old is None else os.environ.__setitem__("SDFNETS_RUNS_DIR", old)
    wd = cfg.weightdiff
    path = write_result("weight_dit_train", unit="steps/s", project=out["graph"][0], baseline=out["eager"][0],
                        project_label="whole step (forward, backward, AdamW) captured once, replayed as a CUDA graph",
                        baseline_label="the same step, eager",
                        sizes={"steps": steps, "batch": wd.batch, "d_model": wd.d_model, "num_layers": wd.num_layers,
                               "tokens": wd.tokens, "max_views": wd.max_views},
                        extra={"loss_ema": {"graph": out["graph"][1], "eager": out["eager"][1]},
                               "note": "timing includes capture, warm-up and writing the final checkpoint"})
    return {"path": str(path), "ratio": out["graph"][0] / out["eager"][0]}
