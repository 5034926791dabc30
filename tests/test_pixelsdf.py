"""The pixel-aligned SDF network: its projection is the renders' camera, it learns, and it resumes exactly."""

import numpy as np
import pytest
import torch

from sdfnets import config
from sdfnets.data.cameras import CAMERA_DISTANCE, camera_poses, fov_for_unit_sphere
from sdfnets.multiview import pixelsdf


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
    model, run = pixelsdf.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    losses = [v for _, v in run.history]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path / "b"))
    pixelsdf.train(cfg, smoke_dataset, ids, device="cpu", progress=False, max_steps=100)  # an interrupted run
    resumed, _ = pixelsdf.train(cfg, smoke_dataset, ids, device="cpu", progress=False)
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    r = smoke_dataset.renders(7)
    grid = pixelsdf.sdf_grid(model, r["images"][:3], r["poses"][:3], cfg.pixel.image_size, resolution=16)
    assert grid.shape == (16, 16, 16) and np.isfinite(grid).all()
