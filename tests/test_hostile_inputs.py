"""Hostile and broken input: each case is refused with the project's own error (one line, exit 2
from the CLI), never built wrong and never hidden."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from sdfnets import config
from sdfnets.app.cli import app
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
    with pytest.raises(build.BuildError, match="'DracoPy' is not installed"):
        build.build_dataset(cfg, progress=False)
    assert not list(tmp_path.rglob("failed.json"))  # a rerun after installing it builds every shape
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "2"])
    assert res.exit_code == 2 and "DracoPy" in res.output and "Traceback" not in res.output


def test_a_build_where_every_shape_failed_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(build, "sample_sdf", _bad_shape)
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "2"])
    assert res.exit_code == 2 and "every one of the 2 shapes failed" in res.output and "every shape is bad" in res.output


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "chair.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, np.random.default_rng(0).bytes(4096), "truncated", "other model"])
def test_a_bad_checkpoint_is_one_line_naming_the_file(tmp_path, image, content):
    from safetensors.torch import save_file

    from sdfnets import paths
    from sdfnets.image2latent import release

    bad = tmp_path / "bad.safetensors"
    if content == "truncated":
        bad.write_bytes((paths.RELEASE_DIR / release.DEFAULT_NAME).read_bytes()[:100_000])
    elif content == "other model":
        import torch

        save_file({"w": torch.zeros(3)}, str(bad), metadata={"format": release.FORMAT, "config": "{}", "encoder": "{}"})
    else:
        bad.write_bytes(content)
    res = CliRunner().invoke(app, ["image2mesh", image, "-o", str(tmp_path / "out.ply"), "--checkpoint", str(bad)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and str(bad) in res.output and len(res.output.strip().splitlines()) == 1


def test_the_output_is_checked_before_any_compute(tmp_path, image):
    folder = tmp_path / "a_folder.ply"
    folder.mkdir()
    existing = tmp_path / "mesh.ply"
    existing.write_text("keep me")
    for out, says in ((folder, "is a folder"), (existing, "--overwrite"), (tmp_path / "mesh.txt", ".glb, .obj or .ply")):
        # a missing checkpoint would fail later: the output is refused first
        res = CliRunner().invoke(app, ["image2mesh", image, "-o", str(out), "--checkpoint", str(tmp_path / "none")])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, res.output
    assert existing.read_text() == "keep me"


def test_verify_of_an_unbuilt_dataset_and_info_of_a_cut_manifest_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["data", "verify", "--scale", "smoke", "-n", "3"])
    assert res.exit_code == 2 and "no manifest.json" in res.output and "Traceback" not in res.output
    assert CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "-n", "2"]).exit_code == 0
    (manifest,) = tmp_path.glob("*/*/manifest.json")
    manifest.write_text(manifest.read_text()[:200])  # cut off
    for args in (["data", "info"], ["data", "verify", "--scale", "smoke", "-n", "2"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "not a readable dataset manifest" in res.output and "Traceback" not in res.output


def test_a_rebuild_remakes_a_corrupted_artifact_instead_of_blessing_it(tmp_path, monkeypatch):
    from sdfnets.data import load_or_build
    from sdfnets.data.build import build_dataset

    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    cfg = config.resolve("smoke", data={"num_shapes": 2}).data
    ds = load_or_build(cfg, progress=False)
    target = ds.root / ds.shapes[1]["artifacts"]["sdf"]["path"]
    before = ds.sdf(1)["sdf"].copy()
    with open(target, "r+b") as fh:  # eight bytes written in place: the hard-linked work file changes too
        fh.seek(target.stat().st_size // 2)
        fh.write(b"\xff" * 8)
    assert ds.verify() == ["obj_0001 sdf"]
    build_dataset(cfg, progress=False)
    rebuilt = load_or_build(cfg, progress=False)
    assert rebuilt.verify() == [] and len(rebuilt) == 2
    np.testing.assert_array_equal(rebuilt.sdf(1)["sdf"], before)  # remade (seeded), not the damaged bytes


def test_folder_corpus_edits_deletions_and_size(tmp_path, monkeypatch):
    from sdfnets.data import Dataset, dataset_root

    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "meshes" / "things"
    src.mkdir(parents=True)
    for i, size in enumerate((0.5, 1.0, 2.0)):
        trimesh.creation.box((size, 1.0, 1.0)).export(src / f"box{i}.obj")
    folder = f"folder:{tmp_path / 'meshes'}"
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--corpus", folder, "--no-renders"])
    assert res.exit_code == 0 and "3 shapes built" in res.output, res.output  # all files, not the scale's default
    with pytest.warns(UserWarning, match="building the first 2"):
        from sdfnets.data.corpora import get_corpus

        get_corpus(folder).sources(2)
    cfg = config.resolve("smoke", data={"corpus": folder, "num_shapes": 3}).data
    before = Dataset(dataset_root(cfg)).mesh(1).extents
    trimesh.creation.icosphere().export(src / "box1.obj")  # edited in place
    (src / "box2.obj").unlink()  # deleted
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--corpus", folder, "-n", "3", "--no-renders"])
    assert res.exit_code == 0, res.output
    ds = Dataset(dataset_root(cfg))
    assert len(ds) == 2 and ds.verify() == []
    assert not np.allclose(ds.mesh(1).extents, before)  # rebuilt from the edited file, not served stale
    assert not (ds.root / "sdf" / "obj_0002.npz").exists()  # the deleted file's artifacts are gone


def test_pack_members_are_checked_before_they_are_read(tmp_path, monkeypatch):
    import zipfile

    from sdfnets.data import pack as pack_mod

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pack.json", json_bytes := b'{"shapes": [], "failed": []}')
        z.writestr("CREDITS.md", b"0" * (4 * 2**20))  # 4 MiB of one byte, a few KiB compressed
    monkeypatch.setattr(pack_mod, "MAX_MEMBER_BYTES", 2**20)
    p = pack_mod.Pack(bomb, verify=False)
    assert p.manifest["shapes"] == [] and len(json_bytes) < 2**20
    with pytest.raises(ValueError, match="over the 1 MiB limit"):
        p.credits
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.json", b"{}")
    with pytest.raises(ValueError, match="unsafe name"):
        pack_mod.Pack(evil, verify=False)
    (tmp_path / "not.zip").write_bytes(b"PK but not really")
    with pytest.raises(ValueError, match="not a zip archive"):
        pack_mod.Pack(tmp_path / "not.zip", verify=False)


def test_demo_uploads_are_limited_like_the_cli(monkeypatch):
    from sdfnets.app import demo
    from sdfnets.app import image2mesh as pipeline

    seen = {}

    class FakeBlocks:
        def launch(self, **kw):
            seen.update(kw)

    monkeypatch.setattr(demo, "build", lambda *a, **k: FakeBlocks())
    res = CliRunner().invoke(app, ["demo"])
    assert res.exit_code == 0, res.output
    assert seen["max_file_size"] == f"{pipeline.MAX_FILE_MB:.0f}mb" and seen["server_name"] == "127.0.0.1"
    assert seen["quiet"] and "the demo: http://127.0.0.1:7860" in res.output  # no share-link hint, our own line


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if unpickled


def test_a_pickle_payload_in_a_run_folder_never_runs(tmp_path):
    import pickle

    import torch

    from sdfnets import train
    from sdfnets.weightspace import generate

    marker = tmp_path / "pwned"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("final.pt", "last.pt"):
        with open(run_dir / name, "wb") as fh:
            pickle.dump({"step": 1, "evil": _Payload(str(marker))}, fh)
    with pytest.raises(ValueError, match="final.pt"):
        train.load_or_train(lambda: None, run_dir, desc="x", progress=False)
    (run_dir / "final.pt").unlink()
    with pytest.raises(ValueError, match="last.pt"):
        train.load_or_train(lambda: type("T", (), {"device": torch.device("cpu"), "step": 0, "total": 1})(), run_dir,
                           desc="x", progress=False)
    with pytest.raises(ValueError, match="last.pt"):
        generate.load_run(run_dir / "last.pt")
    assert not marker.exists()


def test_version_is_one_line():
    from sdfnets import __version__

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"sdfnets {__version__}"


def test_every_option_has_help_text():
    import click
    import typer

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            for p in cmd.params:
                if isinstance(p, click.Option) and p.name != "help":
                    yield " ".join(path), p.name, p.help

    missing = [(c, n) for c, n, h in walk(typer.main.get_command(app), ["sdfnets"]) if not h]
    assert not missing, missing


def test_a_long_thin_image_is_shrunk_before_it_is_padded(tmp_path):
    """A 661-byte 200000 x 1 PNG once became a 200000-pixel square (120 GB asked for); every
    intermediate is bounded now: a child process loads it within a small peak memory."""
    import subprocess
    import sys

    from PIL import Image

    thin = tmp_path / "thin.png"
    Image.new("RGB", (200_000, 1), (10, 20, 30)).save(thin)
    code = ("import resource, sys; from sdfnets.app.image2mesh import load_image\n"
            "a = load_image(sys.argv[1]); print(a.shape, a.dtype, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(thin)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dtype, peak_kb = out.stdout.split()[-2], int(out.stdout.split()[-1])
    assert "(224, 224, 3)" in out.stdout and dtype == "uint8"
    assert peak_kb < 1_500_000, f"{peak_kb / 1e6:.1f} GB peak for a 661-byte image"


@pytest.mark.parametrize("mode,grey,expect", [("I;16", 32768, 128), ("I;16", 65535, 255), ("I", 40000, 156),
                                               ("F", 0.5, 128), ("L", 128, 128)])
def test_greyscale_of_any_depth_keeps_its_grey(tmp_path, mode, grey, expect):
    """16-bit greyscale PNGs once loaded as white; every depth maps its range onto 0-255."""
    from PIL import Image

    from sdfnets.app.image2mesh import load_image

    img = Image.new(mode, (32, 32), grey)
    path = tmp_path / ("grey.png" if mode in ("I;16", "L") else "grey.tiff")
    img.save(path)
    got = load_image(path)
    assert abs(int(got[112, 112, 0]) - expect) <= 1 and (got[112, 112] == got[112, 112, 0]).all()


def test_a_file_changed_during_a_build_fails_instead_of_being_mislabelled(tmp_path, monkeypatch):
    """A folder-corpus file edited between listing (hashed) and loading once got the old content's hash beside
    the new content's mesh, reused by the next build and passed by `data verify`. The file is read once now:
    those bytes are hashed against the listed hash and parsed; a changed file fails with a reason, and the
    next build makes it from its new content."""
    from sdfnets.data import Dataset, corpora, dataset_root

    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "meshes" / "things"
    src.mkdir(parents=True)
    for i in range(2):
        trimesh.creation.box((0.5 + i, 1.0, 1.0)).export(src / f"box{i}.obj")
    folder = f"folder:{tmp_path / 'meshes'}"
    listed = corpora.FolderCorpus.sources

    def edit_after_listing(self, n):
        out = listed(self, n)
        trimesh.creation.icosphere().export(src / "box1.obj")  # changed after it was hashed, before it is read
        return out

    monkeypatch.setattr(corpora.FolderCorpus, "sources", edit_after_listing)
    cfg = config.resolve("smoke", data={"corpus": folder, "num_shapes": 2}).data
    build.build_dataset(cfg, renders=False, progress=False)
    ds = Dataset(dataset_root(cfg))
    assert [f["uid"] for f in ds.failed] == ["things/box1.obj"] and "changed while the dataset was built" in \
        ds.failed[0]["reason"]
    monkeypatch.setattr(corpora.FolderCorpus, "sources", listed)
    build.build_dataset(cfg, renders=False, progress=False)  # listed and read alike now: built from the sphere
    ds = Dataset(dataset_root(cfg))
    assert not ds.failed and ds.verify() == [] and ds.mesh(1).extents.max() < 1.5 * ds.mesh(1).extents.min()


def test_a_huge_folder_file_is_refused_from_its_size_without_reading_it(tmp_path):
    import resource

    from sdfnets.data import corpora, meshes

    big = tmp_path / "meshes" / "huge.obj"
    big.parent.mkdir()
    with open(big, "wb") as f:  # 3 GB, sparse: no disk used
        f.truncate(3 * 2**30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [src] = corpora.FolderCorpus(str(tmp_path / "meshes")).sources(1)  # hashed as a stream
    with pytest.raises(meshes.MeshError, match="over the 512 MB limit"):
        corpora.FolderCorpus(str(tmp_path / "meshes")).load(src)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing read whole


def test_paths_from_metadata_stay_inside_their_folder(tmp_path, smoke_dataset):
    """A manifest artifact path `../../etc/passwd` with a matching hash once passed `data verify`, and a
    release's `deepsdf` entry read and hashed /etc/passwd; every path from metadata is confined now."""
    import json
    import shutil

    from sdfnets.data import Dataset
    from sdfnets.image2latent import release
    from sdfnets.io import OutsideRoot, inside, sha256_file

    root = tmp_path / "ds"
    shutil.copytree(smoke_dataset.root, root)
    manifest = json.loads((root / "manifest.json").read_text())
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    manifest["shapes"][0]["artifacts"]["mesh"] = {"path": "../secret.txt", "sha256": sha256_file(secret), "bytes": 9}
    (root / "manifest.json").write_text(json.dumps(manifest))
    ds = Dataset(root)
    assert ds.verify() == ["obj_0000 mesh (its path leads outside the dataset)"]
    with pytest.raises(OutsideRoot):
        ds.mesh(0)
    for bad in ("/etc/passwd", "../deepsdf.safetensors", "", "sub/../../x"):
        with pytest.raises(release.ReleaseMismatch, match="not a file beside it"):
            release.deepsdf_path(tmp_path / "image2mesh.safetensors", {"deepsdf": bad})
    assert release.deepsdf_path(tmp_path / "r.safetensors", {"deepsdf": "d.safetensors"}) == tmp_path / "d.safetensors"
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(OutsideRoot):
        inside(tmp_path, "link/passwd")


