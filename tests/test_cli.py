import json

from typer.testing import CliRunner

from sdfnets.app.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    out = runner.invoke(app, ["--help"]).output
    for cmd in ("data", "figures", "notebooks"):
        assert cmd in out
    data_help = runner.invoke(app, ["data", "--help"]).output
    for cmd in ("build", "info", "verify"):
        assert cmd in data_help


def test_build_info_verify_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_DATA_DIR", str(tmp_path))
    res = runner.invoke(app, ["data", "build", "--scale", "smoke", "--num-shapes", "3"])
    assert res.exit_code == 0, res.output
    assert "3 shapes built, 0 failed" in res.output
    res = runner.invoke(app, ["data", "info", "--json"])
    info = json.loads(res.output)
    ds = info["datasets"]
    assert len(ds) == 1 and ds[0]["num_shapes"] == 3 and ds[0]["corpus"] == "procedural"
    assert sum(ds[0]["categories"].values()) == 3
    (pack,) = info["packs"]  # the committed corpus pack, with its size and shape count
    assert pack["num_shapes"] >= 500 and pack["bytes"] <= 20 * 2**20
    res = runner.invoke(app, ["data", "verify", "--scale", "smoke", "-n", "3"])
    assert res.exit_code == 0 and "0 mismatches" in res.output


def test_bad_arguments_exit_nonzero(tmp_path):
    assert runner.invoke(app, ["data", "build", "--scale", "galactic"]).exit_code != 0
    res = runner.invoke(app, ["data", "build", "--corpus", f"folder:{tmp_path}/none", "--scale", "smoke"])
    assert res.exit_code == 2 and "not found" in res.output
    assert runner.invoke(app, ["figures", "--only", "99"]).exit_code != 0


def test_an_image_unlike_the_training_renders_is_warned_about(tmp_path):
    """A photo (no white background) gets a warning naming it; the committed example views and an RGBA image
    whose alpha cuts the object out do not."""
    import numpy as np
    from PIL import Image

    from sdfnets import paths
    from sdfnets.app.image2mesh import load_image

    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(photo)
    _, warning = load_image(photo, check=True)
    assert warning and "photo.jpg" in warning and "white" in warning
    for view in sorted((paths.REPO_ROOT / "examples" / "armchair").glob("view_*.png")):
        assert load_image(view, check=True)[1] is None, view
    cutout = np.zeros((200, 300, 4), np.uint8)
    cutout[50:150, 100:200] = (90, 60, 30, 255)  # the object; the rest transparent (any colour underneath)
    Image.fromarray(cutout).save(tmp_path / "cutout.png")
    assert load_image(tmp_path / "cutout.png", check=True)[1] is None
