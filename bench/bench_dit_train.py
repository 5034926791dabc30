"""Phase 12 training speed: the latent DiT's step (d_model 384, 4 layers, batch 256, up to 8 view
tokens) replayed as one CUDA graph against the same step run eagerly, both through
:func:`sdfnets.image2latent.train.train_dit` on random latents and features (speed does not
depend on their values). Reports steps per second and both runs' final loss EMA (same math, so
the two should agree closely). On a CPU both are eager; the ratio is then about 1."""

from __future__ import annotations

import tempfile
import time

import torch
from harness import write_result

from sdfnets import config
from sdfnets.data.cameras import camera_poses
from sdfnets.image2latent import train as i2l


def run(quick: bool = False) -> dict:
    import os

    steps = 40 if quick or not torch.cuda.is_available() else 1500
    cfg = config.resolve("smoke" if quick else "full", image2latent={"steps": steps})
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(200, 64, generator=g)
    feats = torch.randn(200, 64, cfg.encoder.dim, generator=g)
    poses = torch.from_numpy(camera_poses(64)).float()
    out = {}
    old = os.environ.get("SDFNETS_RUNS_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SDFNETS_RUNS_DIR"] = tmp
        try:
            for name, graphed in (("eager", False), ("graph", True)):
                t0 = time.perf_counter()
                m = i2l.train_dit(cfg, lat, feats, poses, encoder="bench", tag=name, cuda_graph=graphed, progress=False)
                out[name] = (steps / (time.perf_counter() - t0), m.history[-1][1])
        finally:
            os.environ.pop("SDFNETS_RUNS_DIR") if old is None else os.environ.__setitem__("SDFNETS_RUNS_DIR", old)
    path = write_result("dit_train", unit="steps/s", project=out["graph"][0], baseline=out["eager"][0],
                        project_label="whole step (forward, backward, AdamW) captured once, replayed as a CUDA graph",
                        baseline_label="the same step, eager",
                        sizes={"steps": steps, "batch": cfg.image2latent.batch, "d_model": cfg.image2latent.d_model,
                               "max_views": cfg.image2latent.max_views},
                        extra={"loss_ema": {"graph": out["graph"][1], "eager": out["eager"][1]},
                               "note": "timing includes capture and warm-up"})
    return {"path": str(path), "ratio": out["graph"][0] / out["eager"][0]}
