"""Other ways of pooling (or reading) the views in the pixel-aligned SDF network
(:mod:`sdfnets.multiview.pixelsdf`), tried through ``bench/views_at_scale.py --variant NAME`` before any of them
goes into the library.

The library's network pools each view's point feature by mean and variance once, so a view's feature is made
without knowing what the other views see. The variants:

- ``max``: the maximum over the views beside mean and variance (a point outside one view's silhouette is
  outside the shape: a minimum or maximum says that directly, a mean only by its value);
- ``two-stage``: each view's feature made again knowing the views' mean and variance, then pooled with
  learned weights per view and by variance (IBRNet's aggregation, Wang et al., CVPR 2021);
- ``depth``: each view's feature map also predicts the view's depth (a 1 x 1 convolution, trained against the
  shape's rendered depth beside the SDF loss; ``depth-light``: that loss weighted 0.1), and each point is given
  how far behind that predicted surface it lies in each view: a point in front of the surface a view sees is
  empty, which silhouettes cannot say inside the visual hull (``bench/pixel_errors.py``: there the network gets
  the side of the surface wrong about half the time). Only the views are needed at inference; the depth maps are
  rendered for the training shapes. ``depth-given`` is told the true depth instead, at inference too (RGB-D
  views): what reading the views' depth could give at best;
- ``rotated``: each view's shared MLP also gives a few 3-vectors, read as directions in that camera's frame and
  turned into the world's by the camera's rotation before they are pooled (their mean and spread over the views,
  the ray from each camera beside them). The library's features stay in each camera's frame, so a direction one
  view reads (a surface's normal from its shading: the renders are lit from the camera) cannot be compared with
  what another view reads of the same point; turned into one frame, views that see the same surface agree, and
  views whose rays meet different surfaces do not.

And one of the data, with the library's network: ``mirror`` shows half the batch's shapes mirrored (x -> -x in
the world: the views flipped left to right, each camera mirrored with them, the SDF samples mirrored), twice
the shapes from the same renders — a render of the mirrored shape from the mirrored camera is the flipped render.

Each trains through the library's trainer (the same batches, loss, augmentation and checkpoints) under a run
folder of its own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from sdfnets.config import run_settings
from sdfnets.data.cameras import CAMERA_DISTANCE, project
from sdfnets.field import clamped_l1
from sdfnets.multiview import augment, pixeltrain
from sdfnets.multiview.pixelsdf import PixelSDF
from sdfnets.train import loop


def _pool(h: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and variance over the views (dim 1) with weights ``w`` [B, K, 1, 1] summing to 1."""
    mean = (h * w).sum(1)
    return mean, ((h - mean[:, None]) ** 2 * w).sum(1)


