"""The visual hull on notebook 16's held-out and out-of-distribution shapes at a scale, from the same views
(``random_views``, seed 0) with known poses, at 128³: what any image → 3-D method must beat from those views.
Writes after each row, so a run stopped early keeps what it measured.

    python bench/hull_at_full.py --scale full --out bench/results/hull-gpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.splits import random_views, with_ood
from sdfnets.devices import device_name
from sdfnets.multiview import hull
from sdfnets.repro.provenance import git_commit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="full")
    ap.add_argument("--views", default="4,8,1,2")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = config.resolve(args.scale)
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, cfg.image2latent.ood_category)
    yfov = float(ds.renders(test_ids[0])["yfov"])
    res = cfg.image2latent.mesh_resolution
    out = {"what": __doc__.split("\n\n")[0], "scale": args.scale, "commit": git_commit(), "device": device_name(),
           "resolution": res, "held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids), "rows": {}}
    for name, ids, ks in (("held-out", test_ids, [int(k) for k in args.views.split(",")]), ("ood", ood_ids, [4])):
        for k in ks:
            t0 = time.perf_counter()
            vids = random_views(len(ids), k, cfg.data.num_views, seed=0).numpy()
            renders = [ds.renders(int(i)) for i in ids]
            images = np.stack([r["images"][v] for r, v in zip(renders, vids)])
            poses = np.stack([r["poses"][v] for r, v in zip(renders, vids)])
            found = hull.measure(ds, ids, images, poses, yfov, res)
            out["rows"][f"{name}, {k} views, known poses"] = {
                m: found[m] for m in ("fscore", "chamfer_l1", "iou", "normal_consistency", "one_part", "holds_together")
            } | {"seconds": round(time.perf_counter() - t0, 1)}
            print(name, k, {m: round(v, 3) for m, v in out["rows"][f"{name}, {k} views, known poses"].items()},
                  flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
