"""A signed distance read from the views where each point projects (pixel-aligned features, several views).

Global image codes retrieve (Tatarchenko et al., CVPR 2019); features tied to where a point falls in each
view generalise to shapes never seen (PIFu; pooled over views by mean and variance as in SparseNeuS). For a
query point and K posed views:

1. a small CNN turns each view (RGB and its silhouette) into a feature map at a quarter of its size (four
   convolutions; ``pixel.stride``: a half or the whole), or a small U-Net that also sees the view's context,
   at a quarter (``pixel.encoder``);
2. the point is projected into each view (:func:`project`, the renders' pinhole camera); the view's feature
   there (bilinear), whether it falls inside the silhouette, and its depth and coordinates in that camera's
   frame go through a shared MLP;
3. mean and variance over the views, with the point's own coordinates (``pixel.world``; off, the SDF is read
   from the views alone, as in PIFu), go through an MLP to the SDF.

Trained from scratch on the training shapes' renders and SDF samples with phase 11's clamped L1, K random
views per step; nothing pretrained, nothing per shape (:mod:`.pixeltrain`). This module holds what inference
loads: the network, the views' preparation, its grid and its measurement.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.cameras import CAMERA_DISTANCE, project
from ..data.render import foreground
from ..layers import PositionalEncoding


def views_tensor(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 views [..., H, W, 3] on white -> [..., 4, size, size] floats: RGB in [-1, 1] and the silhouette."""
    x = images.float() / 255.0
    mask = foreground(images)[..., None].float()
    x = torch.cat([x * 2 - 1, mask], -1).movedim(-1, -3)
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:])
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x.reshape(*lead, 4, size, size)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU())


class UNetEncoder(nn.Module):
    """Feature maps at a quarter of the view's size that also see the view's context: down to 1/16 (a
    receptive field of most of the view), back up to 1/4 with the skips of the same size (PIFu's encoder is a
    stacked hourglass for the same reason; the shallow CNN sees about 20 pixels around each point)."""

    def __init__(self, width: int):
        super().__init__()
        w = width
        self.down = nn.ModuleList([nn.Sequential(_conv(4, w), _conv(w, 2 * w, 2)),  # 1/2
                                   _conv(2 * w, 2 * w, 2),  # 1/4
                                   nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w)),  # 1/8
                                   nn.Sequential(_conv(4 * w, 4 * w, 2), _conv(4 * w, 4 * w))])  # 1/16
        self.up = nn.ModuleList([_conv(8 * w, 4 * w),  # at 1/8: the 1/16 maps upsampled beside the 1/8 ones
                                 _conv(6 * w, 2 * w)])  # at 1/4
        self.out = nn.Conv2d(2 * w, 2 * w, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, (skips[2], skips[1])):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False),
                                 skip], 1))
        return self.out(x)


ENCODERS = ("shallow", "unet")


