"""Silhouette refinement of latents (issue: image -> mesh on unseen objects): the camera model
matches the renderer's, and refinement recovers a shape from its silhouettes."""

import numpy as np
import torch

from sdfnets.image2latent import refine


class Spheres(torch.nn.Module):
    """A stand-in decoder: the SDF of a sphere of radius z[0] centred at (z[1], 0, 0)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z, points):
        z = z.expand(*points.shape[:-1], z.shape[-1])
        centre = torch.stack([z[..., 1], torch.zeros_like(z[..., 1]), torch.zeros_like(z[..., 1])], -1)
        return (points - centre).norm(dim=-1) - z[..., 0] + 0 * self.unused


def _images(decoder, z, poses, yfov, res=96):
    """White images with a dark disc where the rays meet the shape of ``z``."""
    o, d = refine.camera_rays(torch.as_tensor(poses).float(), yfov, res)
    pts, hit = refine.ray_points(o, d, 256)
    inside = (decoder(z.reshape(1, 1, 1, -1), pts).min(-1).values < 0) & hit
    img = np.full((len(poses), res, res, 3), 255, np.uint8)
    img[inside.reshape(len(poses), res, res).numpy()] = (90, 100, 130)
    return img


def test_camera_rays_match_the_renderer(smoke_dataset):
    """Rays cast through the renders' pixels meet the mesh exactly where the renderer drew it."""
    import trimesh

    r = smoke_dataset.renders(0)
    mesh = smoke_dataset.mesh(0)
    res = 32
    o, d = refine.camera_rays(torch.as_tensor(r["poses"][:4]), float(r["yfov"]), res)
    hits = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_any(o.reshape(-1, 3).numpy(),
                                                                             d.reshape(-1, 3).numpy())
    ours = hits.reshape(4, res, res)
    theirs = refine.foreground_masks(r["images"][:4], res).numpy() > 0.5
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.85, iou
    flipped = (ours[:, ::-1] & theirs).sum() / (ours[:, ::-1] | theirs).sum()
    assert flipped < iou  # the vertical orientation matters, and ours is the renderer's


def test_refinement_recovers_a_shape_from_its_silhouettes():
    from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere

    dec = Spheres()
    poses, yfov = camera_poses(4), fov_for_unit_sphere(2.5)
    truth = torch.tensor([0.5, 0.2])
    images = _images(dec, truth, poses, yfov)
    start = torch.tensor([0.3, -0.1])
    cfg = refine.RefineConfig(steps=150, lr=1e-2, res=32, samples=64, tau=0.01, trust=1e-4)
    z, hist = refine.refine(dec, start, images, poses, yfov, cfg)
    assert hist[-1] < 0.3 * hist[0]
    assert torch.allclose(z, truth, atol=0.03), z
    views = refine.Views(images, poses, yfov, 32, 64, "cpu")
    assert views.iou(dec, z) > 0.9 > views.iou(dec, start)
    best, scores = refine.best_of(dec, torch.stack([start, truth, torch.tensor([0.8, 0.0])]), images, poses, yfov)
    assert best == 1 and scores[1] > 0.95


def test_trust_region_holds_the_latent_where_views_say_nothing():
    from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere

    dec = Spheres()
    poses, yfov = camera_poses(4), fov_for_unit_sphere(2.5)
    images = _images(dec, torch.tensor([0.5, 0.2]), poses, yfov)
    start = torch.tensor([0.3, -0.1])
    cfg = refine.RefineConfig(steps=60, lr=1e-2, res=24, samples=48, trust=1e3)
    z, _ = refine.refine(dec, start, images, poses, yfov, cfg)
    assert (z - start).abs().max() < 0.02  # a strong trust region keeps the DiT's latent


