"""Every shape's SDF samples as one device tensor: what every trainer of SDF networks draws from
(per-shape networks in phases 0-1.5, DeepSDF in phase 11)."""

from __future__ import annotations

import numpy as np
import torch

from ..devices import default_device


class SDFBank:
    """SDF samples [N, P, 4] (xyz, sdf) of N shapes, resident on one device."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    @classmethod
    def from_dataset(cls, dataset, indices=None, device=None, max_points: int | None = None) -> "SDFBank":
        indices = range(len(dataset)) if indices is None else indices
        rows = []
        for i in indices:
            s = dataset.sdf(i)
            pts, sdf = s["points"], s["sdf"]
            if max_points:
                pts, sdf = pts[:max_points], sdf[:max_points]
            rows.append(np.concatenate([pts, sdf[:, None]], axis=1))
        return cls(torch.from_numpy(np.stack(rows)).to(default_device(device)))

    @property
    def num_shapes(self) -> int:
        return self.data.shape[0]

    @classmethod
    def synthetic(cls, n: int, p: int, device=None, seed: int = 0) -> "SDFBank":
        """Spheres of radii 0.3 to 0.8 sampled uniformly in the cube (for throughput benchmarks)."""
        g = torch.Generator(device=device).manual_seed(seed)
        pts = torch.rand(n, p, 3, device=device, generator=g) * 2 - 1
        radii = torch.linspace(0.3, 0.8, n, device=device)[:, None, None]
        return cls(torch.cat([pts, pts.norm(dim=-1, keepdim=True) - radii], dim=-1))

    def gather(self, shape_ids: torch.Tensor, point_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.data[shape_ids[:, None], point_idx]  # [B, S, 4]
        return rows[..., :3], rows[..., 3]

    def fixed_subsets(self, num_points: int, seed: int = 0, chunk: int = 16):
        """Every shape in chunks: (rows, points, sdf), the same random subset of each shape's
        samples for a given seed (how per-shape errors are measured)."""
        dev = self.data.device
        g = torch.Generator(device=dev)
        g.manual_seed(seed)
        for s in range(0, self.num_shapes, chunk):
            ids = torch.arange(s, min(s + chunk, self.num_shapes), device=dev)
            idx = torch.randint(self.data.shape[1], (len(ids), num_points), generator=g, device=dev)
            yield (ids, *self.gather(ids, idx))
