"""Write the committed example input of the README's "first ten minutes": four views of a held-out armchair from
the corpus pack (one the release never trained on), rendered like the training views from the directions
`sdfnets image2mesh` assumes without --pose, and `expected.png`: those views, the meshes both released methods
make from them (the pixel-aligned default and phase 12's diffusion), and the true shape.

    python examples/make_examples.py      (a minute on a CPU; needs EGL or OSMesa for rendering)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sdfnets import paths
from sdfnets.app.image2mesh import load_image, pipeline
from sdfnets.data.cameras import default_poses
from sdfnets.data.pack import Pack
from sdfnets.data.render import Renderer
from sdfnets.figures import compact_png

UID, VIEWS, SIZE = "BlendSwap-CC-BY/0087", 4, 224  # an armchair of the test split
OUT = Path(__file__).resolve().parent / "armchair"


def save_sheet(sheet: Image.Image, path: Path) -> None:
    """A sheet as the figures are saved: a 256-colour palette PNG (about half the bytes)."""
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    buf.seek(0)
    compact_png(buf, path)


def main() -> None:
    pack = Pack(next(paths.packs_dir().glob("*.zip")))
    shape = next(s for s in pack.shapes if s["uid"] == UID)
    assert shape["split"] == "test", "the example must be a shape the release never trained on"
    truth = pack.mesh(UID)
    OUT.mkdir(parents=True, exist_ok=True)
    poses = default_poses(VIEWS)
    with Renderer(SIZE) as renderer:
        views = renderer.render_views(truth, poses)["images"]
        for i, img in enumerate(views):
            Image.fromarray(img).save(OUT / f"view_{i}.png", optimize=True)
        images = [load_image(OUT / f"view_{i}.png") for i in range(VIEWS)]
        meshes = [pipeline(method, device="cpu")(images, resolution=128, seed=0) for method in ("pixel", "diffusion")]
        shown = [renderer.render_views(m, default_poses(1))["images"][0] for m in (*meshes, truth)]
    row = Image.fromarray(np.concatenate([*views, *shown], axis=1))
    row = row.resize((row.width // 2, row.height // 2), Image.LANCZOS)
    sheet = Image.new("RGB", (row.width, row.height + 24), "white")
    sheet.paste(row, (0, 0))
    draw, cell = ImageDraw.Draw(sheet), row.width // (VIEWS + 3)
    for x, text in ((0, f"the {VIEWS} input views (view_0 ... view_{VIEWS - 1}.png)"),
                    (VIEWS * cell, "image2mesh"), ((VIEWS + 1) * cell, "diffusion"),
                    ((VIEWS + 2) * cell, "true shape")):
        draw.text((x + 6, row.height + 5), text, fill="black", font=ImageFont.load_default(13))
    save_sheet(sheet, OUT / "expected.png")
    (OUT / "SOURCE.md").write_text(
        f"Rendered from `{UID}` (\"{shape['name']}\", {shape['category']}) of `data/packs/`, by {shape['creator']}, "
        f"{shape['license']}: see the pack's credits. `expected.png`: the {VIEWS} views, the meshes "
        "`sdfnets image2mesh examples/armchair/view_*.png` makes from them (128³; the pixel-aligned default, then "
        "`--method diffusion`, seed 0), the true shape.\n")
    print(f"wrote {OUT}")


PHOTOS = Path(__file__).resolve().parent / "photos"
PHOTO_SOURCES = {"coffee": "a coffee cup on a saucer (Rachel Michetti for Pikolo Espresso Bar)",
                 "chelsea": "Chelsea the cat (Stefan van der Walt)"}


def photos() -> None:
    """Two real photos (scikit-image's sample images, CC0) through image2mesh: the photo, what the model sees
    after the cut-out, and the meshes of both methods, in `photos/expected.png`."""
    import skimage.data

    PHOTOS.mkdir(parents=True, exist_ok=True)
    rows = []
    with Renderer(SIZE) as renderer:
        for name in PHOTO_SOURCES:
            path = PHOTOS / f"{name}.jpg"
            Image.fromarray(getattr(skimage.data, name)()).save(path, quality=90)
            photo = np.asarray(Image.open(path).convert("RGB"))
            seen = load_image(path)
            meshes = [pipeline(method, device="cpu")([seen], resolution=128, seed=0) for method in ("pixel", "diffusion")]
            shown = [renderer.render_views(m, default_poses(1))["images"][0] for m in meshes]
            side = max(photo.shape[:2])
            framed = np.full((side, side, 3), 255, np.uint8)
            framed[(side - photo.shape[0]) // 2:][:photo.shape[0], (side - photo.shape[1]) // 2:][:, :photo.shape[1]] = photo
            rows.append(np.concatenate([np.asarray(Image.fromarray(framed).resize((SIZE, SIZE))), seen, *shown], 1))
    grid = Image.fromarray(np.concatenate(rows, 0))
    grid = grid.resize((grid.width // 2, grid.height // 2), Image.LANCZOS)
    sheet = Image.new("RGB", (grid.width, grid.height + 24), "white")
    sheet.paste(grid, (0, 0))
    draw, cell = ImageDraw.Draw(sheet), grid.width // 4
    for i, text in enumerate(("the photo", "model input", "image2mesh", "diffusion")):
        draw.text((i * cell + 6, grid.height + 5), text, fill="black", font=ImageFont.load_default(13))
    save_sheet(sheet, PHOTOS / "expected.png")
    (PHOTOS / "SOURCE.md").write_text(
        "Real photos from scikit-image's sample data (`skimage.data`), each \"No copyright restrictions. CC0 by the "
        "photographer\": " + "; ".join(f"`{n}.jpg`: {t}" for n, t in PHOTO_SOURCES.items()) + ". `expected.png`: "
        "each photo, the view the model gets after `image2mesh` cuts the object out of the background, and the "
        "meshes of both methods (128³, seen from the direction the single view is assumed to come from). Neither "
        "object is furniture: the models saw renders of furniture only, and `image2mesh` says so.\n")
    print(f"wrote {PHOTOS}")


if __name__ == "__main__":
    main()
    photos()
