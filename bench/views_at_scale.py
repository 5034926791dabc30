"""Image -> shape from known-pose views on notebook 16's held-out and out-of-distribution shapes at a scale:
the visual hull (no learning) and the pixel-aligned SDF network (with and without the grid's clean-up:
``pixel`` / ``pixel-raw``), from the same views (``random_views``,
seed 0), at the notebook's mesh resolution. The pixel-aligned network is trained first (or loaded: its run
resumes, so ``--max-steps`` splits it over several jobs). Writes after each row and skips rows already in
``--out``, so a run stopped early keeps what it measured and the next one goes on.

    python bench/views_at_scale.py --scale full --methods hull,pixel --out bench/results/views-gpu.json
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

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.cameras import default_poses
from sdfnets.data.splits import random_views, with_ood
from sdfnets.devices import device_name
from sdfnets.multiview import hull, pixelsdf, pixeltrain
from sdfnets.repro.provenance import git_commit

KEEP = ("fscore", "chamfer_l1", "iou", "normal_consistency", "one_part", "holds_together")


def json_number(value: float) -> float | None:
    """A metric as JSON keeps it: None where there is none (an empty mesh has no Chamfer distance; NaN is not
    JSON)."""
    return None if value != value else value


def spread(ids, n: int | None):
    """``n`` of ``ids`` evenly spread (the smaller version's training shapes); all of them without ``n``."""
    return ids[:: max(1, len(ids) // n)][:n] if n else ids


def shape_sets(test_ids, ood_ids, train_ids, ks, seen: int | None = None) -> list[tuple[str, list, list]]:
    """The shapes measured, each set with its name and numbers of views: the held-out shapes from every K, the
    out-of-distribution ones from 4, and with ``seen`` that many of the network's own training shapes (evenly
    spread) from every K."""
    sets = [("held-out", list(test_ids), list(ks)), ("ood", list(ood_ids), [4])]
    return sets + ([("training", list(spread(list(train_ids), seen)), list(ks))] if seen else [])


def write_row(out: dict, path: Path, row: str, found: dict, t0: float, keep=KEEP) -> None:
    """Add a measured row (the metrics ``keep``, its seconds since ``t0`` and commit) to ``out``, print it and
    write the whole file: a run stopped early keeps every row it measured."""
    out["rows"][row] = {m: json_number(found[m]) for m in keep} | {
        "seconds": round(time.perf_counter() - t0, 1), "commit": git_commit()}
    print(row, {m: round(found[m], 3) for m in keep}, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="full")
    ap.add_argument("--methods", default="hull,pixel,pixel+hull")
    ap.add_argument("--views", default="4,8,1,2")
    ap.add_argument("--max-steps", type=int, default=None, help="stop the pixel-aligned training there (resumable)")
    ap.add_argument("--pixel", type=json.loads, default={}, help='overrides of the pixel section, e.g. \'{"steps": 40000}\'')
    ap.add_argument("--release", type=Path, default=None, help="measure this released pixel-aligned network "
                    "(e.g. checkpoints/pixelsdf-sweethome3d.safetensors) instead of training one")
    ap.add_argument("--variant", default=None, help="train a pooling variant of bench/pixel_variants.py instead of "
                    "the library's network (max, two-stage)")
    ap.add_argument("--label", default="pixel", help="the pixel-aligned rows' name (one per --pixel variant)")
    ap.add_argument("--poses", default="known", choices=("known", "default", "search"),
                    help="the views' true poses, the default ones a user without camera data gets, or those the "
                         "pixel-aligned network's silhouettes find from there (sdfnets.multiview.poses)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of the pose search")
    ap.add_argument("--train-shapes", type=int, default=None,
                    help="train the pixel-aligned network on N training shapes only, evenly spread (a smaller version)")
    ap.add_argument("--seed", type=int, default=0, help="the pixel-aligned training's seed (its initialisation and "
                    "draws; the data and the views measured stay the same)")
    ap.add_argument("--resolution", type=int, default=None, help="grid resolution (default: the notebook's)")
    ap.add_argument("--seen", type=int, default=None, help="also measure on N of the network's own training shapes, "
                    "evenly spread (rows named 'training'): how much of the gap to the held-out rows is one of "
                    "generalisation")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = dataclasses.replace(config.resolve(args.scale, pixel=args.pixel), seed=args.seed)
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, cfg.image2latent.ood_category)
    yfov = float(ds.renders(test_ids[0])["yfov"])
    res = args.resolution or cfg.image2latent.mesh_resolution
    train_ids = spread(train_ids, args.train_shapes)
    out = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
    out.setdefault("what", " ".join(__doc__.split("\n\n")[0].split()))  # a file's own description is kept
    out |= {"scale": args.scale, "commit": git_commit(), "device": device_name(),
            "resolution": res, "held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids), "train_shapes": len(train_ids)}
    methods = args.methods.split(",")
    model = None
    if args.release is not None:
        from sdfnets.devices import default_device
        from sdfnets.multiview import release

        model, meta = release.load(args.release, default_device())
        cfg = config.resolve(args.scale, pixel={k: v for k, v in meta["pixel"].items() if k in ("width", "feature",
                                                "hidden", "image_size")} | args.pixel)
        out.setdefault("pixel_training", {})[args.label] = {"release": str(args.release)}
    elif any(m.startswith("pixel") for m in methods):
        t0 = time.perf_counter()
        if args.variant:
            sys.path.insert(0, str(Path(__file__).parent))
            import pixel_variants

            model, run = pixel_variants.train(cfg, ds, train_ids, args.variant, max_steps=args.max_steps)
        else:
            model, run = pixeltrain.train(cfg, ds, train_ids, max_steps=args.max_steps)
        out.setdefault("pixel_training", {})[args.label] = {
            "overrides": args.pixel, "variant": args.variant, "seed": args.seed, "steps": run.steps,
            "of": cfg.pixel.steps, "seconds": round(run.seconds, 1),
            "final_loss": run.history[-1][1] if run.history else None,
            "steps_per_second": round(run.steps_per_second, 2),
            "wall_seconds_this_job": round(time.perf_counter() - t0, 1)}
        print("pixel-aligned training:", out["pixel_training"][args.label], flush=True)
        if not run.finished:
            methods = [m for m in methods if not m.startswith("pixel")]
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))
    for name, ids, ks in shape_sets(test_ids, ood_ids, train_ids, [int(k) for k in args.views.split(",")], args.seen):
        for k in ks:
            vids = random_views(len(ids), k, cfg.data.num_views, seed=0).numpy()
            renders = [ds.renders(int(i)) for i in ids]
            images = np.stack([r["images"][v] for r, v in zip(renders, vids)])
            poses = np.stack([r["poses"][v] for r, v in zip(renders, vids)])
            told = poses if args.poses == "known" else np.broadcast_to(default_poses(k), poses.shape).copy()
            rows = {m: f"{m.replace('pixel', args.label)}, {name}, {k} views, {args.poses} poses" for m in methods}
            if args.poses == "search" and not all(r in out["rows"] for r in rows.values()):
                from sdfnets.image2latent.generalise import view_angle_error
                from sdfnets.multiview.poses import search_poses

                t0 = time.perf_counter()
                told = np.stack([search_poses(model, images[j], yfov, cfg.pixel.image_size, rounds=args.rounds)[0]
                                 for j in range(len(ids))])
                out.setdefault("pose_search", {})[f"{name}, {k} views"] = {
                    "median_degrees": float(np.median(view_angle_error(torch.as_tensor(told), torch.as_tensor(poses)))),
                    "default_median_degrees": float(np.median(view_angle_error(
                        torch.as_tensor(np.broadcast_to(default_poses(k), poses.shape).copy()), torch.as_tensor(poses)))),
                    "rounds": args.rounds, "seconds": round(time.perf_counter() - t0, 1)}
                print("pose search:", out["pose_search"][f"{name}, {k} views"], flush=True)
            for method in methods:
                row = rows[method]
                if row in out["rows"]:
                    continue
                t0 = time.perf_counter()
                if method == "hull":
                    found = hull.measure(ds, ids, images, told, yfov, res)
                elif method in ("pixel", "pixel-raw"):  # raw: the grid as the network gives it, no clean-up
                    tidy = (cfg.pixel.smooth, cfg.pixel.min_part) if method == "pixel" else (0.0, 0.0)
                    if args.variant == "depth-given":  # RGB-D views: their depth rendered again
                        found = pixel_variants.measure_with_depth(model, ds, ids, images, told, vids,
                                                                  cfg.pixel.image_size, res, *tidy)
                    else:
                        found = pixelsdf.measure(model, ds, ids, images, told, cfg.pixel.image_size, res, *tidy)
                else:  # "pixel+hull": the network's SDF held inside the hull of the same views
                    grids = (pixelsdf.sdf_grid(model, images[j], told[j], cfg.pixel.image_size, res)
                             for j in range(len(ids)))
                    found = hull.measure(ds, ids, images, told, yfov, res, within=grids)
                write_row(out, args.out, row, found, t0)


if __name__ == "__main__":
    main()
