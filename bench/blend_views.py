"""Few views, two readers: the released pixel-aligned network (local features) and the released phase-12 DiT
(a global code, decoded by phase 11's decoder) on notebook 16's held-out (or out-of-distribution) shapes from the same views
(``random_views``, seed 0, true poses or the default ones), and their SDF grids combined without training: the mean of the two
fields and their intersection (the larger value). Both fields are clamped SDFs (±0.1) of the same unit cube,
evaluated densely on one grid, each grid tidied as image2mesh tidies the network's (parts under
``min_part`` of the largest dropped). From one view the DiT's global code gives more F than the pixel-aligned network
(notebook 16); whether the two together give more than either is what this measures. Writes after each row and
skips rows already in ``--out``.

    python bench/blend_views.py --views 1,2 --resolution 64 --out bench/results/blend_views-cpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from sdfnets import config, metrics, paths
from sdfnets.data import load_or_build
from sdfnets.data.cameras import default_poses
from sdfnets.data.splits import with_ood
from sdfnets.devices import device_name
from sdfnets.field import clean_grid, sdf_grid
from sdfnets.image2latent import generalise as gen
from sdfnets.multiview import pixelsdf, release
from sdfnets.repro.provenance import git_commit

KEEP = ("fscore", "chamfer_l1", "iou", "normal_consistency", "one_part", "holds_together")
COMBINE = {"pixel-aligned": lambda p, d: p, "DiT": lambda p, d: d,
           "mean of the two": lambda p, d: 0.5 * (p + d), "intersection": np.maximum}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", default="1,2")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--shapes", type=int, default=None, help="the first N held-out shapes only")
    ap.add_argument("--split", default="held-out", choices=("held-out", "ood"),
                    help="notebook 16's held-out shapes, or its out-of-distribution ones (a category no model saw)")
    ap.add_argument("--poses", default="known", choices=("known", "default"),
                    help="tell both readers the views' true poses, or the default ones a user without camera data gets")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    cfg = config.resolve("full")
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, cfg.image2latent.ood_category)
    test_ids = list(test_ids if args.split == "held-out" else ood_ids)[: args.shapes]
    parts = gen.parts_for(cfg, ds, train_ids)
    if not parts.source.startswith("release"):
        raise SystemExit("needs the released phase-12 pipeline of this corpus (checkpoints/)")
    pixel, meta = release.load(paths.RELEASE_DIR / release.DEFAULT_NAME, "cpu")
    pc = meta["pixel"]
    res = args.resolution
    out = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
    out |= {"what": " ".join(__doc__.split("\n\n")[0].split()), "commit": git_commit(), "device": device_name(),
            "resolution": res, f"{args.split}_shapes": len(test_ids), "pipeline": parts.source,
            "pixel_release": release.DEFAULT_NAME}
    for k in (int(v) for v in args.views.split(",")):
        rows = {name: f"{name}, {args.split}, {k} view{'s' if k > 1 else ''}, {args.poses} poses" for name in COMBINE}
        if all(r in out["rows"] for r in rows.values()):
            continue
        t0 = time.perf_counter()
        cond = gen.Condition(k, args.poses)
        vids = gen.random_views(len(test_ids), k, cfg.data.num_views, 0)
        images = np.stack([ds.renders(int(i))["images"][vids[j].numpy()] for j, i in enumerate(test_ids)])
        told = torch.stack([torch.from_numpy(ds.renders(int(i))["poses"][vids[j].numpy()]) for j, i
                            in enumerate(test_ids)]).float()
        if args.poses == "default":
            told = torch.as_tensor(default_poses(k)).float()[None].expand(len(test_ids), -1, -1, -1).contiguous()
        feats = torch.stack([parts.encoder.encode(images[j]).cpu() for j in range(len(test_ids))])
        z = gen.sample_latents(parts.model, feats, told, seed=0)
        grids = {name: [] for name in COMBINE}
        for j in range(len(test_ids)):
            dit = sdf_grid(parts.decoder.field(z[j]), res, device="cpu")
            maps = pixel.encode(pixelsdf.views_tensor(torch.as_tensor(images[j]), pc["image_size"])[None])
            pix = sdf_grid(lambda pts: pixel(maps, told[j][None], pts[None])[0], res, device="cpu")
            for name, combine in COMBINE.items():  # tidied as image2mesh tidies the network's grid
                grids[name].append(clean_grid(combine(pix, dit), pc.get("smooth", 0.0), pc.get("min_part", 0.05)))
        for name, row in rows.items():
            found = metrics.measure_grids(((g, ds.sdf(int(i)), int(i)) for g, i in zip(grids[name], test_ids)),
                                          [int(i) for i in test_ids])
            out["rows"][row] = {m: found[m] for m in KEEP}
            print(row, {m: round(v, 3) for m, v in out["rows"][row].items()}, f"{cond.name}", flush=True)
        out["rows"][rows["pixel-aligned"]]["seconds_for_this_view_count"] = round(time.perf_counter() - t0, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
