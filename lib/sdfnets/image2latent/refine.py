"""Refining a predicted latent against the input views, through the frozen DeepSDF decoder.

The latent DiT lands near a training latent (it retrieves more than it generalises); the decoder
can represent unseen shapes far better (notebook 11's test-time fitting). Here the latent moves
until the decoder's shape casts the silhouettes the input images show, at the views' camera poses:

- rays through a ``res`` x ``res`` pixel grid of each view (the renders' pinhole camera: OpenGL
  convention, vertical field of view ``yfov``), ``samples`` points on each ray's chord of the unit
  sphere the shapes live in;
- a soft silhouette per ray: the soft minimum of the SDF along the ray (``-tau log sum exp(-sdf /
  tau)``), through a sigmoid of width ``tau``: 1 where the ray hits the surface, 0 where it misses;
- the loss: binary cross-entropy against the input's foreground mask (the pixels that are not the
  white background), plus ``trust`` x the squared distance to the DiT's latent (the prior the
  images alone do not pin down: the back of an object), minimised by Adam for ``steps`` steps.

:meth:`Views.iou` scores any latent against the masks without gradients, which is how
:func:`best_of` keeps the best of several sampled latents; :func:`silhouette_iou` compares hard
silhouettes with masks, for the pose searches (:func:`estimate_poses`, :mod:`sdfnets.multiview.poses`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..config import RefineConfig
from ..data.cameras import camera_pose
from ..data.render import foreground
from ..deepsdf import fused as fused_step


CPU_CONFIG = RefineConfig(steps=20, res=16, samples=24)  # what a 2-core CPU does in about 20 s per view


def foreground_masks(images: np.ndarray | torch.Tensor, res: int, threshold: int = 245) -> torch.Tensor:
    """[K, res, res] float foreground share of each pixel of ``images`` [K, H, W, 3] uint8 on a white
    background (any channel below ``threshold``), area-averaged down to ``res``."""
    fg = foreground(torch.as_tensor(np.asarray(images)), threshold).float()[:, None]
    return F.adaptive_avg_pool2d(fg, res)[:, 0]


def camera_rays(poses: torch.Tensor, yfov: float, res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions [K, res*res, 3] through the pixel centres of each camera
    (camera-to-world ``poses`` [K, 4, 4], looking down its -Z axis, image rows top to bottom)."""
    poses = poses.float()
    t = math.tan(yfov / 2)
    c = (torch.arange(res, dtype=torch.float32, device=poses.device) + 0.5) / res * 2 - 1
    y, x = torch.meshgrid(-c * t, c * t, indexing="ij")
    d = torch.stack([x, y, -torch.ones_like(x)], -1).reshape(-1, 3)
    d = F.normalize(d, dim=-1)
    dirs = torch.einsum("kij,rj->kri", poses[:, :3, :3], d)
    return poses[:, None, :3, 3].expand_as(dirs), dirs


