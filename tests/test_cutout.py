"""Photos: the object cut out of its background with no learned weights, framed like the renders, and said so."""

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from sdfnets import paths
from sdfnets.app.cli import app
from sdfnets.app.cutout import FILL, object_mask, on_white
from sdfnets.app.image2mesh import load_image


def photo(seed: int = 0):
    """A red disc (the object) on a wood-like textured background: stripes and noise."""
    rng = np.random.default_rng(seed)
    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w]
    wood = np.stack([120 + 30 * np.sin(xx / 7.0 + yy / 40.0), 80 + 20 * np.sin(xx / 7.0), 40 + 0 * xx], -1)
    img = wood + rng.normal(0, 12, (h, w, 3))
    disc = (yy - 160) ** 2 + (xx - 210) ** 2 <= 90**2
    img[disc] = np.array([200, 30, 30]) + rng.normal(0, 10, (disc.sum(), 3))
    return np.clip(img, 0, 255).astype(np.uint8), disc


def test_the_random_walker_finds_the_object_of_a_photo():
    img, disc = photo()
    mask = object_mask(img)
    iou = (mask & disc).sum() / (mask | disc).sum()
    assert iou > 0.9, iou


def test_the_cut_out_is_framed_like_a_render():
    img, disc = photo()
    view = on_white(img, disc, 224)
    fg = view.min(-1) < 235
    ys, xs = np.nonzero(fg)
    assert abs(max(np.ptp(ys), np.ptp(xs)) + 1 - FILL * 224) <= 3  # the longer side at FILL of the view
    assert abs((ys.max() + ys.min()) / 2 - 111.5) <= 2 and abs((xs.max() + xs.min()) / 2 - 111.5) <= 2
    assert (view[~fg] >= 235).all()


def test_photos_are_cut_out_with_a_warning_and_renders_are_left_alone(tmp_path):
    img, _ = photo()
    Image.fromarray(img).save(tmp_path / "photo.png")
    cut, warning = load_image(tmp_path / "photo.png", check=True)
    assert "cut out" in warning and "photo.png" in warning
    border = np.concatenate([cut[0], cut[-1], cut[:, 0], cut[:, -1]])
    assert (border.min(-1) >= 235).all()  # on white now, like the renders
    kept, warning = load_image(tmp_path / "photo.png", check=True, cutout=False)
    assert "border is white" in warning and (kept[112].min(-1) < 235).any()  # the photo as it was, letterboxed
    view = paths.REPO_ROOT / "examples" / "armchair" / "view_0.png"
    as_is, warning = load_image(view, check=True)
    assert warning is None
    np.testing.assert_array_equal(as_is, load_image(view, cutout=False))


def test_image2mesh_saves_what_the_model_sees(tmp_path):
    photo_path = paths.REPO_ROOT / "examples" / "photos" / "coffee.jpg"
    res = CliRunner().invoke(app, ["image2mesh", str(photo_path), "-o", str(tmp_path / "cup.glb"), "-r", "32",
                                   "--device", "cpu", "--save-inputs", str(tmp_path / "seen")])
    assert res.exit_code == 0, res.output
    assert "a photo with a background" in res.output
    seen = np.asarray(Image.open(tmp_path / "seen" / "coffee.png"))
    assert seen.shape == (224, 224, 3) and (seen[0].min(-1) >= 235).all()
