"""Training speed of the pixel-aligned SDF network (:mod:`sdfnets.multiview.pixeltrain`) at the full preset's
sizes: the project's step replayed as a CUDA graph per number of views (``pixel.cuda_graph``) against the same
step run eagerly, both bf16 autocast, same seed and batches, in one process. Steps per second over the timed
steps after a warm-up that captures every K's graph; the two runs' mean loss over the timed steps is recorded
beside (the same batches, so it should agree to bf16 rounding). Inputs are synthetic: random views and SDF
samples of the full preset's shapes (the speed does not depend on what the pixels show). On a CPU both runs are
eager (graphs need a GPU): the ratio there is about 1."""

from __future__ import annotations

import time

import numpy as np
import torch
from harness import write_result

from sdfnets import config
from sdfnets.multiview.pixeltrain import Trainer


class SyntheticViews:
    """What :class:`Trainer` reads from a dataset: each shape's views, poses and SDF samples, made up."""

    def __init__(self, shapes: int, views: int, size: int, points: int, seed: int = 0):
        from sdfnets.data.cameras import camera_poses

        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (shapes, views, size, size, 3), dtype=np.uint8)
        self.images[:, :, : size // 8] = 255  # some white background
        self.poses = camera_poses(views).astype(np.float32)
        self.points = rng.uniform(-1, 1, (shapes, points, 3)).astype(np.float32)
        self.distances = (np.linalg.norm(self.points, axis=-1) - 0.5).astype(np.float32)

    def renders(self, i: int) -> dict:
        return {"images": self.images[i], "poses": self.poses, "yfov": 0.9}

    def sdf(self, i: int) -> dict:
        return {"points": self.points[i], "sdf": self.distances[i]}


def measure(cfg, data, device, warmup: int, steps: int) -> tuple[float, float]:
    """(steps per second, mean loss) of ``steps`` timed steps after ``warmup`` untimed ones."""
    tr = Trainer(cfg, data, range(len(data.images)), device)
    tr.run(warmup)
    tr.loss()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    tr.run(steps)
    sync()
    return steps / (time.perf_counter() - t0), tr.loss()


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    pixel = {} if not quick else dict(width=8, feature=16, hidden=32, image_size=32, batch=2, points=256, max_views=4)
    cfg = config.resolve("full", pixel=pixel)
    pc = cfg.pixel
    shapes, warmup, steps = (4, 4, 6) if quick else (64, 60, 300)
    data = SyntheticViews(shapes, 16, pc.image_size, 4096 if not quick else 512)
    results = {}
    for name, graph in (("graphed", True), ("eager", False)):
        c = config.resolve("full", pixel=pixel | {"cuda_graph": graph})
        results[name] = measure(c, data, device, warmup, steps)
    path = write_result("pixel_train", unit="steps per second", project=results["graphed"][0],
                        baseline=results["eager"][0],
                        project_label="pixel-aligned training step as a CUDA graph per K" if cuda
                        else "the same step (graphs need a GPU: eager here)",
                        baseline_label="the same step run eagerly",
                        sizes={"batch": pc.batch, "points": pc.points, "max_views": pc.max_views,
                               "image_size": pc.image_size, "width": pc.width, "encoder": pc.encoder,
                               "warmup_steps": warmup, "timed_steps": steps},
                        extra={"mean_loss": {k: v[1] for k, v in results.items()}})
    return {"path": str(path), "ratio": results["graphed"][0] / results["eager"][0]}
