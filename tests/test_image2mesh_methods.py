"""`sdfnets image2mesh --method`: the committed example (four views of a held-out armchair) through both
released methods, measured against the true shape from the corpus pack."""

import pytest
import trimesh
from typer.testing import CliRunner

from sdfnets import paths
from sdfnets.app.cli import app

EXAMPLE = paths.REPO_ROOT / "examples" / "armchair"
UID = "BlendSwap-CC-BY/0087"  # the example's shape (examples/make_examples.py)


def fscore(path, truth) -> float:
    from sdfnets.metrics.shapes import sample_surface, surface_metrics

    return surface_metrics(*sample_surface(trimesh.load(path, force="mesh"), 20000),
                           *sample_surface(truth, 20000))["fscore"]


@pytest.fixture(scope="module")
def truth():
    from sdfnets.data.pack import Pack

    return Pack(next(paths.packs_dir().glob("*.zip"))).mesh(UID)


def test_the_pixel_aligned_default_reads_the_held_out_armchair_better_than_diffusion(tmp_path, truth):
    views = sorted(str(p) for p in EXAMPLE.glob("view_*.png"))
    scores = {}
    for method in ("pixel", "diffusion"):
        out = tmp_path / f"{method}.glb"
        args = ["image2mesh", *views, "-o", str(out), "-r", "64", "--device", "cpu"]
        res = CliRunner().invoke(app, args + ([] if method == "pixel" else ["--method", method]))
        assert res.exit_code == 0, res.output
        scores[method] = fscore(out, truth)
    # measured on this example at 64³: 0.25 (pixel) vs 0.16 (diffusion)
    assert scores["pixel"] > 0.22 and scores["pixel"] > scores["diffusion"] + 0.05, scores


def test_options_of_the_other_method_are_refused_in_one_line(tmp_path):
    view = str(EXAMPLE / "view_0.png")
    for extra, says in ((["--refine"], "--method diffusion"), (["--method", "nerf"], "choose one of pixel, diffusion")):
        res = CliRunner().invoke(app, ["image2mesh", view, "-o", str(tmp_path / "x.glb"), *extra])
        assert res.exit_code == 2 and says in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "x.glb").exists()
