"""Hostile and broken input: each case is refused with the project's own error (one line, exit 2
from the CLI), never built wrong and never hidden."""

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from sdfnets import config
from sdfnets.cli import app
from sdfnets.data import build, meshes


def test_huge_coordinates_are_refused_not_built_as_a_box():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    huge = trimesh.Trimesh(sphere.vertices * 1e300, sphere.faces, process=False)
    with pytest.raises(meshes.MeshError, match="too large"):
        meshes.validate(huge)
    with pytest.raises(meshes.MeshError, match="cannot normalise"):
        meshes.normalize_to_unit_sphere(huge)  # even without validation: no scale of 0
    ok, _, scale = meshes.normalize_to_unit_sphere(trimesh.Trimesh(sphere.vertices * 1e6, sphere.faces, process=False))
    assert np.isclose(np.linalg.norm(ok.vertices, axis=1).max(), 1.0) and scale > 0


def _missing_module(*args, **kwargs):
    raise ModuleNotFoundError("No module named 'DracoPy'", name="DracoPy")


def _bad_shape(*args, **kwargs):
    raise meshes.MeshError("every shape is bad today")


def test_a_missing_module_stops_the_build_and_records_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(build, "sample_sdf", _missing_module)  # the forked workers inherit it
    cfg = config.resolve("smoke", data={"num_shapes": 2}).data
    with pytest.raises(build.BuildError, match="'DracoPy' is missing"):
        build.build_dataset(cfg, progress=False)
    assert not list(tmp_path.rglob("failed.json"))  # a rerun after installing it builds every shape
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "2"])
    assert res.exit_code == 2 and "DracoPy" in res.output and "Traceback" not in res.output


def test_a_build_where_every_shape_failed_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(build, "sample_sdf", _bad_shape)
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "2"])
    assert res.exit_code == 2 and "every one of the 2 shapes failed" in res.output and "every shape is bad" in res.output
