import numpy as np
import pytest
import trimesh

from sdfnets.data import cameras, render


def test_fibonacci_sphere_is_unit_and_even():
    d = cameras.fibonacci_sphere(64)
    assert d.shape == (64, 3) and np.allclose(np.linalg.norm(d, axis=1), 1.0)
    assert np.abs(d.mean(axis=0)).max() < 0.03  # balanced around the origin
    nearest = np.sort(np.linalg.norm(d[:, None] - d[None], axis=-1), axis=1)[:, 1]
    assert nearest.max() / nearest.min() < 2.0


def test_look_at_points_the_camera_at_the_origin():
    for eye in cameras.fibonacci_sphere(16) * 2.5:
        pose = cameras.look_at(eye)
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)
        forward = -pose[:3, 2]  # OpenGL cameras look down -Z
        assert np.allclose(forward, -eye / np.linalg.norm(eye))
    assert np.isfinite(cameras.look_at((0, 2.5, 0))).all()  # straight down


def test_unit_sphere_fits_the_field_of_view():
    assert np.sin(cameras.fov_for_unit_sphere(2.5, 0.0) / 2) == pytest.approx(1 / 2.5)


def test_render_sphere_centred_and_lit():
    sphere = trimesh.creation.icosphere(4, radius=1.0)
    with render.Renderer(image_size=64) as r:
        out = r.render_views(sphere, cameras.camera_poses(4))
    assert out["images"].shape == (4, 64, 64, 3) and out["images"].dtype == np.uint8
    mask = out["masks"]
    ys, xs = np.nonzero(mask[0])
    assert abs(xs.mean() - 31.5) < 1.5 and abs(ys.mean() - 31.5) < 1.5
    # the whole unit sphere is in view: it never touches the image border
    assert not mask[:, 0].any() and not mask[:, -1].any() and not mask[:, :, 0].any()
    assert 0.35 < mask.mean() < 0.75
    fg = out["images"][mask]
    assert fg.std() > 5 and (fg[:, 2] >= fg[:, 0]).mean() > 0.9  # shaded, gray-blue
    from scipy.ndimage import binary_dilation

    far = ~binary_dilation(mask, np.ones((1, 3, 3), bool))  # anti-aliased edges blend
    assert (out["images"][far] == 255).all()  # white background
