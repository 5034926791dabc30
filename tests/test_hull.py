"""The visual hull: the camera projection agrees with the renderer's rays, and a carved hull holds the shape."""

import numpy as np
import pytest
import torch
import trimesh

from sdfnets.data.cameras import CAMERA_DISTANCE, camera_poses, fov_for_unit_sphere, project
from sdfnets.field import grid_points
from sdfnets.image2latent.refine import camera_rays
from sdfnets.data.render import foreground
from sdfnets.multiview import hull


def test_projection_inverts_the_renderers_rays():
    poses = camera_poses(5)
    yfov, res = fov_for_unit_sphere(CAMERA_DISTANCE), 16
    o, d = camera_rays(torch.as_tensor(poses), yfov, res)
    pts = (o + 1.7 * d)[:, :: 7].double()  # points on every 7th pixel's ray
    for k in range(len(poses)):
        uv, cam = project(pts[k][None], torch.as_tensor(poses[k:k + 1])[None], yfov)
        c = (np.arange(res) + 0.5) / res * 2 - 1
        want = np.stack(np.meshgrid(c, c, indexing="xy"), -1).reshape(-1, 2)[:: 7]  # x right, y down
        np.testing.assert_allclose(uv[0, 0].numpy(), want, atol=1e-5)
        assert (-cam[..., 2] > 0).all()
    uv, cam = project(torch.zeros(1, 1, 3, dtype=torch.float64), torch.as_tensor(poses)[None], yfov)
    np.testing.assert_allclose(uv.numpy(), 0, atol=1e-9)
    np.testing.assert_allclose(-cam[..., 2].numpy(), CAMERA_DISTANCE, rtol=1e-6)


@pytest.fixture(scope="module")
def views():
    from sdfnets.data.render import Renderer

    a, b = trimesh.creation.box((0.9, 0.3, 0.3)), trimesh.creation.box((0.3, 0.8, 0.3))  # an L, off centre:
    a.apply_translation((0.1, -0.3, 0.2))  # no symmetry that a mirrored projection would still fit
    b.apply_translation((-0.2, 0.25, 0.2))
    shape = trimesh.util.concatenate([a, b])
    poses = camera_poses(8)
    with Renderer(128) as r:
        out = r.render_views(shape, poses)
    return shape, out["images"], poses, fov_for_unit_sphere(CAMERA_DISTANCE)


def test_the_hull_holds_the_shape_and_little_more(views):
    shape, images, poses, yfov = views
    pts = grid_points(48).numpy()
    inside = np.zeros(len(pts), bool)
    for part in shape.split(only_watertight=False):
        inside |= part.contains(pts)
    masks = foreground(images)
    occ = hull.carve(masks, poses, yfov, resolution=48).reshape(-1)
    assert occ[inside].mean() > 0.99  # the hull holds the shape
    iou = (occ & inside).sum() / (occ | inside).sum()
    assert iou > 0.6, iou  # and from 8 views little more (0.75 at 64³ from 128-pixel views)
    mirrored = hull.carve(masks[:, ::-1, ::-1], poses, yfov, resolution=48).reshape(-1)
    assert mirrored[inside].mean() < 0.5  # the test would notice a mirrored projection
    mesh = hull.visual_hull(images, poses, yfov, resolution=48)
    assert mesh is not None and mesh.volume > 0.9 * sum(p.volume for p in shape.split(only_watertight=False))


def test_fewer_views_carve_less_and_the_constraint_only_removes(views):
    shape, images, poses, yfov = views
    masks = foreground(images)
    one, eight = (hull.carve(masks[:k], poses[:k], yfov, resolution=32).sum() for k in (1, 8))
    assert one > eight
    sdf = np.random.default_rng(0).normal(size=(32, 32, 32)).astype(np.float32)
    h = hull.hull_sdf(hull.carve(masks, poses, yfov, resolution=32))
    assert (hull.constrain(sdf, h) >= sdf).all() and (hull.constrain(torch.as_tensor(sdf), h).numpy() >= sdf).all()
    assert (h[hull.carve(masks, poses, yfov, resolution=32)] < 0).all()
