"""Where the pixel-aligned network's SDF is wrong, split by what the views' silhouettes already say.

Each SDF sample of a shape (the dataset's own, near the surface and uniform) falls in one of three regions for
K known-pose views: *outside the visual hull* (some silhouette already says empty), *inside the hull but outside
the shape* (space no silhouette can carve: between a chair's legs, under a table, a bowl's inside) or *inside the
shape*. Per region: its share of the samples, the network's mean clamped L1 error there, how often it gets the
side of the surface wrong, and the region's share of all the error. Measured on notebook 16's held-out shapes and
on as many of the network's own training shapes (evenly spread), from the same views (``random_views``, seed 0):
if the error sits inside the hull on both, the network reads little more than the silhouettes, whatever shapes it
saw.

    python bench/pixel_errors.py --release checkpoints/pixelsdf-views-sweethome3d.safetensors \\
        --out bench/results/pixel_errors-cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.render import foreground
from sdfnets.data.splits import random_views, with_ood
from sdfnets.devices import device_name
from sdfnets.field import BOUND, clamped_l1
from sdfnets.multiview import hull, pixelsdf, release
from sdfnets.repro.provenance import git_commit

sys.path.insert(0, str(Path(__file__).parent))
from views_at_scale import spread  # noqa: E402

REGIONS = ("outside the hull", "inside the hull, outside the shape", "inside the shape")


def regions(points: np.ndarray, sdf: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
    """Each point's region (an index into :data:`REGIONS`): the hull looked up at the point's nearest voxel of
    ``occupancy`` [R, R, R] (carved on :func:`sdfnets.field.grid_points`' grid), the shape by the true SDF's sign."""
    r = occupancy.shape[0]
    idx = np.clip(np.rint((points + BOUND) / (2 * BOUND) * (r - 1)).astype(np.int64), 0, r - 1)
    in_hull = occupancy[idx[:, 0], idx[:, 1], idx[:, 2]]
    return np.where(sdf <= 0, 2, np.where(in_hull, 1, 0))


def summarise(region: np.ndarray, err: np.ndarray, wrong_side: np.ndarray, prefix: str = "") -> dict:
    """Per region: its share of the samples, mean error, share on the wrong side and share of all the error
    (keys prefixed with ``prefix``)."""
    total = err.sum()
    out = {}
    for k, name in enumerate(REGIONS):
        m = region == k
        out[name] = {f"{prefix}samples": float(m.mean()),
                     f"{prefix}mean_error": float(err[m].mean()) if m.any() else None,
                     f"{prefix}wrong_side": float(wrong_side[m].mean()) if m.any() else None,
                     f"{prefix}error_share": float(err[m].sum() / total)}
    return out


@torch.no_grad()
def measure(model, ds, ids, k: int, image_size: int, clamp: float, near: float, samples: int, seed: int = 0) -> dict:
    """Pooled over ``ids``, per region: the summary of every sample and (keys prefixed "near ") of those within
    ``near`` of the surface."""
    vids = random_views(len(ids), k, ds.renders(int(ids[0]))["images"].shape[0], seed=0).numpy()
    rng = np.random.default_rng(seed)
    yfov = float(ds.renders(int(ids[0]))["yfov"])
    rows = {"region": [], "err": [], "wrong": [], "near": []}
    for j, i in enumerate(tqdm(ids, desc=f"errors from {k} views", leave=False)):
        r, s = ds.renders(int(i)), ds.sdf(int(i))
        images, poses = r["images"][vids[j]], r["poses"][vids[j]]
        pick = rng.choice(len(s["points"]), samples, replace=False)
        pts, true = s["points"][pick], s["sdf"][pick]
        maps = model.encode(pixelsdf.views_tensor(torch.as_tensor(images), image_size)[None])
        pred = model(maps, torch.as_tensor(poses).float()[None], torch.as_tensor(pts)[None])[0]
        occ = hull.carve(foreground(images), poses, yfov)
        rows["region"].append(regions(pts, true, occ))
        rows["err"].append(clamped_l1(pred, torch.as_tensor(true), clamp).numpy())  # the training loss, per sample
        rows["wrong"].append((pred.numpy() <= 0) != (true <= 0))
        rows["near"].append(np.abs(true) < near)
    region, err, wrong, is_near = (np.concatenate(v) for v in rows.values())
    near_only = summarise(region[is_near], err[is_near], wrong[is_near], "near ")
    return {name: v | near_only[name] for name, v in summarise(region, err, wrong).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", type=Path, required=True)
    ap.add_argument("--scale", default="full")
    ap.add_argument("--views", default="4")
    ap.add_argument("--samples", type=int, default=20000, help="SDF samples per shape (of the dataset's, at random)")
    ap.add_argument("--near", type=float, default=0.02, help="'near the surface': the F-score's threshold")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = config.resolve(args.scale)
    ds = load_or_build(cfg.data)
    train_ids, test_ids, _ = with_ood(ds, cfg.image2latent.ood_category)
    model, meta = release.load(args.release)
    torch.set_grad_enabled(False)
    out = json.loads(args.out.read_text()) if args.out.exists() else {"variants": {}}
    out |= {"what": " ".join(__doc__.split("\n\n")[0].split()) + f" 'near': within {args.near} of the surface "
            f"(the F-score's threshold); {args.samples:,} samples per shape.", "scale": args.scale,
            "device": device_name(), "commit": git_commit()}
    for k in (int(v) for v in args.views.split(",")):
        for name, ids in (("held-out", test_ids), ("training", spread(train_ids, len(test_ids)))):
            row = f"{args.release.stem}, {name}, {k} views"
            if any(v.startswith(row + ":") for v in out["variants"]):
                continue
            found = measure(model, ds, ids, k, meta["pixel"]["image_size"], cfg.pixel.clamp, args.near, args.samples)
            for region, v in found.items():  # one table row per region (the bench page's table of variants)
                out["variants"][f"{row}: {region}"] = v
                print(f"{row}: {region}", {m: round(x, 3) for m, x in v.items() if x is not None}, flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out))  # one line: the file is read by the bench page, not by hand


if __name__ == "__main__":
    main()
