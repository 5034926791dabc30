import json
import subprocess
import sys

import pytest

from sdfnets import paths


@pytest.mark.slow
def test_bench_harness_writes_both_figures_and_ratio():
    # every benchmark at tiny sizes: about 2 minutes alone on 2 cores, several times that beside a notebook test
    res = subprocess.run([sys.executable, str(paths.BENCH_DIR / "run.py"), "--quick"], capture_output=True,
                         text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("sdf_sampling", "rendering"):
        rec = json.loads((paths.bench_results_dir() / f"{name}-cpu-quick.json").read_text())
        assert rec["project"]["value"] > 0 and rec["baseline"]["value"] > 0
        assert abs(rec["ratio"] - rec["project"]["value"] / rec["baseline"]["value"]) < 1e-9
        assert rec["device"] and rec["sizes"]
    sdf = json.loads((paths.bench_results_dir() / "sdf_sampling-cpu-quick.json").read_text())
    assert sdf["sign_error_rate"]["project"] == 0.0


def test_unknown_benchmark_is_refused():
    res = subprocess.run([sys.executable, str(paths.BENCH_DIR / "run.py"), "nope"], capture_output=True, text=True)
    assert res.returncode != 0 and "unknown benchmark" in res.stderr


def test_latent_statistics_find_a_shared_offset():
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("latent_cosine", paths.BENCH_DIR / "latent_cosine.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # rows e_i + c with orthonormal e_i and c orthogonal to them: cos = |c|² / (1 + |c|²) for every pair
    eye = torch.eye(8, 9)
    stats = mod.latent_statistics(eye + 0.5 * torch.eye(9)[8])
    assert stats["pairwise_cosine"] == pytest.approx(0.25 / 1.25)
    assert stats["offset_share"] == pytest.approx((0.25 + 8 / 64) / 1.25)  # the mean holds c and 1/8 of each e_i
    assert stats["rms_norm"] == pytest.approx(1.25 ** 0.5)
    assert mod.latent_statistics(torch.cat([eye, -eye]))["offset_share"] == pytest.approx(0.0, abs=1e-12)
    # the cpu preset already draws the write-up's 4 shapes per step at a constant rate: one run, not four
    assert list(mod.distinct_variants("cpu", list(mod.VARIANTS))) == ["preset"]
    assert len(mod.distinct_variants("full", list(mod.VARIANTS))) == 4


def test_a_mirrored_shape_is_seen_in_the_flipped_views_where_the_shape_was():
    import importlib.util

    import torch
    import torch.nn.functional as F

    from sdfnets.data.cameras import project

    sys.path.insert(0, str(paths.BENCH_DIR))
    spec = importlib.util.spec_from_file_location("pixel_variants", paths.BENCH_DIR / "pixel_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    g = torch.Generator().manual_seed(0)
    rot = torch.linalg.qr(torch.randn(2, 3, 3, 3, generator=g)).Q
    rot = rot * torch.linalg.det(rot)[..., None, None]  # proper rotations
    poses = torch.eye(4).repeat(2, 3, 1, 1)
    poses[..., :3, :3] = rot
    poses[..., :3, 3] = (rot @ torch.tensor([0.0, 0.0, 2.5]))  # looking at the origin from 2.5 away
    views = torch.rand(2, 3, 4, 16, 16, generator=g)
    points = torch.rand(2, 50, 3, generator=g) - 0.5
    mv, mp, mpts = mod.mirrored(views, poses, points, torch.tensor([True, False]))
    assert torch.allclose(torch.linalg.det(mp[..., :3, :3]), torch.ones(2, 3))
    assert torch.equal(mv[1], views[1]) and torch.equal(mp[1], poses[1]) and torch.equal(mpts[1], points[1])

    def seen(v, p, x):
        uv, cam = project(x, p, 0.9)
        return F.grid_sample(v.flatten(0, 1), uv.flatten(0, 1)[:, :, None], align_corners=False)[..., 0], cam

    before, cam = seen(views, poses, points)
    after, mcam = seen(mv, mp, mpts)
    assert torch.allclose(after, before, atol=1e-5)  # each mirrored point reads what the point read
    assert torch.allclose(mcam[0, ..., 0], -cam[0, ..., 0], atol=1e-5)  # in the camera's frame: x reflected
    assert torch.allclose(mcam[0, ..., 1:], cam[0, ..., 1:], atol=1e-5)
    assert not torch.allclose(seen(views, mp, mpts)[0][:3], before[:3], atol=1e-2)  # views not flipped: not so


def test_views_at_scale_measures_seen_training_shapes_only_when_asked():
    import importlib.util

    spec = importlib.util.spec_from_file_location("views_at_scale", paths.BENCH_DIR / "views_at_scale.py")
    views_at_scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(views_at_scale)
    train, test, ood = list(range(100, 300)), [1, 2, 3], [7, 8]
    assert [s[0] for s in views_at_scale.shape_sets(test, ood, train, [4, 1])] == ["held-out", "ood"]
    sets = views_at_scale.shape_sets(test, ood, train, [4, 1], seen=8)
    name, ids, ks = sets[-1]
    assert name == "training" and ks == [4, 1] and len(ids) == 8 and set(ids) <= set(train)
    assert ids == sorted(ids) and ids[0] == 100 and ids[-1] >= 270  # spread over the whole list, not its head


def test_pixel_errors_split_samples_by_hull_and_shape():
    import importlib.util

    import numpy as np

    sys.path.insert(0, str(paths.BENCH_DIR))
    spec = importlib.util.spec_from_file_location("pixel_errors", paths.BENCH_DIR / "pixel_errors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from sdfnets.field import BOUND

    occ = np.zeros((5, 5, 5), bool)
    occ[1:4, 1:4, 1:4] = True  # the hull: the middle 3³ voxels, |x| <= BOUND / 2 on every axis
    pts = np.array([[0.0, 0, 0], [0.0, 0, 0], [0.9 * BOUND, 0, 0], [0.0, 0.5 * BOUND, 0]])
    sdf = np.array([-0.1, 0.05, 0.3, 0.02])  # inside; in the hull but empty; outside the hull; in the hull
    assert mod.regions(pts, sdf, occ).tolist() == [2, 1, 0, 1]
    err = np.array([1.0, 2.0, 0.0, 1.0])
    s = mod.summarise(mod.regions(pts, sdf, occ), err, np.array([False, True, False, False]), "near ")
    hull_only = s["inside the hull, outside the shape"]
    assert hull_only == {"near samples": 0.5, "near mean_error": 1.5, "near wrong_side": 0.5, "near error_share": 0.75}
    assert s["outside the hull"]["near error_share"] == 0.0 and s["inside the shape"]["near mean_error"] == 1.0


def test_depth_aware_variant_reads_views_with_or_without_their_depth():
    import importlib.util

    import torch

    sys.path.insert(0, str(paths.BENCH_DIR))
    spec = importlib.util.spec_from_file_location("pixel_variants", paths.BENCH_DIR / "pixel_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.DepthAware(8, 16, 32, 0.9)
    torch.nn.init.zeros_(model.depth.weight)
    torch.nn.init.constant_(model.depth.bias, 0.25)  # every view predicts depth 0.25 behind the object's centre
    views = torch.rand(1, 2, 5, 32, 32) * 2 - 1
    views[:, :, 4] = 0.25
    views[:, 0, 4, :16] = mod.NO_DEPTH  # half of the first view sees nothing: left out of the loss
    maps = model.encode(views)
    assert maps.shape == (1, 2, 2 * 8 + 2, 8, 8)  # features, silhouette, predicted depth
    assert float(model.depth_loss(maps).detach()) == 0.0 and model.target[1][0, 0].float().mean() == 0.5
    views[:, 1, 4] = 0.75
    assert float(model.depth_loss(model.encode(views)).detach()) == pytest.approx(0.5 * 64 / (32 + 64))
    poses = torch.eye(4).repeat(1, 2, 1, 1)
    poses[..., 2, 3] = 2.5
    out = model(model.encode(views[:, :, :4]), poses, torch.rand(1, 10, 3) - 0.5)  # inference: the views alone
    assert out.shape == (1, 10)
    given = mod.DepthGiven(8, 16, 32, 0.9)
    maps = given.encode(views)
    assert given(maps, poses, torch.rand(1, 10, 3) - 0.5).shape == (1, 10)
    depth = maps[:, :, -1]  # the true depth, beyond the object where a view sees nothing
    assert depth[0, 0, :4].eq(mod.BEYOND).all() and depth[0, 0, 4:].eq(0.25).all() and depth[0, 1].eq(0.75).all()


def test_rotated_variant_pools_its_vectors_in_the_world_frame():
    import importlib.util

    import torch

    sys.path.insert(0, str(paths.BENCH_DIR))
    spec = importlib.util.spec_from_file_location("pixel_variants", paths.BENCH_DIR / "pixel_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from sdfnets.data.cameras import CAMERA_DISTANCE, project

    torch.manual_seed(0)
    model = mod.Rotated(8, 16, 32, 0.9)
    rot = torch.linalg.qr(torch.randn(1, 3, 3, 3)).Q
    rot = rot * torch.linalg.det(rot)[..., None, None]  # three cameras, proper rotations
    poses = torch.eye(4).repeat(1, 3, 1, 1)
    poses[..., :3, :3] = rot
    poses[..., :3, 3] = rot @ torch.tensor([0.0, 0.0, CAMERA_DISTANCE])  # looking at the origin
    points = torch.rand(1, 20, 3) - 0.5
    h = torch.rand(1, 3, 20, 16)
    valid = torch.ones(1, 3)

    def pooled(p, x):
        _, cam = project(x, p, 0.9)
        cam = torch.cat([cam[..., :2], cam[..., 2:] + CAMERA_DISTANCE], -1)
        k = p.shape[1]
        return model.in_world(h[:, :k], p[..., :3, :3], cam, valid[:, :k])

    mean, spread = pooled(poses, points)
    assert mean.shape == (1, 20, 3 * 9) and spread.shape == (1, 20, 9)
    rays = points[:, None] - poses[:, :, None, :3, 3]  # the last vector: each camera's ray to the point
    assert torch.allclose(mean.unflatten(-1, (9, 3))[..., -1, :], (rays / rays.norm(dim=-1, keepdim=True)).mean(1),
                          atol=1e-5)
    g = torch.linalg.qr(torch.randn(3, 3)).Q
    g = g * torch.linalg.det(g)  # the whole scene turned: cameras and points
    turned = poses.clone()
    turned[..., :3, :] = g @ poses[..., :3, :]
    mean2, spread2 = pooled(turned, points @ g.T)
    assert torch.allclose(mean2.unflatten(-1, (9, 3)), mean.unflatten(-1, (9, 3)) @ g.T, atol=1e-5)  # turn with it
    assert torch.allclose(spread2, spread, atol=1e-5)  # the views' agreement does not depend on the frame
    assert torch.allclose(pooled(poses[:, :1], points)[1], torch.zeros(1, 20, 9), atol=1e-6)  # one view agrees
    assert model(torch.rand(1, 3, 17, 8, 8), poses, points).shape == (1, 20)


def test_the_depth_estimator_is_scored_where_a_view_sees_the_shape_and_gives_no_depth_outside_it():
    import importlib.util

    import torch

    sys.path.insert(0, str(paths.BENCH_DIR))
    spec = importlib.util.spec_from_file_location("depth_from_views", paths.BENCH_DIR / "depth_from_views.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    depth = torch.full((2, 1, 8, 8), mod.NO_DEPTH)
    depth[0, :, :4] = 0.5  # a quarter of the pixels see the shape
    pred = torch.zeros(2, 1, 8, 8)
    pred[0, :, :2] = 0.5  # right on half of them, 0.5 off on the rest; anything where nothing is seen
    assert float(mod.seen_l1(pred + 100 * (depth < 0), depth)) == 0.25
    net = mod.DepthUNet(width=8, levels=3)
    views = torch.rand(2, 4, 20, 20) * 2 - 1  # a size the halvings do not divide
    views[:, 3] = 0.0
    views[0, 3, 5:15, 5:15] = 1.0  # the first view's silhouette
    assert net(views).shape == (2, 1, 20, 20)
    given = mod.predicted_depth(net, views)
    inside = views[:, 3:] > 0.5
    assert given[~inside].eq(mod.NO_DEPTH).all() and given[inside].gt(mod.NO_DEPTH / 2).all()
