"""The real-corpus path on fixtures the tests make: .sh3f parsing, the quality gate, isolation,
the corpus pack, splits, and the Objaverse-LVIS loader (offline)."""

import json
import os
import time
import zipfile

import numpy as np
import pytest
import trimesh

from sdfnets import config
from sdfnets.data import Dataset, build_dataset, corpora, isolate, splits, sweethome3d, watertight
from sdfnets.data.make_pack import build_pack
from sdfnets.data.meshes import MeshError, normalize_to_unit_sphere
from sdfnets.data.pack import Pack, decode_mesh, encode_mesh, write_pack


def _box(extents=(1.0, 2.0, 0.5)):
    return trimesh.creation.box(extents)


def _soup(mesh):
    """An artist-style triangle soup: every face with its own vertices, like many OBJ exports."""
    return trimesh.Trimesh(mesh.triangles.reshape(-1, 3), np.arange(len(mesh.faces) * 3).reshape(-1, 3),
                           process=False)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("sh3f")
    two = trimesh.util.concatenate([_box((0.4, 0.4, 0.4)), _box((0.4, 0.4, 0.4)).apply_translation((1.5, 0, 0))])
    models = [
        {"name": "Caf\u00e9 table", "category": "Living room", "creator": "Ann", "mesh": _soup(_box((1.0, 0.1, 1.0)))},
        {"name": "Tall cabinet", "category": "Kitchen", "creator": "Bo", "mesh": _box((0.6, 0.5, 2.0)),
         "model_rotation": [1, 0, 0, 0, 0, 1, 0, -1, 0]},  # lies along Z in the file; the rotation stands it up
        {"name": "Pair of boots", "category": "Bedroom", "creator": "Cy", "mesh": two},
        {"name": "Broken", "category": "Kitchen", "creator": "Di", "obj_text": "v 0 0 0\nf 1 2 3\n"},
        {"name": "Mannequin", "category": "Characters", "creator": "Ed", "mesh": trimesh.creation.capsule(1.5, 0.3)},
    ]
    sweethome3d.write_library(root / "Fixture.sh3f", models, license="Creative Commons Attribution 3.0")
    return root


def test_catalog_parses_names_escapes_rotation_and_licence(library):
    entries = sweethome3d.read_catalog(library / "Fixture.sh3f")
    assert [e.name for e in entries] == ["Caf\u00e9 table", "Tall cabinet", "Pair of boots", "Broken", "Mannequin"]
    assert entries[0].uid == "Fixture/0001" and entries[0].creator == "Ann"
    assert {e.license for e in entries} == {"Creative Commons Attribution 3.0"}
    assert entries[1].model_rotation == (1, 0, 0, 0, 0, 1, 0, -1, 0) and entries[0].model_rotation is None
    cabinet = sweethome3d.load_model(library / "Fixture.sh3f", entries[1])
    assert np.allclose(cabinet.extents, [0.6, 2.0, 0.5])  # the rotation stood it up (Y)
    with pytest.raises(MeshError, match="no triangle|could not parse|no triangles"):
        sweethome3d.load_model(library / "Fixture.sh3f", entries[3])


def test_rotation_is_applied(tmp_path):
    lying = _box((0.6, 0.5, 2.0))  # long along Z
    path = sweethome3d.write_library(tmp_path / "R.sh3f", [
        {"name": "x", "category": "c", "mesh": lying, "model_rotation": [1, 0, 0, 0, 0, 1, 0, -1, 0]}])
    mesh = sweethome3d.load_model(path, sweethome3d.read_catalog(path)[0])
    assert np.allclose(mesh.extents, [0.6, 2.0, 0.5])  # now long along Y (up)


