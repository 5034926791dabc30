"""Oracle retrieval (``generalise.oracle_rows``: each query shape's nearest training shape by PointFlow's
Chamfer of 2,048 surface points) on the device it now picks by default, the GPU, against the same call
on the CPU, where notebook 16's out-of-distribution call ran before (it passed no device). Sizes of
that call at full: 36 out-of-distribution shapes against the 586 shapes of the corpus' train split.
The cost does not depend on the points' values, so the clouds are random; the CPU baseline times
``cpu_queries`` of the 36 queries and scales by 36 / cpu_queries (the work is one loop over queries)."""

from __future__ import annotations

import numpy as np
import torch
from harness import timed, write_result

from sdfnets.image2latent.generalise import oracle_rows


class _Clouds:
    """What oracle_rows reads of a dataset: each shape's surface points."""

    def __init__(self, num: int, points: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.surfaces = [rng.normal(size=(points, 3)).astype(np.float32) for _ in range(num)]

    def sdf(self, i):
        return {"surface_points": self.surfaces[i]}


def run(quick: bool = False) -> dict:
    queries, train, points, cpu_queries = (4, 20, 256, 2) if quick else (36, 586, 2048, 4)
    shapes = _Clouds(queries + train, points)  # exactly `points` each: every call sees the same sets
    q_ids, t_ids = list(range(train, train + queries)), list(range(train))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ours, rows = timed(oracle_rows, shapes, q_ids, t_ids, points=points, repeat=3)
    part, rows_cpu = timed(oracle_rows, shapes, q_ids[:cpu_queries], t_ids, points=points, device="cpu")
    base = part * queries / cpu_queries
    path = write_result(
        "oracle_retrieval", unit="s per call", project=ours, baseline=base, higher_is_better=False,
        project_label=f"oracle_rows, default device ({device})",
        baseline_label=f"oracle_rows on the CPU ({torch.get_num_threads()} threads), {cpu_queries} queries timed, "
                       f"scaled to {queries}",
        sizes={"queries": queries, "train_shapes": train, "points": points, "cpu_queries_timed": cpu_queries},
        extra={"same_rows_on_timed_queries": bool((rows[:cpu_queries] == rows_cpu).all())})
    return {"path": str(path), "ratio": base / ours}
