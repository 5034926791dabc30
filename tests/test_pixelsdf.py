"""The pixel-aligned SDF network: its projection is the renders' camera, it learns, and it resumes exactly."""

import json

import numpy as np
import pytest
import torch

from sdfnets import config
from sdfnets.data.cameras import CAMERA_DISTANCE, camera_poses, fov_for_unit_sphere
from sdfnets.multiview import pixelsdf, pixeltrain


def test_the_batched_projection_is_the_pinhole_camera():
    """The projection the network samples its views with, against the pinhole model written out in numpy."""
    poses = camera_poses(6)
    yfov = fov_for_unit_sphere(CAMERA_DISTANCE)
    pts = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    uv, cam = pixelsdf.project(torch.as_tensor(pts)[None].float(), torch.as_tensor(poses)[None].float(), yfov)
    local = np.einsum("kij,nj->kni", np.linalg.inv(poses)[:, :3, :3], pts) + np.linalg.inv(poses)[:, None, :3, 3]
    depth = -local[..., 2]
    want = np.stack([local[..., 0], -local[..., 1]], -1) / (depth * np.tan(yfov / 2))[..., None]
    np.testing.assert_allclose(uv[0].numpy(), want, atol=1e-4)
    np.testing.assert_allclose(-cam[0, ..., 2].numpy(), depth, atol=1e-4)


@pytest.mark.slow
def test_training_lowers_the_loss_and_a_resumed_run_is_the_same_run(smoke_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "a"))
    cfg = config.resolve("smoke")
    ids = list(range(6))
    model, run = pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    losses = [v for _, v in run.history]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "b"))
    pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False, max_steps=100)  # an interrupted run
    resumed, _ = pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    r = smoke_dataset.renders(7)
    grid = pixelsdf.sdf_grid(model, r["images"][:3], r["poses"][:3], cfg.pixel.image_size, resolution=16)
    assert grid.shape == (16, 16, 16) and np.isfinite(grid).all()


@pytest.mark.slow
def test_augmented_training_resumes_to_the_same_run(smoke_dataset, tmp_path, monkeypatch):
    cfg = config.resolve("smoke", pixel={"augment": 0.5, "pose_jitter": 5.0, "steps": 60, "checkpoint_every": 30})
    ids = list(range(6))
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "a"))
    whole, run = pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    assert all(np.isfinite(v) for _, v in run.history)
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "b"))
    pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False, max_steps=30)
    resumed, _ = pixeltrain.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_graphed_training_steps_are_the_eager_ones(smoke_dataset):
    """The same batches through the CUDA-graph path (one graph per K) and eagerly: the same losses and weights
    to bf16 rounding."""
    models, losses = {}, {}
    for graph in (True, False):
        cfg = config.resolve("smoke", pixel={"cuda_graph": graph})
        tr = pixeltrain.Trainer(cfg, smoke_dataset, range(6), "cuda")
        assert tr.graphed == graph
        tr.run(30)
        losses[graph], models[graph] = tr.loss(), tr.model
        if graph:
            assert 1 < len(tr.graphs) <= cfg.pixel.max_views
    assert losses[True] == pytest.approx(losses[False], rel=0.05)
    for a, b in zip(models[True].parameters(), models[False].parameters()):
        torch.testing.assert_close(a, b, atol=0.05, rtol=0.05)


def test_clean_grid_drops_a_floater_and_keeps_the_shape():
    """A sphere of radius 0.5 with a small sphere floating beside it and a small bubble inside: one part after
    the clean-up, the big sphere's radius unchanged to within a cell."""
    from sdfnets.field import BOUND, clean_grid, grid_points, grid_to_mesh
    from sdfnets.metrics.shapes import components

    pts = grid_points(64).numpy()
    sdf = np.minimum(np.linalg.norm(pts, axis=1) - 0.5, np.linalg.norm(pts - [0.8, 0.8, 0.0], axis=1) - 0.06)
    sdf = np.maximum(sdf, 0.08 - np.linalg.norm(pts - [0.1, 0.0, 0.0], axis=1))  # the bubble
    grid = sdf.reshape(64, 64, 64).astype(np.float32)
    assert components(grid_to_mesh(grid))["components"] == 3
    mesh = grid_to_mesh(clean_grid(grid))
    assert components(mesh)["components"] == 1
    radius = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(np.median(radius) - 0.5) < 2 * BOUND / 63
    np.testing.assert_array_equal(clean_grid(grid, smooth=0, min_part=0), grid)  # both off: the grid as it was