def test_bad_libraries_fail_clearly(tmp_path):
    (tmp_path / "notzip.sh3f").write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a zip"):
        sweethome3d.read_catalog(tmp_path / "notzip.sh3f")
    with zipfile.ZipFile(tmp_path / "empty.sh3f", "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match="not a furniture library"):
        sweethome3d.read_catalog(tmp_path / "empty.sh3f")


@pytest.mark.slow
def test_quality_gate_passes_clean_and_fails_broken_shapes():
    src, _, _ = normalize_to_unit_sphere(_soup(_box()))
    canonical, report = watertight.canonicalize(src)
    assert report.ok and canonical.is_watertight and report.bodies == 1 and report.offset_p95 < 0.05
    assert canonical.volume == pytest.approx(src.convex_hull.volume, rel=0.15)
    two = trimesh.util.concatenate([_box((0.4, 0.4, 0.4)), _box((0.4, 0.4, 0.4)).apply_translation((1.5, 0, 0))])
    two, _, _ = normalize_to_unit_sphere(two)
    with pytest.raises(MeshError, match="2 separate parts"):
        watertight.canonicalize(two)
    moved = canonical.copy().apply_translation((0.2, 0, 0))
    r = watertight.gate(src, moved)
    assert not r.ok and any("strays" in x for x in r.reasons)
    opened = canonical.copy()
    opened.update_faces(np.arange(len(opened.faces)) > 3)
    assert "not watertight" in watertight.gate(src, opened).reasons


def test_an_open_mesh_is_closed():
    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # drop one side
    assert not open_box.is_watertight
    closed, report = watertight.canonicalize(normalize_to_unit_sphere(open_box)[0])
    assert closed.is_watertight and report.ok


def test_specks_are_dropped_but_parts_are_not():
    big = _box((1, 1, 1))
    speck = trimesh.creation.icosphere(1, 0.01).apply_translation((2, 0, 0))
    kept, bodies, share = watertight.drop_specks(trimesh.util.concatenate([big, speck]))
    assert bodies == 1 and share > 0.99 and len(kept.faces) == len(big.faces)


def _sleep(_):
    time.sleep(30)


def _abort(_):
    os.abort()


def _hog(_):
    return bytearray(2 * 2**30)  # 2 GB


def test_isolation_reports_timeouts_crashes_and_memory():
    out = {o.item: o for o in isolate.map_isolated(lambda x: x * 2, [1, 2, 3], workers=2)}
    assert {k: v.value for k, v in out.items()} == {1: 2, 2: 4, 3: 6}
    (o,) = isolate.map_isolated(_sleep, [0], timeout_s=1.0)
    assert "timed out after 1 s" in o.error
    (o,) = isolate.map_isolated(_abort, [0])
    assert "died with SIGABRT" in o.error
    (o,) = isolate.map_isolated(_hog, [0], memory_mb=1000)
    assert "out of memory" in o.error


def test_pack_round_trip_and_tamper_detection(tmp_path):
    mesh = trimesh.creation.icosphere(3)
    data = encode_mesh(mesh)
    back = decode_mesh(data)
    assert back.is_watertight and len(back.faces) == len(mesh.faces)
    assert np.abs(np.sort(back.vertices, axis=0) - np.sort(mesh.vertices, axis=0)).max() < 1e-3
    path = write_pack(tmp_path / "p.zip", corpus="t", shapes=[{"uid": "a/1", "category": "c"}], mesh_bytes=[data],
                      failed=[{"uid": "a/2", "reason": "r"}], credits="# Credits\n")
    pack = Pack(path)
    assert pack.info()["num_shapes"] == 1 and pack.failed[0]["reason"] == "r"
    assert len(pack.mesh("a/1").faces) == len(mesh.faces)
    assert write_pack(tmp_path / "q.zip", corpus="t", shapes=[{"uid": "a/1", "category": "c"}], mesh_bytes=[data],
                      failed=[], credits="").read_bytes() != path.read_bytes()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        Pack(path)


@pytest.mark.slow
def test_pack_from_library_then_dataset_with_splits(library, tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "data"))
    path = build_pack(str(library), tmp_path / "fixture-pack.zip", workers=2, progress=False)
    pack = Pack(path)
    names = {s["name"]: s for s in pack.shapes}
    assert set(names) == {"Caf\u00e9 table", "Tall cabinet", "Mannequin"}
    reasons = {f["name"]: f["reason"] for f in pack.failed}
    assert "separate parts" in reasons["Pair of boots"] and reasons["Broken"]
    assert names["Mannequin"]["split"] == "ood" and names["Caf\u00e9 table"]["creator"] == "Ann"
    assert "| Fixture/0001 | Caf\u00e9 table | Ann |" in pack.credits
    assert all(pack.mesh(s["uid"]).is_watertight for s in pack.shapes)
    # resumable: a second run converts nothing again and writes the same bytes
    before = path.read_bytes()
    assert build_pack(str(library), tmp_path / "fixture-pack.zip", progress=False).read_bytes() == before

    cfg = config.resolve("smoke", data={"corpus": f"pack:{path}", "num_shapes": 10}).data
    ds = Dataset(build_dataset(cfg, progress=False))
    assert len(ds) == 3 and ds.manifest["ood_categories"] == ["Characters"]
    by_name = {s["name"]: s for s in ds.shapes}
    assert by_name["Mannequin"]["split"] == "ood"
    assert sorted(i for v in ds.manifest["splits"].values() for i in v) == [0, 1, 2]
    assert ds.mesh(by_name["Tall cabinet"]["obj_idx"]).extents.argmax() == 1  # stands up (Y)