class _Variant(PixelSDF):
    """:class:`PixelSDF` with its pooling open to change (:meth:`pool`, :meth:`in_world`); the SDF MLP's input
    widened to ``pooled`` features of the views."""

    pooled = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        first = self.sdf[0]
        feature = self.point[-2].out_features
        self.sdf[0] = nn.Linear(self.pooled * feature + (first.in_features - 2 * feature), first.out_features)

    def pool(self, h: torch.Tensor, valid: torch.Tensor) -> list[torch.Tensor]:
        """The library's pooling: mean and variance over the views that exist (``valid`` [B, K, 1, 1])."""
        return list(_pool(h, valid / valid.sum(1, keepdim=True).clamp_min(1)))

    def per_view(self, sampled: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """What the shared MLP reads of each view: its sampled maps and the point in the camera's frame."""
        return torch.cat([sampled, self.pe(cam)], -1)

    def in_world(self, h: torch.Tensor, rot: torch.Tensor, cam: torch.Tensor, valid: torch.Tensor) -> list[torch.Tensor]:
        """Pooled features that need the cameras' rotations [B, K, 3, 3] (none here; :class:`Rotated`)."""
        return []

    def forward(self, maps, poses, points, valid=None, shown=None):
        b, k = maps.shape[:2]
        uv, cam = project(points, poses, self.yfov)
        sampled = torch.nn.functional.grid_sample(maps.flatten(0, 1), uv.flatten(0, 1)[:, :, None], align_corners=False)
        sampled = sampled[..., 0].transpose(1, 2).unflatten(0, (b, k))
        cam = torch.cat([cam[..., :2], cam[..., 2:] + CAMERA_DISTANCE], -1)
        h = self.point(self.per_view(sampled, cam))  # [B, K, N, F]
        valid = torch.ones(b, k, device=h.device) if valid is None else valid.float()
        pooled = self.pool(h, valid[..., None, None]) + self.in_world(h, poses[..., :3, :3], cam, valid)
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


class Rotated(_Variant):
    """Mean-and-variance pooling as the library's, beside ``vectors`` 3-vectors per view made from each view's
    feature in its camera's frame and pooled in the world's (:meth:`in_world`), with the camera's ray to the point."""

    vectors = 8

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vec = nn.Linear(self.point[-2].out_features, 3 * self.vectors)
        first = self.sdf[0]
        self.sdf[0] = nn.Linear(first.in_features + 4 * (self.vectors + 1), first.out_features)

    def in_world(self, h, rot, cam, valid):
        """The vectors [B, K, N, V + 1, 3] (the learned ones and the unit ray) turned by each camera's rotation,
        then their mean over the views (3 numbers each) and spread (the mean squared distance to that mean)."""
        ray = torch.cat([cam[..., :2], cam[..., 2:] - CAMERA_DISTANCE], -1)  # from the camera, not the centre
        ray = ray / ray.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        v = torch.cat([self.vec(h).unflatten(-1, (self.vectors, 3)), ray[..., None, :]], -2)
        v = torch.einsum("bkij,bknvj->bknvi", rot.to(v.dtype), v)
        w = (valid / valid.sum(1, keepdim=True).clamp_min(1))[..., None, None, None]
        mean = (v * w).sum(1)
        spread = (((v - mean[:, None]) ** 2).sum(-1, keepdim=True) * w).sum(1)
        return [mean.flatten(-2), spread.flatten(-2)]


NO_DEPTH = -10.0  # the depth channel's value where a view sees no surface (depths lie within 1 of 0)


def seen_depth(depth: torch.Tensor, size) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth maps [B, K, 1, S, S] (:data:`NO_DEPTH` where nothing is seen) at the feature maps' ``size``: the mean
    depth of each cell's pixels that see the shape, and whether most of them do."""
    b, k = depth.shape[:2]
    seen = (depth > NO_DEPTH / 2).float().flatten(0, 1)
    area = torch.nn.functional.interpolate(seen, size=size, mode="area")
    mean = torch.nn.functional.interpolate(depth.flatten(0, 1) * seen, size=size, mode="area") / area.clamp_min(1e-6)
    return mean.unflatten(0, (b, k)), (area > 0.5).unflatten(0, (b, k))


def masked_l1(pred: torch.Tensor, target: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Mean L1 of ``pred`` against ``target`` over the cells ``seen`` (those that see the shape)."""
    return ((pred - target).abs() * seen).sum() / seen.sum().clamp_min(1)


def constant_errors(target: torch.Tensor, seen: torch.Tensor) -> tuple[float, float]:
    """What two constants score on depth maps [..., S, S]: the object centre's depth (a reading of nothing) and
    each map's own mean depth where it sees the shape (a constant told the answer's mean)."""
    mean = (target * seen).sum((-1, -2), keepdim=True) / seen.sum((-1, -2), keepdim=True).clamp_min(1)
    return float(masked_l1(torch.zeros_like(target), target, seen)), float(masked_l1(mean.expand_as(target), target, seen))


class DepthAware(_Variant):
    """Mean-and-variance pooling as the library's, with each view's depth predicted from its features
    (:meth:`encode`, in the camera's distance minus the object centre's) and each point's depth behind it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        first = self.point[0]
        self.point[0] = nn.Linear(first.in_features + 2, first.out_features)  # + predicted depth, depth behind it
        self.depth = nn.Conv2d(first.in_features - 1 - self.pe.out_dim, 1, 1)
        self.target = None

    def encode(self, views):
        """As the library's, the predicted depth map appended; views with a fifth channel (training: the rendered
        depth, :data:`NO_DEPTH` where nothing is seen) leave it, at the maps' size, in ``target`` for the loss."""
        maps = super().encode(views[:, :, :4])
        b, k = maps.shape[:2]
        pred = self.depth(maps[:, :, :-1].flatten(0, 1)).unflatten(0, (b, k))
        if views.shape[2] > 4:
            self.target = seen_depth(views[:, :, 4:], maps.shape[-2:])
        return torch.cat([maps, pred], 2)

    def per_view(self, sampled, cam):
        behind = -cam[..., 2:] - CAMERA_DISTANCE - sampled[..., -1:]  # > 0: behind the surface the view sees
        return torch.cat([sampled, behind, self.pe(cam)], -1)

    def depth_loss(self, pred_maps: torch.Tensor) -> torch.Tensor:
        """L1 of the predicted depth against the rendered one where the view sees the shape."""
        target, seen = self.target
        return masked_l1(pred_maps[:, :, -1:].float(), target, seen)


class DepthGiven(DepthAware):
    """The depth-aware network told each view's true depth instead of predicting it (at inference too: views with
    depth, RGB-D): how far the SDF could go if the views' depth could be read. Cells that see nothing are given a
    surface beyond the object (:data:`BEYOND`), so every point there is in front of it."""

    def encode(self, views):
        maps = PixelSDF.encode(self, views[:, :, :4])
        depth, seen = seen_depth(views[:, :, 4:], maps.shape[-2:])
        return torch.cat([maps, torch.where(seen, depth, torch.full_like(depth, BEYOND)).to(maps.dtype)], 2)


BEYOND = 2.0  # depth (from the object's centre) given where a view sees nothing: behind the unit sphere


def measure_with_depth(model: DepthGiven, dataset, ids, images, poses, vids, image_size: int, resolution: int,
                       smooth: float = 0.0, min_part: float = 0.0, depth_of=None) -> dict:
    """:func:`sdfnets.multiview.pixelsdf.measure` for the network given the views' depth: each shape's views
    (``images`` [M, K, H, W, 3], the dataset's views ``vids`` [M, K], told ``poses`` [M, K, 4, 4]) with their
    depth rendered again, or as ``depth_of(j, i)`` gives it for the ``j``-th shape, ``i`` ([K, 1, S, S], an
    estimate: ``bench/depth_from_views.py``)."""
    from sdfnets import metrics
    from sdfnets.field import clean_grid, sdf_grid_sparse
    from sdfnets.multiview.pixelsdf import views_tensor

    @torch.no_grad()
    def grid(j: int, i: int) -> np.ndarray:
        depth = rendered_depth(dataset, [i], image_size)[0, vids[j]] if depth_of is None else depth_of(j, i)
        maps = model.encode(torch.cat([views_tensor(torch.as_tensor(images[j]), image_size), depth], 1)[None])
        told = torch.as_tensor(np.asarray(poses[j])).float()[None]
        g = sdf_grid_sparse(lambda pts: model(maps, told, pts[None])[0], resolution)
        return clean_grid(g, smooth, min_part) if smooth or min_part else g

    ids = [int(i) for i in ids]
    return metrics.measure_grids(((grid(j, i), dataset.sdf(i), i) for j, i in enumerate(ids)), ids,
                                 desc="pixel-aligned SDF, depth given")


def rendered_depth(dataset, ids, size: int) -> torch.Tensor:
    """Depth [S, V, 1, size, size] of every view of the shapes ``ids`` (the renders' cameras, the camera's
    distance minus the object centre's; :data:`NO_DEPTH` where the view sees nothing), rendered again from the
    meshes (the dataset keeps the views' colours and silhouettes, not their depth)."""
    import pyrender
    from tqdm.auto import tqdm

    from sdfnets.data.render import Renderer

    out = []
    with Renderer(size) as r:
        for i in tqdm(ids, desc="depth maps", leave=False):
            r.set_mesh(dataset.mesh(int(i)))
            views = []
            for pose in dataset.renders(int(i))["poses"]:
                r.scene.set_pose(r.cam_node, pose)
                views.append(r.gl.render(r.scene, flags=pyrender.RenderFlags.DEPTH_ONLY))
            d = torch.as_tensor(np.stack(views))
            out.append(torch.where(d > 0, d - CAMERA_DISTANCE, torch.full_like(d, NO_DEPTH)))
    return torch.stack(out)[:, :, None]


@torch.no_grad()
def depth_error(model: DepthAware, dataset, ids, size: int, views: int = 16) -> dict:
    """How well a trained depth-aware network predicts its views' depth: the mean L1 over the pixels that see
    the shape of the first ``views`` views of each shape ``ids``, beside two constants: the object centre's depth
    (what a network that reads nothing could say) and each view's own mean depth (a constant told the answer's
    mean)."""
    from sdfnets.multiview.pixelsdf import views_tensor

    model_err, centre_err, mean_err = [], [], []
    for i, depth in zip(ids, rendered_depth(dataset, ids, size)):
        v = views_tensor(torch.as_tensor(dataset.renders(int(i))["images"][:views]), size)
        maps = model.encode(torch.cat([v, depth[:views]], 1)[None])
        model_err.append(float(model.depth_loss(maps)))
        centre, mean = constant_errors(*model.target)
        centre_err.append(centre)
        mean_err.append(mean)
    return {"depth_l1": float(np.mean(model_err)), "centre_depth_l1": float(np.mean(centre_err)),
            "view_mean_depth_l1": float(np.mean(mean_err))}


VARIANTS = {"max": MaxPooled, "two-stage": TwoStage, "depth": DepthAware, "depth-light": DepthAware,
            "depth-given": DepthGiven, "mirror": PixelSDF, "rotated": Rotated}
DEPTH_WEIGHT = {"depth": 1.0, "depth-light": 0.1}  # the depth loss' weight beside the SDF's
WITH_DEPTH = {*DEPTH_WEIGHT, "depth-given"}  # the variants trained on views with their depth


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
        if variant in WITH_DEPTH:  # the depth as the views' fifth channel (the augmentation sees four: _batch)
            self.augment, self.cfg = self.cfg.augment, dataclasses.replace(self.cfg, augment=0.0)
            depth = rendered_depth(dataset, self.ids, self.cfg.image_size).to(self.device, self.views.dtype)
            self.views = torch.cat([self.views, depth], 2)

    def _batch(self):
        views, poses, points, sdf, shown = super()._batch()
        if self.variant in WITH_DEPTH and self.augment:
            views = torch.cat([augment.photo_like(views[:, :, :4], self.gen, self.augment), views[:, :, 4:]], 2)
        if self.variant == "mirror":
            flip = (torch.rand(len(views), generator=self.gen) < 0.5).to(self.device)
            views, poses, points = mirrored(views, poses, points, flip)
        return views, poses, points, sdf, shown

    def _step(self, views, poses, pts, target, shown) -> None:
        """The library's step; the depth variant adds its depth loss to the SDF loss."""
        if self.variant not in DEPTH_WEIGHT:
            return super()._step(views, poses, pts, target, shown)
        with self.autocast:
            maps = self.model.encode(views)
            pred = self.model(maps, poses, pts, shown=shown)
        loss = clamped_l1(pred.float(), target, self.cfg.clamp).mean()
        self.opt.zero_grad(set_to_none=not self.graphed)
        (loss + DEPTH_WEIGHT[self.variant] * self.model.depth_loss(maps)).backward()
        self.opt.step()
        self._loss += loss.detach()


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