@pytest.mark.parametrize("size", [64, 96, 128])
def test_both_encoders_give_feature_maps_at_a_quarter_of_the_view(size):
    views = torch.rand(2, 3, 4, size, size) * 2 - 1
    maps = {e: pixelsdf.PixelSDF(8, 16, 32, encoder=e, stride=4).encode(views) for e in pixelsdf.ENCODERS}
    assert maps["shallow"].shape == maps["unet"].shape == (2, 3, 2 * 8 + 1, size // 4, size // 4)
    torch.testing.assert_close(maps["unet"][:, :, -1], maps["shallow"][:, :, -1])  # the silhouette channel
    # the U-Net's feature at a pixel depends on the view far away from it; the shallow CNN's does not
    far = views.clone()
    far[..., : size // 4, : size // 4] = 0.5
    for e, sees in (("unet", True), ("shallow", False)):
        torch.manual_seed(0)
        net = pixelsdf.PixelSDF(8, 16, 32, encoder=e, stride=4)
        mid = size // 8 + 1  # a quarter of the view and more from the change: beyond the shallow CNN's reach
        changed = (net.encode(far) - net.encode(views))[..., mid, mid].abs().max() > 1e-6
        assert bool(changed) == sees, e
    with pytest.raises(ValueError, match="unknown encoder"):
        pixelsdf.PixelSDF(8, 16, 32, encoder="resnet")
    fine = pixelsdf.PixelSDF(8, 16, 32, stride=2).encode(views)  # finer maps from the same layers
    assert fine.shape[-2:] == (size // 2, size // 2)
    assert pixelsdf.PixelSDF(8, 16, 32, stride=1).encode(views).shape[-2:] == (size, size)
    pts, poses = torch.rand(2, 50, 3) - 0.5, torch.as_tensor(camera_poses(3)).float()[None].expand(2, -1, -1, -1)
    assert pixelsdf.PixelSDF(8, 16, 32, stride=2)(fine, poses, pts).shape == (2, 50)
    with pytest.raises(ValueError, match="1/4"):
        pixelsdf.PixelSDF(8, 16, 32, encoder="unet", stride=2)


class _Constant(torch.nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.width = width

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.ones(*h.shape[:-1], self.width)


def test_without_world_coordinates_the_sdf_is_read_from_the_views_alone():
    """pixel.world off: two points seen alike by every view (the same feature, silhouette and camera-frame
    coordinates) get the same SDF; with the point's own coordinates they need not."""
    torch.manual_seed(0)
    views = torch.rand(1, 2, 4, 32, 32) * 2 - 1
    poses = torch.as_tensor(camera_poses(2)).float()[None]
    pts = torch.rand(1, 2, 3) - 0.5
    for world in (False, True):
        net = pixelsdf.PixelSDF(8, 16, 32, world=world)
        net.sdf[-1].weight.data.normal_()  # away from the near-zero start
        maps = net.encode(views)
        # the views' contribution held fixed: only the point's own coordinates can tell the two points apart
        net.point = _Constant(16)
        a, b = net(maps, poses, pts)[0]
        assert (a == b) != world, world
        # training with pixel.world_dropout: a shape whose coordinates are hidden is read from its views alone
        a, b = net(maps, poses, pts, shown=torch.zeros(1))[0]
        assert a == b


@pytest.mark.parametrize("choices", [{}, {"encoder": "unet", "stride": 4}, {"stride": 2, "world": False}])
def test_a_released_network_loads_as_it_was_saved(tmp_path, choices):
    from safetensors.torch import save_file

    from sdfnets.multiview import release

    torch.manual_seed(0)
    # a release of before a choice existed has none in its config: what every network then was (the shallow
    # CNN, maps at 1/4, the point's own coordinates)
    was = {"encoder": "shallow", "stride": 4, "world": True} | choices
    model = pixelsdf.PixelSDF(8, 16, 32, yfov=fov_for_unit_sphere(CAMERA_DISTANCE), **was).eval()
    model.sdf[-1].weight.data.normal_(0, 0.1)  # away from the near-zero start: an SDF with a spread
    pixel = {"width": 8, "feature": 16, "hidden": 32, "image_size": 32} | choices
    path = release.export(model, pixel, tmp_path / "p.safetensors", corpus="procedural", train_shapes=3,
                          metrics={"F": 0.5}, card="# card\n")
    loaded, meta = release.load(path)
    assert meta["pixel"] == pixel and meta["metrics"] == {"F": 0.5} and (tmp_path / "p.md").read_text() == "# card\n"
    assert loaded.yfov == pytest.approx(model.yfov)
    views = torch.rand(1, 3, 4, 32, 32) * 2 - 1
    poses = torch.as_tensor(camera_poses(3)).float()[None]
    pts = torch.rand(1, 200, 3) - 0.5
    with torch.no_grad():
        want = model(model.encode(views), poses, pts)
        got = loaded(loaded.encode(views), poses, pts)
    # int8 matrices and kernels: the SDF within a few per cent of its size, and varying as the original's
    err, size = (got - want).abs().mean(), want.pow(2).mean().sqrt()
    assert err <= 0.06 * size  # 0.03 for these random weights
    assert torch.corrcoef(torch.stack([got.flatten(), want.flatten()]))[0, 1] > 0.999
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.get_tensor("sdf.0.weight.q").dtype == torch.int8 and f.get_tensor("sdf.0.bias").dtype == torch.float16
    # a release of the first format (every tensor float16) still loads
    v1 = {k: v.half() for k, v in model.state_dict().items()}
    meta = {"format": "sdfnets-pixelsdf-v1", "pixel": json.dumps(pixel), "yfov": repr(float(model.yfov))}
    save_file(v1, str(tmp_path / "v1.safetensors"), metadata=meta)
    with torch.no_grad():
        old, _ = release.load(tmp_path / "v1.safetensors")
        torch.testing.assert_close(old(old.encode(views), poses, pts), want, atol=2e-3, rtol=0)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="something-else"):
        release.load(tmp_path / "other.safetensors")


def test_grid_silhouettes_match_the_renders_and_tell_cameras_apart(smoke_dataset):
    """A shape's SDF grid, seen through poses.grid_silhouettes from the cameras that rendered it, casts the
    renders' silhouettes, and the silhouette IoU tells the cameras apart."""
    import point_cloud_utils as pcu

    from sdfnets.field import grid_points
    from sdfnets.image2latent.refine import foreground_masks
    from sdfnets.multiview import poses

    ds, i = smoke_dataset, 0
    mesh, r = ds.mesh(i), ds.renders(i)
    sdf, _, _ = pcu.signed_distance_to_mesh(grid_points(40).numpy().astype(np.float64),
                                            np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32))
    grid, yfov = sdf.reshape(40, 40, 40), float(r["yfov"])
    masks = foreground_masks(r["images"], 24).reshape(len(r["images"]), -1)
    at_truth = np.diag(poses.silhouette_iou(masks, poses.grid_silhouettes(grid, r["poses"], yfov)).numpy())
    assert at_truth.min() > 0.8, at_truth
    # with the rendering cameras themselves as the candidates, most views pick their own (silhouettes repeat
    # under the shape's symmetries, so not necessarily every one)
    iou = poses.silhouette_iou(masks, poses.grid_silhouettes(grid, r["poses"], yfov)).numpy()
    assert (iou.argmax(1) == np.arange(len(iou))).mean() >= 0.75, iou.round(2)
    # a rotated camera sees another silhouette: the candidates' grid is not flat
    cands = poses.candidate_poses()
    spread = poses.silhouette_iou(masks, poses.grid_silhouettes(grid, cands, yfov)).numpy()
    assert (spread.max(1) - spread.min(1) > 0.2).all() and len(cands) == 24 * len(poses.ELEVATIONS)


def test_pose_search_returns_candidate_cameras_with_their_fit(smoke_dataset):
    from sdfnets.multiview import poses

    torch.manual_seed(0)
    model = pixelsdf.PixelSDF(8, 16, 32, yfov=fov_for_unit_sphere(CAMERA_DISTANCE)).eval()
    r = smoke_dataset.renders(0)
    found, iou = poses.search_poses(model, r["images"][:3], float(r["yfov"]), 32, rounds=2, grid_res=24, res=16,
                                    azimuths=8, elevations=(0.0, 30.0))
    cands = poses.candidate_poses(8, (0.0, 30.0))
    assert found.shape == (3, 4, 4) and iou.shape == (3,) and ((0 <= iou) & (iou <= 1)).all()
    assert all(np.isclose(cands, f).all((1, 2)).any() for f in found)


def test_photo_like_views_keep_white_backgrounds_and_change_only_when_asked():
    from sdfnets.multiview import augment

    img = torch.full((2, 3, 32, 32, 3), 255, dtype=torch.uint8)
    img[..., 8:24, 10:22, :] = torch.tensor([90, 110, 160], dtype=torch.uint8)  # a blue-grey object on white
    views = pixelsdf.views_tensor(img, 32)
    same = augment.photo_like(views, torch.Generator().manual_seed(0), 0.0)
    assert same is views
    out = augment.photo_like(views, torch.Generator().manual_seed(0), 1.0)
    again = augment.photo_like(views, torch.Generator().manual_seed(0), 1.0)
    assert out.shape == views.shape and torch.equal(out, again)  # the generator decides everything
    rgb, mask = out[:, :, :3], out[:, :, 3]
    assert ((rgb >= -1) & (rgb <= 1)).all() and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (rgb.permute(0, 1, 3, 4, 2)[mask == 0] == 1).all()  # outside the silhouette: white
    inside = views[:, :, 3] > 0.5
    assert not torch.allclose(out[:, :, :3].permute(0, 1, 3, 4, 2)[inside], views[:, :, :3].permute(0, 1, 3, 4, 2)[inside])
    area = mask.sum((-1, -2)) / inside.sum((-1, -2))  # the edge moves by at most a pixel: 16 x 12 -> 14 x 10 .. 18 x 14
    assert ((area >= 140 / 192 - 1e-6) & (area <= 252 / 192 + 1e-6)).all()


def test_pose_jitter_turns_cameras_about_the_origin_by_at_most_its_angle():
    from sdfnets.image2latent.generalise import view_angle_error
    from sdfnets.multiview import augment

    poses = torch.as_tensor(camera_poses(6)).float().reshape(2, 3, 4, 4)
    out = augment.jitter_poses(poses, torch.Generator().manual_seed(0), 10.0)
    assert out.shape == poses.shape and augment.jitter_poses(poses, torch.Generator(), 0.0) is poses
    err = view_angle_error(out, poses)
    assert (err <= 10.0 + 1e-3).all() and (err > 0).any()
    torch.testing.assert_close(out[..., :3, 3].norm(dim=-1), poses[..., :3, 3].norm(dim=-1))  # same distance
    r = out[..., :3, :3]
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3).expand_as(r), atol=1e-5, rtol=0)  # still a rotation


def test_image2mesh_reads_many_views_with_the_views_alone_network():
    """The committed releases: from MANY_VIEWS views on, image2mesh takes the network that reads the views alone;
    below, the one that also has each point's coordinates; a chosen checkpoint is used for every count."""
    from sdfnets import paths
    from sdfnets.app.image2mesh import PixelAlignedToMesh
    from sdfnets.multiview import release

    pipe = PixelAlignedToMesh(device="cpu")
    assert pipe.many is not None
    for count in range(1, 9):
        _, meta = pipe.network(count)
        assert meta["pixel"].get("world", True) == (count < release.MANY_VIEWS), count
    chosen = PixelAlignedToMesh(paths.RELEASE_DIR / release.DEFAULT_NAME, device="cpu")
    assert chosen.many is None and chosen.network(8)[1]["pixel"].get("world", True)
