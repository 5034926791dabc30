import numpy as np
import pytest
import trimesh

from sdfnets.data import meshes
from sdfnets.data.meshes import MeshError


def _write(path, text):
    path.write_text(text)
    return path


def test_load_good_obj_and_normalise(tmp_path):
    box = trimesh.creation.box((2.0, 4.0, 1.0))
    box.apply_translation((5.0, -3.0, 1.0))
    path = tmp_path / "box.obj"
    box.export(path)
    mesh = meshes.load_mesh(path)
    norm, center, scale = meshes.normalize_to_unit_sphere(mesh)
    assert np.allclose(center, (5.0, -3.0, 1.0))
    assert np.linalg.norm(norm.vertices, axis=1).max() == pytest.approx(1.0)
    assert norm.volume == pytest.approx(8.0 * scale**3)


@pytest.mark.parametrize("name,content,match", [
    ("empty.obj", "", "empty file"),
    ("garbage.ply", "ply\nthis is not a ply file\x00\x01", "could not parse"),
    ("nan.obj", "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
    ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangles|no triangle geometry|could not parse"),
    ("flat.obj", "v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n", "degenerate"),
    ("notes.txt", "hello", "unsupported format"),
])
def test_bad_files_get_clear_errors(tmp_path, name, content, match):
    with pytest.raises(MeshError, match=match):
        meshes.load_mesh(_write(tmp_path / name, content))


def test_size_and_face_limits(tmp_path):
    path = tmp_path / "sphere.obj"
    trimesh.creation.icosphere(3).export(path)
    with pytest.raises(MeshError, match="over the 0 MB limit"):
        meshes.load_mesh(path, max_file_mb=0.001)
    with pytest.raises(MeshError, match="over the 100 limit"):
        meshes.load_mesh(path, max_faces=100)
    with pytest.raises(MeshError, match="not found"):
        meshes.load_mesh(tmp_path / "missing.obj")