@pytest.mark.parametrize("pose", ["nan,0", "inf,0", "0,nan", "-inf,10"])
def test_a_pose_that_is_not_a_finite_number_is_one_line(pose):
    from sdfnets.app.image2mesh import InputError, parse_pose

    with pytest.raises(InputError, match="finite"):
        parse_pose(pose)


@pytest.mark.parametrize("manifest", [b'{"shapes": "notalist"}', b"{not json", b'[1, 2]', b'{"shapes": [3]}'])
def test_a_pack_manifest_that_is_not_one_is_refused_by_name(tmp_path, manifest):
    import zipfile

    from sdfnets.data import pack as pack_mod

    bad = tmp_path / "bad-pack.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("pack.json", manifest)
    with pytest.raises(ValueError, match="bad-pack.zip: pack.json is not"):
        pack_mod.Pack(bad, verify=False).shapes


@pytest.mark.parametrize("heads", [0, 10**12, -1, 7, "4"])
def test_a_release_stating_impossible_sizes_is_refused_by_name(tmp_path, heads):
    import json

    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    from sdfnets import paths
    from sdfnets.image2latent import release

    src = paths.RELEASE_DIR / release.DEFAULT_NAME
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    cfg["num_heads"] = heads
    out = tmp_path / "evil.safetensors"
    save_file(load_file(str(src)), str(out), metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(ValueError, match="evil.safetensors: the model sizes it states"):
        release.load(out)


def _raise(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def test_an_output_folder_that_is_a_file_is_one_line(monkeypatch, smoke_dataset):
    monkeypatch.setenv("SDFNETS_DATA_DIR", "/dev/null")
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke"])
    assert res.exit_code == 2 and "SDFNETS_DATA_DIR names a file, not a folder" in res.output
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(smoke_dataset.root.parents[1]))
    monkeypatch.setenv("SDFNETS_RUNS_DIR", "/dev/null")
    res = CliRunner().invoke(app, ["deepsdf", "train", "--scale", "smoke"])
    assert res.exit_code == 2 and "SDFNETS_RUNS_DIR names a file" in res.output, res.output


@pytest.mark.parametrize("code,words", [(errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left")])
def test_a_read_only_or_full_disk_is_one_line_from_any_command(monkeypatch, smoke_dataset, code, words):
    import sdfnets.data
    from sdfnets.deepsdf import train

    disk = OSError(code, os.strerror(code), "/data/x.npz")
    monkeypatch.setattr(sdfnets.data, "build_dataset", _raise(disk))
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "3"])
    assert res.exit_code == 2 and words in res.output and "/data/x.npz" in res.output
    monkeypatch.setattr(train, "train", _raise(disk))  # a command without its own error handling
    res = CliRunner().invoke(app, ["deepsdf", "train", "--scale", "smoke"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and words in res.output, res.output
    monkeypatch.setattr(train, "train", _raise(KeyError("a bug")))  # a bug keeps its traceback
    res = CliRunner().invoke(app, ["deepsdf", "train", "--scale", "smoke"])
    assert res.exit_code == 1 and isinstance(res.exception, KeyError)


@pytest.mark.parametrize("module,words", [("pyrender", "pip install pyrender=="), ("gradio", "pip install gradio=="),
                                          ("papermill", "--engine script"), ("skimage", "pip install scikit-image==")])
def test_a_missing_module_names_what_to_install(module, words):
    from sdfnets.app.errors import one_line

    line = one_line(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert words in line and "\n" not in line
    assert one_line(ModuleNotFoundError("No module named 'sdfnets.x'", name="sdfnets.x")) is None  # our bug


def test_a_hidden_gradio_stops_the_demo_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)
    monkeypatch.delitem(sys.modules, "sdfnets.app.demo", raising=False)
    res = CliRunner().invoke(app, ["demo"])
    assert res.exit_code == 2 and "pip install gradio==" in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_no_egl_in_render_workers_is_one_line_and_marks_no_shape(tmp_path):
    env = {**os.environ, "SDFNETS_DATA_DIR": str(tmp_path), "__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent.json",
           "PYOPENGL_PLATFORM": "egl"}
    out = subprocess.run([sys.executable, "-m", "sdfnets.app.cli", "data", "build", "--scale", "smoke",
                          "--num-shapes", "2", "--workers", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "could not open a headless OpenGL context" in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.rglob("failed.json"))  # the environment's fault: a rerun with EGL renders them all


def test_a_pickle_checkpoint_in_the_run_folder_of_deepsdf_train_is_one_line(tmp_path, monkeypatch, smoke_dataset):
    import pickle

    from sdfnets.data.splits import with_ood
    from sdfnets.deepsdf.train import run_body
    from sdfnets.train import loop

    monkeypatch.setenv("SDFNETS_RUNS_DIR", str(tmp_path))
    cfg = config.resolve("smoke")
    ids = with_ood(smoke_dataset, cfg.image2latent.ood_category)[0]
    body = run_body(cfg, smoke_dataset, ids if len(ids) != len(smoke_dataset) else None)
    run_dir = loop.run_dir("deepsdf", smoke_dataset.root.name, body)
    run_dir.mkdir(parents=True)
    marker = tmp_path / "pwned"
    with open(run_dir / "final.pt", "wb") as fh:
        pickle.dump({"step": 1, "evil": _Payload(str(marker))}, fh)
    res = CliRunner().invoke(app, ["deepsdf", "train", "--scale", "smoke"])
    assert res.exit_code == 2 and "final.pt" in res.output and res.output.count("\n") == 1, res.output
    assert not marker.exists()


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path):
    from sdfnets.io import atomic_target, atomic_write_bytes, sweep_stale_tmp

    target = tmp_path / "a.npz"
    with pytest.raises(OSError, match="No space"), atomic_target(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []
    atomic_write_bytes(target, b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale, live = tmp_path / f".b.npz.{dead.stdout.strip()}.tmp", tmp_path / f".c.npz.{os.getpid()}.tmp"
    stale.write_bytes(b"left by a killed process")
    live.write_bytes(b"being written")
    assert sweep_stale_tmp(tmp_path) == [stale] and live.exists()


def test_flat_surfaces_and_unreadable_links_are_listed_as_failed_with_their_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "meshes"
    src.mkdir()
    trimesh.creation.box((1.0, 1.0, 0.01)).export(src / "thin_board.obj")  # thin but a volume: built
    trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]]).export(src / "triangle.obj")
    plane = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    plane.apply_transform(trimesh.transformations.random_rotation_matrix(rand=np.random.default_rng(0).random(3)))
    plane.export(src / "tilted_plane.obj")
    (src / "loop.obj").symlink_to(src / "loop.obj")
    (src / "gone.obj").symlink_to(src / "nowhere.obj")
    res = CliRunner().invoke(app, ["data", "build", "--scale", "smoke", "--corpus", f"folder:{src}", "--no-renders"])
    assert res.exit_code == 0 and "1 shapes built, 4 failed" in res.output, res.output
    failed = {line.split("] ")[1].split(":")[0]: line for line in res.output.splitlines() if "failed [" in line}
    assert set(failed) == {"triangle.obj", "tilted_plane.obj", "loop.obj", "gone.obj"}
    assert "flat" in failed["triangle.obj"] and "flat" in failed["tilted_plane.obj"]
    assert "Too many levels of symbolic links" in failed["loop.obj"]
    assert "No such file" in failed["gone.obj"]


@pytest.mark.slow
def test_the_demo_under_20_concurrent_hostile_uploads_stays_small_and_leaves_nothing(tmp_path):
    """A 661-byte 200000x1 PNG once drove the demo to 21.6 GB; now 20 such uploads at once (thin, tall, a
    12000² bomb, 16-bit grey, text named .png, and a plain image) each get their answer, the server's peak
    resident memory stays bounded, gradio keeps no copies of the results, and SIGTERM leaves no file behind."""
    import signal
    import socket
    import time

    from gradio_client import Client, handle_file
    from PIL import Image

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.new("RGB", (200_000, 1), (10, 20, 30)).save(imgs / "thin.png")
    Image.new("RGB", (1, 40_000), (10, 20, 30)).save(imgs / "tall.png")
    Image.new("L", (12_000, 12_000), 0).save(imgs / "bomb.png")
    Image.fromarray(np.full((64, 64), 40000, np.uint16)).save(imgs / "grey16.png")
    (imgs / "text.png").write_bytes(b"not an image" * 100)
    Image.new("RGB", (224, 224), (120, 130, 140)).save(imgs / "ok.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tmp_path / "tmp"
    temp.mkdir()
    demo = subprocess.Popen([sys.executable, "-m", "sdfnets.app.cli", "demo", "--port", str(port), "--device", "cpu"],
                            env={**os.environ, "TMPDIR": str(temp)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        for _ in range(300):
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001  (not listening yet)
                time.sleep(0.5)
        names = ["thin", "tall", "bomb", "grey16", "text", "ok"]
        jobs = [(n, client.submit(files=[handle_file(str(imgs / f"{n}.png"))], resolution=32, seed=0, refine=False,
                                  api_name="/run")) for n in (names * 4)[:20]]
        answers = {}
        for n, job in jobs:
            try:
                answers.setdefault(n, []).append(("mesh", job.result(timeout=600)[0]))
            except Exception as exc:  # noqa: BLE001  (gradio_client re-raises the demo's gr.Error)
                answers.setdefault(n, []).append(("error", str(exc)))
        peak_mb = int(next(l.split()[1] for l in open(f"/proc/{demo.pid}/status") if l.startswith("VmHWM"))) / 1024
        stored = [p for p in temp.rglob("*.glb")]
    finally:
        demo.send_signal(signal.SIGTERM)
        log, _ = demo.communicate(timeout=120)
    assert all(kind == "mesh" for kind, _ in answers["ok"]), answers["ok"]
    assert all("too large" in text for _, text in answers["bomb"])
    assert all("not a readable image" in text for _, text in answers["text"])
    # degenerate but readable images: a one-line error (nothing crosses zero) or a mesh of what fills the view
    assert all(kind == "mesh" or "\n" not in text for n in ("thin", "tall", "grey16") for kind, text in answers[n]), answers
    meshes = sum(kind == "mesh" for a in answers.values() for kind, _ in a)
    assert len(stored) == min(meshes, 16)  # served from the demo's folder (the last 16): gradio made no copies
    assert peak_mb < 2500, f"{peak_mb:.0f} MB peak"
    assert demo.returncode == 0 and "Traceback" not in log, log[-3000:]
    assert [p for p in temp.rglob("*") if p.is_file()] == []  # uploads and meshes gone with the demo