def test_splits_are_stable_and_proportional():
    uids = [f"lib/{i:04d}" for i in range(4000)]
    got = [splits.assign(u, "chair", seed=0) for u in uids]
    c = splits.counts(got)
    assert abs(c["val"] / 4000 - 0.1) < 0.02 and abs(c["test"] / 4000 - 0.1) < 0.02 and c["ood"] == 0
    assert got[:50] == [splits.assign(u, "chair", seed=0) for u in uids[:50]]  # independent of the others
    assert splits.assign("x", "Characters", ood_categories=("Characters",)) == "ood"
    assert got != [splits.assign(u, "chair", seed=1) for u in uids]


def test_objaverse_lvis_subset_and_local_loading(tmp_path):
    ann = {"mug": ["m3", "m1", "m2"], "lamp": ["l1"], "banjo": ["b1", "b2"], "empty": []}
    sub = corpora.lvis_subset(ann, 4)
    assert len(sub) == 4 and {c for _, c in sub[:3]} == {"banjo", "lamp", "mug"}  # round robin first
    assert sub == corpora.lvis_subset(ann, 4) and len(corpora.lvis_subset(ann, 99)) == 6
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    objs = tmp_path / "objects"
    objs.mkdir()
    for uid, _ in sub:
        trimesh.creation.box((1, 2, 3)).export(objs / f"{uid}.glb")
    corpus = corpora.ObjaverseLVISCorpus(annotations=str(tmp_path / "ann.json"), objects_dir=str(objs))
    srcs = corpus.sources(4)
    assert [s.uid for s in srcs] == [u for u, _ in sub]
    mesh, info = corpus.load(srcs[0])
    assert mesh.is_watertight and np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(1.0)


def test_objaverse_offline_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="objaverse-lvis"):
        corpora.get_corpus("objaverse-lvis").sources(10)
    assert time.perf_counter() - t0 < 5


def test_memory_cap_is_on_growth_not_size():
    # the parent already holds a large address space (torch is imported); a 300 MB cap on growth
    # must still let a child allocate 100 MB and must stop it at 2 GB
    import torch  # noqa: F401

    (ok,) = isolate.map_isolated(lambda _: len(bytearray(100 * 2**20)), [0], memory_mb=300)
    assert ok.ok and ok.value == 100 * 2**20
    (o,) = isolate.map_isolated(_hog, [0], memory_mb=300)
    assert "out of memory" in o.error