def ray_points(origins: torch.Tensor, dirs: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` evenly spaced points [K, R, S, 3] on each ray's chord of the unit sphere, and
    whether the ray meets the sphere at all [K, R] (rays that miss get points at the nearest approach)."""
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - 1.0
    disc = b * b - c
    hit = disc > 0
    half = disc.clamp_min(0).sqrt()
    t0, t1 = -b - half, -b + half
    s = (torch.arange(samples, dtype=dirs.dtype, device=dirs.device) + 0.5) / samples
    t = t0[..., None] + (t1 - t0)[..., None] * s
    return origins[..., None, :] + t[..., None] * dirs[..., None, :], hit


def ray_sdf(decoder, z: torch.Tensor, points: torch.Tensor, ops=None) -> torch.Tensor:
    """float32 SDF [..., K, R, S] of latents ``z`` [..., D] at ``points`` [..., K, R, S, 3], one call over
    every object (:func:`sdfnets.deepsdf.fused.frozen_sdf`: through the fused kernels with ``ops`` from
    :func:`~sdfnets.deepsdf.fused.ops_for`, each latent's share of the first and the skip layer once per
    object, no weight gradients for a frozen decoder; else the decoder as a module)."""
    lead, body = points.shape[:-4], points.shape[-4:-1]
    g = math.prod(lead)
    return fused_step.frozen_sdf(decoder, z.reshape(g, -1), points.reshape(g, -1, 3), ops).reshape(*lead, *body)


def soft_silhouette(decoder, z: torch.Tensor, points: torch.Tensor, hit: torch.Tensor, tau: float,
                    ops=None) -> torch.Tensor:
    """[..., K, R] in (0, 1): the soft probability that each ray meets the surface of latent ``z``
    [..., D] (``points`` [..., K, R, S, 3], ``hit`` [..., K, R]; ``ops``: see :func:`ray_sdf`)."""
    sdf = ray_sdf(decoder, z, points, ops)
    soft_min = -tau * torch.logsumexp(-sdf / tau, dim=-1)
    return torch.sigmoid(-soft_min / tau) * hit


class Views:
    """Input views as silhouette targets: rays, their points, the masks. ``images`` [..., K, H, W, 3],
    ``poses`` [..., K, 4, 4] (any leading batch dimensions: one object, or several).

    Rays that miss the unit sphere in every view (the image corners: a third of them for cameras at
    distance 2.5 with the renders' field of view) cast no silhouette whatever the latent, so with
    ``compact`` they are dropped before the decoder runs and their constant share of the loss and of the
    IoU's union is added back: the same loss, gradients and IoU for two thirds of the decoder's work.
    ``fused``: the decoder's SDF through the fused kernels (:func:`~sdfnets.deepsdf.fused.ops_for`; None: where they are compiled)."""

    def __init__(self, images, poses, yfov: float, res: int, samples: int, device, compact: bool = True,
                 fused: bool | None = None):
        self.ops = fused_step.ops_for(device, fused)
        images = np.asarray(images)
        lead, k = images.shape[:-4], images.shape[-4]
        masks = foreground_masks(images.reshape(-1, *images.shape[-3:]), res).to(device)
        masks = masks.reshape(*lead, k, res * res)
        poses = torch.as_tensor(np.asarray(poses)).float().to(device)
        o, d = camera_rays(poses.reshape(-1, 4, 4), float(yfov), res)
        points, hit = ray_points(o, d, samples)
        points = points.reshape(*lead, k, res * res, samples, 3)
        hit = hit.reshape(*lead, k, res * res)
        keep = hit.reshape(-1, res * res).any(0) if compact else torch.ones(res * res, dtype=torch.bool, device=hit.device)
        self.rays = k * res * res  # every ray of every view: the loss is a mean over them
        self.points, self.hit, self.masks = points[..., keep, :, :], hit[..., keep], masks[..., keep]
        dropped = masks[..., ~keep].float()
        # a dropped ray's silhouette is 0, clamped to 1e-5 like every other: its binary cross-entropy is constant
        self.missed_bce = F.binary_cross_entropy(torch.full_like(dropped, 1e-5), dropped, reduction="none").sum((-1, -2))
        self.missed_true = (dropped > 0.5).sum((-1, -2))

    def loss(self, decoder, z, tau: float) -> torch.Tensor:
        """Binary cross-entropy of the soft silhouettes, per object [...] (mean over views and rays)."""
        sil = soft_silhouette(decoder, z, self.points, self.hit, tau, self.ops).clamp(1e-5, 1 - 1e-5)
        with torch.autocast(sil.device.type, enabled=False):  # the decoder may run in bf16, the loss in float32
            bce = F.binary_cross_entropy(sil, self.masks.float(), reduction="none").sum((-1, -2))
            return (bce + self.missed_bce) / self.rays

    @torch.no_grad()
    def iou(self, decoder, z) -> torch.Tensor:
        """Silhouette IoU [...] of the hard silhouettes (min SDF along the ray < 0) against masks > 0.5."""
        sdf = ray_sdf(decoder, z, self.points, self.ops)
        pred = (sdf.min(-1).values < 0) & self.hit
        true = self.masks > 0.5
        union = (pred | true).sum((-1, -2)) + self.missed_true
        return torch.where(union > 0, (pred & true).sum((-1, -2)) / union.clamp_min(1), torch.ones_like(union).float())


def refine(decoder, z0: torch.Tensor, images, poses, yfov: float, cfg: RefineConfig = RefineConfig(), *,
           latent_scale: float = 1.0, batch: int = 8, progress: bool = False,
           on_step=None, compact: bool = True, fused: bool | None = None) -> tuple[torch.Tensor, list[float]]:
    """The latents near ``z0`` ([D] for one object, [M, D] for M) whose shapes best cast the
    silhouettes of ``images`` ([K, H, W, 3] or [M, K, H, W, 3], white background) seen from
    ``poses`` ([K, 4, 4] or [M, K, 4, 4]); ``latent_scale``: the training latents' spread (std), the
    trust region's unit. Objects are refined ``batch`` at a time, each by its own loss (Adam's
    updates are per entry, so a batch gives each object the result it gets alone). On a GPU the
    decoder runs in bf16. ``on_step(done, total)`` after each step (steps over all batches); ``compact``:
    see :class:`Views` (the same result either way, a third less work with it); ``fused``: the decoder
    through the fused DeepSDF kernels (None: on a Hopper GPU with Triton, the same function in bf16).
    Returns (latents like ``z0``, mean loss per step of the last batch)."""
    single = z0.dim() == 1
    if single:
        z0, images, poses = z0[None], np.asarray(images)[None], np.asarray(poses)[None]
    dev = next(decoder.parameters()).device
    out, history = [], []
    for p in decoder.parameters():
        p.requires_grad_(False)
    try:
        for s in tqdm(range(0, len(z0), batch), desc="refine", unit="batch", disable=not progress, leave=False):
            views = Views(np.asarray(images)[s:s + batch], np.asarray(poses)[s:s + batch], yfov, cfg.res, cfg.samples, dev,
                          compact=compact, fused=fused)
            start = z0[s:s + batch].to(dev).float()
            z = torch.nn.Parameter(start.clone())
            opt = torch.optim.Adam([z], lr=cfg.lr)
            history = []
            for _ in range(cfg.steps):
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    fit = views.loss(decoder, z, cfg.tau)
                loss = fit + cfg.trust * ((z - start) / latent_scale).pow(2).mean(-1)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                history.append(float(loss.detach().mean()))
                if on_step is not None:
                    on_step(s // batch * cfg.steps + len(history), -(-len(z0) // batch) * cfg.steps)
            out.append(z.detach())
    finally:
        for p in decoder.parameters():
            p.requires_grad_(True)
    z = torch.cat(out)
    return (z[0] if single else z), history


def best_of(decoder, candidates: torch.Tensor, images, poses, yfov: float, res: int = 32,
            samples: int = 48) -> tuple[int, list[float]]:
    """Which of ``candidates`` [S, D] casts silhouettes closest to the images' (silhouette IoU):
    (its index, every candidate's IoU)."""
    dev = next(decoder.parameters()).device
    views = Views(images, poses, yfov, res, samples, dev)
    scores = [float(views.iou(decoder, z.to(dev).float())) for z in candidates]
    return int(np.argmax(scores)), scores


@torch.no_grad()
def silhouette_iou(masks: torch.Tensor, sils: torch.Tensor) -> torch.Tensor:
    """IoU [K, C] of each view's mask [K, R] (> 0.5) against each candidate's hard silhouette [C, R]."""
    m, s = (masks > 0.5).float(), sils.float()
    inter = m @ s.T
    return inter / (m.sum(1, keepdim=True) + s.sum(1)[None] - inter).clamp_min(1)


def estimate_poses(decoder, z: torch.Tensor, images, yfov: float, *, distance: float = 2.5, azimuths: int = 24,
                   elevations=(-20.0, 0.0, 20.0, 40.0, 60.0), res: int = 24, samples: int = 32,
                   chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Camera poses for views taken from unknown directions: for each image [K, H, W, 3], the camera
    on a grid of ``azimuths`` x ``elevations`` (looking at the origin from ``distance``) from which the
    shape of ``z`` casts the silhouette closest to the image's (IoU). Returns (poses [K, 4, 4], the
    best IoU of each view [K])."""
    
    dev = next(decoder.parameters()).device
    ops = fused_step.ops_for(dev)
    cands = np.stack([camera_pose(a, e, distance) for e in elevations for a in np.arange(azimuths) * 360.0 / azimuths])
    sils = []
    for s in range(0, len(cands), chunk):
        o, d = camera_rays(torch.as_tensor(cands[s:s + chunk]).float().to(dev), float(yfov), res)
        pts, hit = ray_points(o, d, samples)
        sdf = ray_sdf(decoder, z.to(dev).float(), pts, ops)
        sils.append((sdf.min(-1).values < 0) & hit)
    iou = silhouette_iou(foreground_masks(images, res).to(dev).reshape(len(images), -1), torch.cat(sils))
    best = iou.argmax(1).cpu().numpy()
    return cands[best], iou.max(1).values.cpu().numpy()
