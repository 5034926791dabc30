import numpy as np
import pytest

from sdfnets.data import primitives as P
from sdfnets.data import procedural


def test_primitives_match_closed_forms():
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, (2000, 3))
    assert np.allclose(P.sphere(p, (0, 0, 0), 0.5), np.linalg.norm(p, axis=1) - 0.5)
    # a box's SDF is exact: zero on its faces, -half at the centre, Euclidean outside a corner
    assert P.box(np.array([[0.0, 0, 0]]), (0, 0, 0), (0.2, 0.3, 0.4))[0] == pytest.approx(-0.2)
    assert P.box(np.array([[1.0, 1, 1]]), (0, 0, 0), (0.5, 0.5, 0.5))[0] == pytest.approx(np.sqrt(0.75))
    assert P.cylinder_y(np.array([[0.0, 2, 0]]), (0, 0, 0), 0.3, 1.0)[0] == pytest.approx(1.0)
    assert P.torus(np.array([[0.5, 0, 0]]), (0, 0, 0), 0.5, 0.1)[0] == pytest.approx(-0.1)
    a, b = P.sphere(p, (0, 0, 0), 0.5), P.sphere(p, (0.3, 0, 0), 0.5)
    assert np.array_equal(P.union(a, b), np.minimum(a, b))
    assert np.array_equal(P.subtract(a, b), np.maximum(a, -b))


def test_generator_is_deterministic_and_seeded():
    m1, c1, p1 = procedural.generate(5, seed=0, resolution=48)
    m2, c2, p2 = procedural.generate(5, seed=0, resolution=48)
    m3, _, _ = procedural.generate(5, seed=1, resolution=48)
    assert c1 == c2 and p1 == p2
    assert np.array_equal(m1.vertices, m2.vertices) and np.array_equal(m1.faces, m2.faces)
    assert not (len(m1.vertices) == len(m3.vertices) and np.allclose(m1.vertices, m3.vertices))


@pytest.mark.parametrize("index", range(len(procedural.CATEGORIES)))
def test_every_category_meshes_watertight_in_one_piece(index):
    mesh, category, _ = procedural.generate(index, seed=0, resolution=72)
    assert category == procedural.CATEGORIES[index]
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.body_count == 1, f"{category} falls apart into {mesh.body_count} pieces"
    assert mesh.volume > 0
    assert np.abs(mesh.vertices).max() < 1.0


def test_real_variation_within_categories():
    # the same category with different draws differs in proportions and in structure
    tables = [procedural.shape_sdf(i, 0) for i in range(0, 8 * 24, 8)]
    assert {t[0] for t in tables} == {"table"}
    assert len({t[2]["legs"] for t in tables}) >= 2
    chairs = [procedural.shape_sdf(i, 0)[2]["back"] for i in range(1, 8 * 24, 8)]
    assert len(set(chairs)) == 3
    extents = [procedural.generate(i, 0, 40)[0].extents for i in (4, 12, 20)]  # three bottles
    assert np.ptp([e[1] / e[0] for e in extents]) > 0.1


def test_any_corpus_size_cycles_categories():
    cats = [procedural.shape_spec(i)[0] for i in range(20)]
    assert cats[:8] == list(procedural.CATEGORIES) and cats[8] == cats[0]


def test_mesh_sdf_rejects_empty_shapes():
    with pytest.raises(ValueError, match="no interior"):
        procedural.mesh_sdf(lambda p: np.ones(len(p)), resolution=16)