def test_a_batch_of_objects_refines_as_each_alone():
    from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere

    dec = Spheres()
    poses, yfov = camera_poses(3), fov_for_unit_sphere(2.5)
    truths = [torch.tensor([0.5, 0.2]), torch.tensor([0.35, -0.2]), torch.tensor([0.6, 0.0])]
    images = np.stack([_images(dec, t, poses, yfov, res=48) for t in truths])
    starts = torch.tensor([[0.3, -0.1], [0.5, 0.0], [0.4, 0.1]])
    cfg = refine.RefineConfig(steps=30, lr=1e-2, res=16, samples=32, trust=1e-3)
    together, _ = refine.refine(dec, starts, images, np.stack([poses] * 3), yfov, cfg, batch=2)
    alone = torch.stack([refine.refine(dec, starts[j], images[j], poses, yfov, cfg)[0] for j in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_unknown_poses_are_found_by_their_silhouettes():
    from sdfnets.data.cameras import fov_for_unit_sphere
    from sdfnets.data.cameras import camera_pose

    dec = Spheres()
    yfov = fov_for_unit_sphere(2.5)
    z = torch.tensor([0.35, 0.4])  # off centre: the silhouette depends on the direction
    true = np.stack([camera_pose(45, 20), camera_pose(210, 40)])  # on the search grid
    images = _images(dec, z, true, yfov)
    poses, ious = refine.estimate_poses(dec, z, images, yfov)
    assert (ious > 0.9).all(), ious
    views = refine.Views(images, poses, yfov, 24, 32, "cpu")
    found = views.iou(dec, z)
    wrong = refine.Views(images, np.stack([camera_pose(135, -20), camera_pose(300, 0)]), yfov, 24, 32, "cpu")
    assert float(found) > 0.9 > float(wrong.iou(dec, z))


def test_rays_that_miss_the_sphere_are_dropped_with_the_same_loss_gradient_and_iou():
    from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere

    dec = Spheres()
    poses, yfov = camera_poses(3), fov_for_unit_sphere(2.5)
    images = np.stack([_images(dec, torch.tensor([0.5, 0.2]), poses, yfov, res=48)] * 2)
    images[1, :, :6, :6] = 0  # foreground in a corner no ray through the sphere sees: a constant share
    both = np.stack([poses] * 2)
    full = refine.Views(images, both, yfov, 24, 32, "cpu", compact=False)
    compact = refine.Views(images, both, yfov, 24, 32, "cpu")
    assert 0.25 < 1 - compact.points.shape[-3] / full.points.shape[-3] < 0.45  # a third of the rays dropped
    assert float(compact.missed_true[1]) > 0 == float(compact.missed_true[0])
    z = torch.tensor([[0.45, 0.1], [0.3, -0.1]], requires_grad=True)
    grads = []
    for views in (full, compact):
        loss = views.loss(dec, z, 0.01)
        (g,) = torch.autograd.grad(loss.sum(), z)
        grads.append((loss.detach(), g, views.iou(dec, z.detach())))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_the_fused_decoder_casts_the_same_silhouettes_with_the_same_gradients_and_refinement():
    """Views through the fused DeepSDF step (what a Hopper GPU runs; here its PyTorch reference, also with
    points padded to a 128-row tile) give the loss, latent gradient, IoU and refined latents of the
    decoder run as a module."""
    import math

    from sdfnets.data.cameras import camera_poses, fov_for_unit_sphere
    from sdfnets.deepsdf import fused
    from sdfnets.deepsdf.model import Decoder

    torch.manual_seed(0)
    dec = Decoder(16, 32, 4, 2, 6, 8)
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        dec.out.bias.fill_(-0.1)  # SDF from -0.1 to 0.2 over the cube: surfaces in the views
    poses, yfov = camera_poses(3), fov_for_unit_sphere(2.5)
    images = np.stack([_images(Spheres(), torch.tensor([r, 0.1]), poses, yfov, res=48) for r in (0.4, 0.5)])
    both = np.stack([poses] * 2)
    z = torch.randn(2, 16) * 0.3
    tiled = fused.TorchOps()
    tiled.tile_m = 128  # the Triton kernels' row tile: the points get padded
    got = {}
    for name, use in (("module", False), ("fused", True), ("tiled", True)):
        views = refine.Views(images, both, yfov, 12, 20, "cpu", fused=use)
        if name == "tiled":
            views.ops = tiled
        zz = z.clone().requires_grad_()
        loss = views.loss(dec, zz, 0.05)
        (g,) = torch.autograd.grad(loss.sum(), zz)
        got[name] = (loss.detach(), g, views.iou(dec, z))
    assert math.prod(views.points.shape[-4:-1]) % 128  # each object's points: the tiled run did pad
    for name in ("fused", "tiled"):
        for a, b in zip(got[name], got["module"]):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert float(got["module"][1].abs().max()) > 1e-4  # a gradient that means something
    cfg = refine.RefineConfig(steps=5, res=12, samples=20, tau=0.05)
    runs = [refine.refine(dec, z, images, both, yfov, cfg, fused=f)[0] for f in (False, True)]
    assert float((runs[0] - z).abs().max()) > 1e-4
    torch.testing.assert_close(runs[1], runs[0], atol=1e-5, rtol=1e-4)
