"""Write the committed example input of the README's "first ten minutes": four views of a held-out armchair from
the corpus pack (one the release never trained on), rendered like the training views from the directions
`sdfnets image2mesh` assumes without --pose, and `expected.png`: those views, the meshes both released methods
make from them (the pixel-aligned default and phase 12's diffusion), and the true shape.

    python examples/make_examples.py      (a minute on a CPU; needs EGL or OSMesa for rendering)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sdfnets import paths
from sdfnets.app.image2mesh import load_image, pipeline
from sdfnets.data.cameras import default_poses
from sdfnets.data.pack import Pack
from sdfnets.data.render import Renderer

UID, VIEWS, SIZE = "BlendSwap-CC-BY/0087", 4, 224  # an armchair of the test split
OUT = Path(__file__).resolve().parent / "armchair"


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
    sheet.save(OUT / "expected.png", optimize=True)
    (OUT / "SOURCE.md").write_text(
        f"Rendered from `{UID}` (\"{shape['name']}\", {shape['category']}) of `data/packs/`, by {shape['creator']}, "
        f"{shape['license']}: see the pack's credits. `expected.png`: the {VIEWS} views, the meshes "
        "`sdfnets image2mesh examples/armchair/view_*.png` makes from them (128³; the pixel-aligned default, then "
        "`--method diffusion`, seed 0), the true shape.\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
