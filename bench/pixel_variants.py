"""Other ways of pooling the views in the pixel-aligned SDF network (:mod:`sdfnets.multiview.pixelsdf`), tried
through ``bench/views_at_scale.py --variant NAME`` before any of them goes into the library.

The library's network pools each view's point feature by mean and variance once, so a view's feature is made
without knowing what the other views see. The variants:

- ``max``: the maximum over the views beside mean and variance (a point outside one view's silhouette is
  outside the shape: a minimum or maximum says that directly, a mean only by its value);
- ``two-stage``: each view's feature made again knowing the views' mean and variance, then pooled with
  learned weights per view and by variance (IBRNet's aggregation, Wang et al., CVPR 2021).

And one of the data, with the library's network: ``mirror`` shows half the batch's shapes mirrored (x -> -x in
the world: the views flipped left to right, each camera mirrored with them, the SDF samples mirrored), twice
the shapes from the same renders — a render of the mirrored shape from the mirrored camera is the flipped render.

Each trains through the library's trainer (the same batches, loss, augmentation and checkpoints) under a run
folder of its own.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sdfnets.config import run_settings
from sdfnets.data.cameras import CAMERA_DISTANCE, project
from sdfnets.multiview import pixeltrain
from sdfnets.multiview.pixelsdf import PixelSDF
from sdfnets.train import loop


def _pool(h: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and variance over the views (dim 1) with weights ``w`` [B, K, 1, 1] summing to 1."""
    mean = (h * w).sum(1)
    return mean, ((h - mean[:, None]) ** 2 * w).sum(1)


class _Variant(PixelSDF):
    """:class:`PixelSDF` with its pooling replaced (:meth:`pool`); the SDF MLP's input widened to ``pooled``
    features of the views."""

    pooled = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        first = self.sdf[0]
        feature = self.point[-2].out_features
        self.sdf[0] = nn.Linear(self.pooled * feature + (first.in_features - 2 * feature), first.out_features)

    def pool(self, h: torch.Tensor, valid: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, maps, poses, points, valid=None, shown=None):
        b, k = maps.shape[:2]
        uv, cam = project(points, poses, self.yfov)
        sampled = torch.nn.functional.grid_sample(maps.flatten(0, 1), uv.flatten(0, 1)[:, :, None], align_corners=False)
        sampled = sampled[..., 0].transpose(1, 2).unflatten(0, (b, k))
        cam = torch.cat([cam[..., :2], cam[..., 2:] + CAMERA_DISTANCE], -1)
        h = self.point(torch.cat([sampled, self.pe(cam)], -1))  # [B, K, N, F]
        valid = torch.ones(b, k, device=h.device) if valid is None else valid.float()
        pooled = self.pool(h, valid[..., None, None])
        if self.world:
            own = self.pe(points)
            pooled.append(own if shown is None else own * shown[:, None, None].to(own.dtype))
        return self.sdf(torch.cat(pooled, -1))[..., 0]


class MaxPooled(_Variant):
    pooled = 3

    def pool(self, h, valid):
        mean, var = _pool(h, valid / valid.sum(1, keepdim=True).clamp_min(1))
        return [mean, var, h.masked_fill(valid == 0, float("-inf")).amax(1)]


class TwoStage(_Variant):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        f = self.point[-2].out_features
        self.again = nn.Sequential(nn.Linear(3 * f, f), nn.ReLU(), nn.Linear(f, f), nn.ReLU())
        self.weight = nn.Linear(f, 1)

    def pool(self, h, valid):
        mean, var = _pool(h, valid / valid.sum(1, keepdim=True).clamp_min(1))
        h2 = self.again(torch.cat([h, mean[:, None].expand_as(h), var[:, None].expand_as(h)], -1))
        w = self.weight(h2).float().masked_fill(valid == 0, float("-inf")).softmax(1).to(h2.dtype)
        return list(_pool(h2, w))


VARIANTS = {"max": MaxPooled, "two-stage": TwoStage, "mirror": PixelSDF}


def mirrored(views, poses, points, flip):
    """The shapes ``flip`` [B] marks seen mirrored in the world's x: their views [B, K, C, S, S] flipped left to
    right, their camera-to-world poses [B, K, 4, 4] M P M (M = diag(-1, 1, 1, 1): the world's x and the
    camera's own x, its image's horizontal, both reflected, so P stays a rotation), their points [B, N, 3]
    reflected."""
    m = torch.tensor([-1.0, 1.0, 1.0, 1.0], device=poses.device)
    views = torch.where(flip[:, None, None, None, None], views.flip(-1), views)
    poses = torch.where(flip[:, None, None, None], m[:, None] * poses * m, poses)
    points = torch.where(flip[:, None, None], points * m[:3], points)
    return views, poses, points


class Trainer(pixeltrain.Trainer):
    """The library's trainer with the variant's network (initialised from the same seed) and its optimiser."""

    def __init__(self, cfg, dataset, ids, device, variant: str):
        super().__init__(cfg, dataset, ids, device)
        torch.manual_seed(cfg.seed)
        self.model = VARIANTS[variant].from_settings(dataclasses.asdict(cfg.pixel), self.yfov).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.pixel.lr, capturable=self.graphed)
        self.variant = variant

    def _batch(self):
        views, poses, points, sdf, shown = super()._batch()
        if self.variant == "mirror":
            flip = (torch.rand(len(views), generator=self.gen) < 0.5).to(self.device)
            views, poses, points = mirrored(views, poses, points, flip)
        return views, poses, points, sdf, shown


def train(cfg, dataset, ids, variant: str, *, device=None, max_steps: int | None = None):
    """:func:`sdfnets.multiview.pixeltrain.train` for a variant: load its finished run or train (resuming) it."""
    from sdfnets.devices import default_device

    device = default_device(device)
    body = {"pixel": run_settings(cfg.pixel), "seed": cfg.seed, "data": loop.data_name(dataset),
            "ids": [int(i) for i in ids], "variant": variant}
    r = loop.load_or_train(lambda: Trainer(cfg, dataset, ids, device, variant),
                           loop.run_dir("pixelsdf", f"pixelsdf-{variant}", body), desc=f"pixel-aligned SDF ({variant})",
                           checkpoint_every=cfg.pixel.checkpoint_every,
                           log_every=max(1, min(100, cfg.pixel.steps // 20)), max_steps=max_steps, device=device,
                           extra={"config": cfg.to_dict(), "variant": variant})
    yfov = float(dataset.renders(int(ids[0]))["yfov"])
    model = VARIANTS[variant].from_settings(dataclasses.asdict(cfg.pixel), yfov).to(device)
    model.load_state_dict(r.state["model"])
    return model.eval(), r