class PixelSDF(nn.Module):
    def __init__(self, width: int = 32, feature: int = 64, hidden: int = 256, yfov: float = 0.9,
                 encoder: str = "shallow", stride: int = 4, world: bool = True):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
        if stride not in (1, 2, 4) or (encoder == "unet" and stride != 4):
            raise ValueError(f"feature maps at 1/{stride} of the view: the shallow CNN gives 1, 1/2 or 1/4, the U-Net "
                             "1/4 (pixel.stride = 4)")
        self.yfov = yfov
        self.world = world
        w = width
        if encoder == "unet":
            self.cnn = UNetEncoder(w)
        else:  # four convolutions, features at 1/4 (1/2 or the view's own size: the same layers, less strided)
            first = min(stride, 2)
            self.cnn = nn.Sequential(
                nn.Conv2d(4, w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, stride=first, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=stride // first, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, padding=1))
        self.pe = PositionalEncoding(6)
        per_view = 2 * w + 1 + self.pe.out_dim  # feature, inside the silhouette, the point in the camera's frame
        self.point = nn.Sequential(nn.Linear(per_view, feature), nn.ReLU(), nn.Linear(feature, feature), nn.ReLU())
        self.sdf = nn.Sequential(nn.Linear(2 * feature + world * self.pe.out_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))
        # start near zero: the clamped L1 passes no gradient to a prediction already beyond the clamp
        nn.init.zeros_(self.sdf[-1].bias)
        self.sdf[-1].weight.data.mul_(0.01)

    @classmethod
    def from_settings(cls, pixel: dict, yfov: float) -> "PixelSDF":
        """The network a ``pixel`` config section (as a dict: a config's or a release's) describes; settings
        from before a choice existed take its first value (the shallow CNN, maps at 1/4, world coordinates)."""
        return cls(pixel["width"], pixel["feature"], pixel["hidden"], yfov, pixel.get("encoder", "shallow"),
                   pixel.get("stride", 4), pixel.get("world", True))

    def encode(self, views: torch.Tensor) -> torch.Tensor:
        """Views [B, K, 4, S, S] -> feature maps [B, K, C, S/stride, S/stride] (the silhouette kept as the last
        channel)."""
        b, k = views.shape[:2]
        flat = views.flatten(0, 1)
        feats = self.cnn(flat)
        mask = F.interpolate(flat[:, 3:], size=feats.shape[-2:], mode="area")
        return torch.cat([feats, mask], 1).unflatten(0, (b, k))

    def forward(self, maps: torch.Tensor, poses: torch.Tensor, points: torch.Tensor,
                valid: torch.Tensor | None = None, shown: torch.Tensor | None = None) -> torch.Tensor:
        """SDF [B, N] at ``points`` [B, N, 3] from the feature maps of :meth:`encode` and the views' poses
        [B, K, 4, 4]; ``valid`` [B, K] marks the views that exist (fewer than K for some shapes); ``shown`` [B]
        (training with ``pixel.world_dropout``): 0 hides a shape's coordinates from the network (zeros)."""
        b, k = maps.shape[:2]
        uv, cam = project(points, poses, self.yfov)
        sampled = F.grid_sample(maps.flatten(0, 1), uv.flatten(0, 1)[:, :, None], align_corners=False)
        sampled = sampled[..., 0].transpose(1, 2).unflatten(0, (b, k))  # [B, K, N, C+1]
        cam = torch.cat([cam[..., :2], cam[..., 2:] + CAMERA_DISTANCE], -1)  # the object's centre at 0
        h = self.point(torch.cat([sampled, self.pe(cam)], -1))  # [B, K, N, F]
        wgt = (torch.ones(b, k, device=h.device) if valid is None else valid.float())[..., None, None]
        n = wgt.sum(1).clamp_min(1)
        mean = (h * wgt).sum(1) / n
        var = ((h - mean[:, None]) ** 2 * wgt).sum(1) / n
        pooled = [mean, var]
        if self.world:  # the point's own coordinates, hidden (zeros) for the shapes ``shown`` marks 0
            own = self.pe(points)
            pooled.append(own if shown is None else own * shown[:, None, None].to(own.dtype))
        return self.sdf(torch.cat(pooled, -1))[..., 0]


@torch.no_grad()
def sdf_grid(model: PixelSDF, images: np.ndarray, poses: np.ndarray, image_size: int, resolution: int = 128,
             smooth: float = 0.0, min_part: float = 0.0) -> np.ndarray:
    """The SDF [R, R, R] of one object from its views (uint8 [K, H, W, 3], poses [K, 4, 4]) on the grid of
    :func:`sdfnets.field.grid_points`, evaluated coarse to fine (bf16 on a GPU); with ``smooth`` or
    ``min_part``, tidied by :func:`sdfnets.field.clean_grid`."""
    from ..field import clean_grid, sdf_grid_sparse

    dev = next(model.parameters()).device
    with torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
        maps = model.encode(views_tensor(torch.as_tensor(np.asarray(images)), image_size)[None].to(dev))
        told = torch.as_tensor(np.asarray(poses)).float()[None].to(dev)
        grid = sdf_grid_sparse(lambda pts: model(maps, told, pts[None])[0], resolution, device=dev)
    return clean_grid(grid, smooth, min_part) if smooth or min_part else grid


def measure(model: PixelSDF, dataset, ids, images: np.ndarray, poses, image_size: int, resolution: int = 128,
            smooth: float = 0.0, min_part: float = 0.0, progress: bool = False) -> dict:
    """The model's mesh of each shape from its views (``images`` [M, K, H, W, 3], ``poses`` [M, K, 4, 4]),
    measured against the shape like any method's: the summary (F-score, Chamfer, IoU, parts) and the rows."""
    from .. import metrics

    ids = [int(i) for i in ids]
    jobs = ((sdf_grid(model, images[j], np.asarray(poses)[j], image_size, resolution, smooth, min_part),
             dataset.sdf(i), i) for j, i in enumerate(ids))
    return metrics.measure_grids(jobs, ids, progress=progress, desc="pixel-aligned SDF")
