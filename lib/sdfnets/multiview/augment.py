"""What a photo's views differ by from the renders the pixel-aligned network trains on, drawn at random for
training (``pixel.augment``, ``pixel.pose_jitter``): the object's colours and lighting (a per-view colour gain
and offset, a grey mix, a smooth brightness field standing in for texture and shading), a cut-out's ragged
edge (the silhouette grown or shrunk by a pixel) and a camera that is only roughly where it is said to be.
The background stays white, as :mod:`sdfnets.app.cutout` leaves it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def photo_like(views: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    """Views [B, K, 4, S, S] (RGB in [-1, 1] on white, then the silhouette; :func:`.pixelsdf.views_tensor`)
    with each view changed with probability ``p``; random numbers from ``generator`` (on the CPU)."""
    if p <= 0:
        return views
    b, k, _, s, _ = views.shape
    n, dev = b * k, views.device
    x = views.reshape(n, 4, s, s).float()

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    on = (rand(n) < p).float().view(n, 1, 1, 1)
    rgb, mask = x[:, :3], x[:, 3:]
    # the silhouette one pixel larger or smaller (a cut-out's edge), for a third of the changed views each way
    edge = rand(n).view(n, 1, 1, 1)
    grown = F.max_pool2d(mask, 3, 1, 1)
    shrunk = -F.max_pool2d(-mask, 3, 1, 1)
    new_mask = torch.where(edge < 1 / 3, grown, torch.where(edge < 2 / 3, shrunk, mask))
    # colours: gain and offset per channel, a grey mix, a smooth brightness field (8 x 8, upsampled)
    gain = 0.6 + 0.8 * rand(n, 3, 1, 1)
    offset = 0.6 * (rand(n, 3, 1, 1) - 0.5)
    grey = rand(n, 1, 1, 1)
    field = F.interpolate(rand(n, 1, 8, 8) - 0.5, size=(s, s), mode="bilinear", align_corners=False)
    colour = rgb * gain + offset
    colour = grey * colour.mean(1, keepdim=True) + (1 - grey) * colour + 0.5 * field
    # inside the (new) silhouette the object's colour (its nearest known colour where the edge grew), outside white
    inner = torch.where(mask > 0.5, colour, F.max_pool2d(colour * (mask > 0.5), 3, 1, 1))
    changed = torch.cat([torch.where(new_mask > 0.5, inner.clamp(-1, 1), torch.ones_like(inner)), new_mask], 1)
    return (on * changed + (1 - on) * x).reshape(views.shape).to(views.dtype)


def jitter_poses(poses: torch.Tensor, generator: torch.Generator, degrees: float) -> torch.Tensor:
    """Camera-to-world poses [..., 4, 4] each turned about the origin by a random rotation of up to ``degrees``
    (uniform axis, uniform angle): views taken roughly, not exactly, from where they are said to be."""
    if degrees <= 0:
        return poses
    lead = poses.shape[:-2]
    n = int(torch.tensor(lead).prod()) if lead else 1
    axis = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
    angle = torch.rand(n, generator=generator) * math.radians(degrees)
    kx = torch.zeros(n, 3, 3)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    kx = kx - kx.transpose(1, 2)
    eye = torch.eye(3).expand(n, 3, 3)
    rot = eye + angle.sin()[:, None, None] * kx + (1 - angle.cos())[:, None, None] * (kx @ kx)  # Rodrigues
    r = torch.eye(4).repeat(n, 1, 1)
    r[:, :3, :3] = rot
    return (r.to(poses.device, poses.dtype) @ poses.reshape(n, 4, 4)).reshape(poses.shape)
