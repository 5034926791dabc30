import numpy as np
import pytest
import trimesh

from sdfnets.data import sampling


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=5, radius=0.6)


def test_signed_distance_matches_analytic_sphere(sphere):
    pts = np.random.default_rng(0).uniform(-1, 1, (5000, 3))
    sdf = sampling.signed_distance(sphere, pts)
    exact = np.linalg.norm(pts, axis=1) - 0.6
    # the polygon lies between the sphere and its face planes: that gap bounds the error
    plane_gap = 0.6 - np.abs(np.sum(sphere.face_normals * sphere.triangles_center, axis=1)).min()
    assert np.abs(sdf - exact).max() <= plane_gap + 1e-6
    assert np.all(np.sign(sdf[np.abs(exact) > 5e-3]) == np.sign(exact[np.abs(exact) > 5e-3]))


def test_sample_sdf_layout_and_statistics(sphere):
    s = sampling.sample_sdf(sphere, 20_000, num_surface_points=3_000, seed=1)
    assert s["points"].shape == (20_000, 3) and s["sdf"].shape == (20_000,)
    assert s["points"].dtype == np.float32 and s["is_near"].sum() == 10_000
    uniform = s["points"][~s["is_near"]]
    assert uniform.min() >= -1 and uniform.max() <= 1
    # near-surface points stay within a few noise widths of the sphere
    near = np.abs(s["sdf"][s["is_near"]])
    assert np.median(near) < 0.03 and near.max() < 0.4
    # inside share of the uniform samples = sphere volume / cube volume
    inside = (s["sdf"][~s["is_near"]] < 0).mean()
    assert inside == pytest.approx(4 / 3 * np.pi * 0.6**3 / 8, abs=0.015)
    assert np.allclose(np.linalg.norm(s["surface_points"], axis=1), 0.6, atol=2e-3)
    radial = s["surface_points"] / np.linalg.norm(s["surface_points"], axis=1, keepdims=True)
    assert (np.sum(radial * s["surface_normals"], axis=1) > 0.99).all()  # normals point outwards


def test_sampling_is_seeded(sphere):
    a = sampling.sample_sdf(sphere, 1000, num_surface_points=10, seed=7)
    b = sampling.sample_sdf(sphere, 1000, num_surface_points=10, seed=7)
    c = sampling.sample_sdf(sphere, 1000, num_surface_points=10, seed=8)
    assert np.array_equal(a["points"], b["points"]) and not np.array_equal(a["points"], c["points"])


def test_sdf_slice_orientation(sphere):
    moved = sphere.copy()
    moved.apply_translation((0.3, 0, 0))
    s = sampling.sdf_slice(moved, axis=2, resolution=41)
    # rows run along x: the most negative value sits at x = +0.3
    i, j = np.unravel_index(np.argmin(s), s.shape)
    assert np.linspace(-1, 1, 41)[i] == pytest.approx(0.3, abs=0.06) and j == 20


def test_distance_is_exact_far_from_the_surface(sphere):
    # libigl's fast-winding-number value is (1 - 2|w|) * d; only its sign may be used
    far = np.array([[0.92045218, 0.08982995, 0.96332731], [0.0, 0.0, 3.0], [-2.0, 1.0, 0.5]])
    sdf = sampling.signed_distance(sphere, far)
    assert np.allclose(sdf, np.linalg.norm(far, axis=1) - 0.6, atol=2e-4)
