"""Where the pixel-aligned network puts the surface: its mesh taken at other levels of its SDF than zero (a
negative level erodes the shape, a positive one dilates it), on notebook 16's held-out shapes from the same
views. A network whose best level is not zero is biased (thin parts eroded by the clamped loss, say); the level
would then be chosen on training shapes, not on these. The network is loaded (or trained) as
``bench/views_at_scale.py`` does, or a released one (``--release``); the grid is computed once per shape and
cleaned after the shift, each inside region under ``min_part`` of the largest dropped (``--min-parts``: the
config's ``pixel.min_part`` and others, to see what a stricter clean-up costs in F for the meshes it makes one
part).

    python bench/iso_level.py --scale full --train-shapes 200 --resolution 64 --pixel '{...}' --out X.json
    python bench/iso_level.py --scale full --release checkpoints/pixelsdf-views-sweethome3d.safetensors \
        --levels 0 --min-parts 0.05,0.2,0.5,1 --label release --out X.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sdfnets import config, metrics
from sdfnets.data import load_or_build
from sdfnets.data.splits import random_views, with_ood
from sdfnets.devices import device_name
from sdfnets.field import clean_grid
from sdfnets.multiview import pixelsdf, pixeltrain
from sdfnets.repro.provenance import git_commit

sys.path.insert(0, str(Path(__file__).parent))
from views_at_scale import spread, write_row  # noqa: E402

KEEP = ("fscore", "chamfer_l1", "iou", "one_part", "holds_together")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="full")
    ap.add_argument("--pixel", type=json.loads, default={}, help="overrides of the pixel section (the network's run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-shapes", type=int, default=None)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--levels", default="-0.01,-0.005,0,0.005,0.01")
    ap.add_argument("--min-parts", default=None, help="clean-ups measured (default: the config's pixel.min_part)")
    ap.add_argument("--release", type=Path, default=None, help="measure this released network instead of training one")
    ap.add_argument("--bf16", action="store_true", help="on the CPU, evaluate the grid under bfloat16 autocast as "
                    "pixelsdf.sdf_grid does on a GPU")
    ap.add_argument("--label", default="pixel")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = dataclasses.replace(config.resolve(args.scale, pixel=args.pixel), seed=args.seed)
    ds = load_or_build(cfg.data)
    train_ids, test_ids, _ = with_ood(ds, cfg.image2latent.ood_category)
    train_ids = spread(train_ids, args.train_shapes)
    res = args.resolution or cfg.image2latent.mesh_resolution
    if args.release is not None:  # the network with the pixel settings it was trained and released with
        from sdfnets.multiview import release

        model, meta = release.load(args.release)
        pixel = meta["pixel"]
    else:
        model, _ = pixeltrain.train(cfg, ds, train_ids)
        pixel = dataclasses.asdict(cfg.pixel)
    vids = random_views(len(test_ids), args.views, cfg.data.num_views, seed=0).numpy()
    renders = [ds.renders(int(i)) for i in test_ids]
    with torch.autocast("cpu", torch.bfloat16, enabled=args.bf16):
        grids = [pixelsdf.sdf_grid(model, r["images"][v], r["poses"][v], pixel["image_size"], res)
                 for r, v in zip(renders, vids)]
    truth = [ds.sdf(int(i)) for i in test_ids]
    out = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
    out.setdefault("what", " ".join(__doc__.split("\n\n")[0].split()))
    out |= {"scale": args.scale, "commit": git_commit(), "device": device_name(), "resolution": res,
            "held_out_shapes": len(test_ids)}
    parts = [float(x) for x in args.min_parts.split(",")] if args.min_parts else [pixel["min_part"]]
    for level in (float(x) for x in args.levels.split(",")):
        for part in parts:
            row = f"{args.label}, held-out, {args.views} views, level {level:+.3f}"
            row += "" if args.min_parts is None else f", parts under {part:g} of the largest dropped"
            if row in out["rows"]:
                continue
            t0 = time.perf_counter()
            jobs = ((clean_grid(g - level, 0.0, part), t, int(i)) for g, t, i in zip(grids, truth, test_ids))
            write_row(out, args.out, row, metrics.measure_grids(jobs, [int(i) for i in test_ids]), t0, KEEP)


if __name__ == "__main__":
    main()
