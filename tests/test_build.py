import json

import numpy as np
import pytest
import trimesh

from sdfnets import config
from sdfnets.data import Dataset, build_dataset, dataset_root, load_or_build


def test_manifest_maps_both_ways(smoke_dataset):
    ds, m = smoke_dataset, smoke_dataset.manifest
    assert len(ds) == 8 and not ds.failed
    for s in ds.shapes:
        assert m["uid_to_idx"][s["uid"]] == s["obj_idx"]
        assert ds.uid_of(s["obj_idx"]) == s["uid"] and ds.index_of(s["uid"]) == s["obj_idx"]
        assert s["obj_idx"] in m["categories"][s["category"]]
    assert [s["obj_idx"] for s in ds.shapes] == list(range(8))
    assert {s["license"] for s in ds.shapes} == {"CC0-1.0"}
    assert ds.verify() == []


def test_artifacts_have_the_promised_content(smoke_dataset, smoke_cfg):
    ds, c = smoke_dataset, smoke_cfg.data
    mesh = ds.mesh(3)
    assert mesh.is_watertight
    assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    s = ds.sdf(3)
    assert s["points"].shape == (c.num_points, 3) and s["is_near"].sum() == c.num_points // 2
    r = ds.renders(3)
    assert r["images"].shape == (c.num_views, c.image_size, c.image_size, 3)
    assert r["poses"].shape == (c.num_views, 4, 4)
    assert np.allclose(np.linalg.norm(r["poses"][:, :3, 3], axis=1), c.camera_distance, atol=1e-5)
    assert (ds.root / "meshes" / "obj_0003.ply").exists() and (ds.root / "sdf" / "obj_0003.npz").exists()


def test_tampering_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    ds = load_or_build(config.resolve("smoke", data={"num_shapes": 2}).data, progress=False)
    target = ds.root / ds.shapes[1]["artifacts"]["sdf"]["path"]
    target.unlink()
    target.write_bytes(b"tampered")
    assert ds.verify() == ["obj_0001 sdf"]


def test_geometry_only_build_then_renders_added(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    cfg = config.resolve("smoke", data={"num_shapes": 2}).data
    ds = load_or_build(cfg, renders=False, progress=False)
    assert len(ds) == 2 and not ds.with_renders and not ds.failed
    assert set(ds.shapes[0]["artifacts"]) == {"mesh", "sdf"} and ds.sdf(1)["points"].shape[1] == 3
    with pytest.raises(FileNotFoundError, match="without renders"):
        ds.renders(0)
    sdf_stamp = (ds.root / ds.shapes[1]["artifacts"]["sdf"]["path"]).stat().st_mtime_ns
    assert load_or_build(cfg, renders=False, progress=False).root == ds.root  # enough as it is
    full = load_or_build(cfg, progress=False)  # asks for renders: adds them, keeps the samples
    assert full.with_renders and full.renders(1)["images"].shape[0] == cfg.num_views
    assert (full.root / full.shapes[1]["artifacts"]["sdf"]["path"]).stat().st_mtime_ns == sdf_stamp
    assert full.verify() == []


def test_interrupted_build_resumes_without_redoing_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    cfg = config.resolve("smoke", data={"num_shapes": 4}).data
    done = []

    def stop_after_two(uid):
        done.append(uid)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(cfg, progress=False, on_shape=stop_after_two)
    root = dataset_root(cfg)
    assert not (root / "manifest.json").exists()
    first = sorted((root / "_work").glob("*/sdf.npz"))
    assert len(first) == 2
    stamps = {p: p.stat().st_mtime_ns for p in first}
    redone = []
    build_dataset(cfg, progress=False, on_shape=redone.append)
    assert len(redone) == 2 and not set(redone) & set(done)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    ds = Dataset(root)
    assert len(ds) == 4 and ds.verify() == []


def test_bad_meshes_are_listed_and_the_build_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "meshes"
    (src / "boxes").mkdir(parents=True)
    (src / "broken").mkdir()
    trimesh.creation.box((1, 2, 1)).export(src / "boxes" / "a_box.obj")
    trimesh.creation.icosphere(2).export(src / "boxes" / "b_ball.ply")
    open_cyl = trimesh.creation.cylinder(0.5, 1.0, sections=24)
    open_cyl.update_faces(np.abs(open_cyl.face_normals[:, 2]) < 0.9)  # no caps: not watertight
    open_cyl.export(src / "boxes" / "c_tube.stl")
    (src / "broken" / "empty.obj").write_text("")
    (src / "broken" / "corrupt.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\n\x00\x01")
    (src / "broken" / "nan.obj").write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    big = trimesh.creation.icosphere(6)  # ~80k faces, over the limit set below
    big.export(src / "broken" / "huge.obj")
    cfg = config.resolve("smoke", data={"corpus": f"folder:{src}", "num_shapes": 100, "max_faces": 50_000}).data
    ds = Dataset(build_dataset(cfg, progress=False))
    assert [s["uid"] for s in ds.shapes] == ["boxes/a_box.obj", "boxes/b_ball.ply", "boxes/c_tube.stl"]
    assert [s["obj_idx"] for s in ds.shapes] == [0, 1, 2]
    assert ds.mesh(2).is_watertight and ds.shapes[0]["category"] == "boxes"
    reasons = {f["uid"]: f["reason"] for f in ds.failed}
    assert set(reasons) == {"broken/empty.obj", "broken/corrupt.ply", "broken/nan.obj", "broken/huge.obj"}
    assert "empty file" in reasons["broken/empty.obj"]
    assert "could not parse" in reasons["broken/corrupt.ply"]
    assert "NaN" in reasons["broken/nan.obj"]
    assert "over the 50,000 limit" in reasons["broken/huge.obj"]
    assert all(f["stage"] == "mesh" for f in ds.failed)
    saved = json.loads((ds.root / "manifest.json").read_text())
    assert saved["num_requested"] == 7 and saved["num_shapes"] == 3


def test_unknown_corpus_and_missing_folder_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus"):
        build_dataset(config.resolve("smoke", data={"corpus": "shapenet"}).data, progress=False)
    with pytest.raises(FileNotFoundError, match="not found"):
        build_dataset(config.resolve("smoke", data={"corpus": f"folder:{tmp_path}/nope"}).data, progress=False)


def test_old_manifest_is_rewritten_without_recomputing(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    cfg = config.resolve("smoke", data={"num_shapes": 2}).data
    ds = load_or_build(cfg, progress=False)
    sdf = ds.root / "_work"
    stamps = {p: p.stat().st_mtime_ns for p in sdf.glob("*/sdf.npz")}
    old = json.loads((ds.root / "manifest.json").read_text())
    old["manifest_version"] = 1
    del old["splits"]
    (ds.root / "manifest.json").write_text(json.dumps(old))
    again = load_or_build(cfg, progress=False)
    assert again.manifest["manifest_version"] == 2 and "splits" in again.manifest
    assert {p: p.stat().st_mtime_ns for p in sdf.glob("*/sdf.npz")} == stamps


def test_a_build_from_a_notebook_uses_the_cores_it_may(tmp_path, monkeypatch):
    """load_or_build builds with a worker per core from 4 cores up (a bare GPU node), alone below; workers= wins."""
    import os

    from sdfnets.data import dataset

    seen = []
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(dataset, "build_dataset", lambda cfg, **kw: seen.append(kw["workers"]) or 1 / 0)
    cfg = config.resolve("smoke", data={"num_shapes": 6}).data
    for cores, expected in ((range(16), 6), (range(2), 1)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, cores=cores: set(cores))
        with pytest.raises(ZeroDivisionError):
            load_or_build(cfg, progress=False)
    with pytest.raises(ZeroDivisionError):
        load_or_build(cfg, progress=False, workers=3)
    assert seen == [6, 1, 3]


@pytest.mark.slow
def test_a_build_on_a_dask_cluster_writes_the_manifest_of_a_local_build(tmp_path, monkeypatch):
    """`sdfnets data build --dask ADDRESS`: every shape's work as tasks on a Dask cluster (a LocalCluster
    of two worker processes here), the same manifest, byte for byte, as the build's own processes."""
    import dask
    from dask.distributed import LocalCluster
    from typer.testing import CliRunner

    from sdfnets.app.cli import app

    args = ["data", "build", "--scale", "smoke", "--num-shapes", "4"]
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "local"))
    local = CliRunner().invoke(app, args)
    assert local.exit_code == 0, local.output
    with dask.config.set({"distributed.worker.daemon": False}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "dask"))
        on_dask = CliRunner().invoke(app, [*args, "--dask", cluster.scheduler_address])
    assert on_dask.exit_code == 0, on_dask.output
    assert "on the Dask cluster at tcp://" in on_dask.output and "2 workers" in on_dask.output
    [a] = (tmp_path / "local").rglob("manifest.json")
    [b] = (tmp_path / "dask").rglob("manifest.json")
    assert a.relative_to(tmp_path / "local") == b.relative_to(tmp_path / "dask")
    assert a.read_bytes() == b.read_bytes()
    assert len(json.loads(a.read_text())["shapes"]) == 4


@pytest.mark.slow
def test_the_build_takes_a_process_pool_as_its_executor():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    cfg = config.resolve("smoke", data={"num_shapes": 2}).data
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        root = build_dataset(cfg, executor=pool, progress=False)
    assert len(Dataset(root)) == 2 and not Dataset(root).failed
