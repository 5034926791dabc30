"""Can the views' depth be read from their shading? A depth estimator trained on its own, then the network told
the depth (``bench/pixel_variants.py --variant depth-given``) given the estimator's depth instead of the true one.

The renders are untextured and lit from the camera, so a pixel's brightness says how much its surface faces the
camera; with the silhouette that fixes the depth map up to what shading cannot tell. The depth-aware variants learn
depth only as a side task of the SDF network's small per-view CNN (held-out depth L1 0.27-0.31 against 0.18 for
each view's own mean depth). Here a U-Net with full-resolution output (skips at every size, context down to 1/16
of the view) is trained for depth alone on the training shapes' views (L1 where the view sees the shape, the
views' photo-like augmentation of the pixel-aligned training), measured on the held-out shapes' views, and its
depth given to a trained depth-given network on notebook 16's held-out and OOD shapes and views:

    python bench/depth_from_views.py --scale full --train-shapes 200 --pixel '{...}' \
        --out bench/results/depth_from_views-cpu.json

The estimator's run resumes (``--max-steps`` splits it); rows already in ``--out`` are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.splits import random_views, with_ood
from sdfnets.devices import default_device, device_name
from sdfnets.multiview import augment, pixeltrain
from sdfnets.multiview.pixelsdf import views_tensor
from sdfnets.repro.provenance import git_commit
from sdfnets.train import loop

sys.path.insert(0, str(Path(__file__).parent))
import pixel_variants  # noqa: E402
from pixel_variants import NO_DEPTH  # noqa: E402
from views_at_scale import spread, write_row  # noqa: E402


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU())


class DepthUNet(nn.Module):
    """RGB and silhouette [B, 4, S, S] -> depth [B, 1, S, S] (the camera's distance minus the object centre's):
    a U-Net (Ronneberger et al., 2015) of ``levels`` halvings, ``width`` channels at full size, doubling per level."""

    def __init__(self, width: int = 24, levels: int = 4):
        super().__init__()
        chans = [width * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList([_block(4, chans[0])] + [_block(a, b) for a, b in zip(chans, chans[1:])])
        self.up = nn.ModuleList([_block(b + a, a) for a, b in zip(chans[:-1], chans[1:])])
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        skips, x = [], views
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(reversed(self.up), reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear"), skip], 1))
        return self.head(x)


def seen_l1(pred: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """Mean L1 where the view sees the shape (``depth`` > :data:`NO_DEPTH` / 2)."""
    return pixel_variants.masked_l1(pred, depth, (depth > NO_DEPTH / 2).float())


def predicted_depth(model: DepthUNet, views: torch.Tensor) -> torch.Tensor:
    """Views [K, 4, S, S] -> depth maps [K, 1, S, S] as the depth-given network takes them: the estimate inside
    the silhouette, :data:`NO_DEPTH` outside."""
    with torch.no_grad():
        pred = model(views)
    return torch.where(views[:, 3:] > 0.5, pred, torch.full_like(pred, NO_DEPTH))


class DepthTrainer:
    """The estimator's steps for :func:`sdfnets.train.loop.load_or_train`: each step ``batch`` random views of the
    training shapes (kept in memory at the estimator's size with their rendered depth), photo-like with
    probability ``augment`` (the pixel-aligned training's augmentation), L1 where the view sees the shape."""

    def __init__(self, dataset, ids, device, *, size: int, width: int, steps: int, batch: int, lr: float,
                 augment: float, seed: int):
        self.device, self.batch, self.augment = torch.device(device), batch, augment
        self.views = torch.stack([views_tensor(torch.as_tensor(dataset.renders(int(i))["images"]), size) for i in ids])
        self.depth = pixel_variants.rendered_depth(dataset, ids, size)
        torch.manual_seed(seed)
        self.model = DepthUNet(width).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.step, self.total = 0, steps
        self._loss, self._count = 0.0, 0

    def run(self, n: int) -> None:
        self.model.train()
        for _ in range(n):
            s = torch.randint(len(self.views), (self.batch,), generator=self.gen)
            v = torch.randint(self.views.shape[1], (self.batch,), generator=self.gen)
            views, depth = self.views[s, v], self.depth[s, v]
            if self.augment:
                views = augment.photo_like(views[:, None], self.gen, self.augment)[:, 0]
            loss = seen_l1(self.model(views.to(self.device)), depth.to(self.device))
            loop.update(self.opt, loss)
            self._loss += float(loss.detach())
            self._count += 1
            self.step += 1

    def loss(self) -> float:
        value, self._loss, self._count = self._loss / max(self._count, 1), 0.0, 0
        return value

    # the checkpoint protocol of the pixel-aligned trainer: the same model, optimiser, step and generator
    state = pixeltrain.Trainer.state
    load_state = pixeltrain.Trainer.load_state


def train(cfg, dataset, ids, *, max_steps: int | None = None, **settings):
    """Train (resuming) or load the estimator: a run folder of the project's training loop keyed by the shapes,
    the corpus, the seed and ``settings`` (size, width, steps, batch, lr, augment)."""
    device = default_device()
    body = {"ids": [int(i) for i in ids], "data": loop.data_name(dataset), "seed": cfg.seed, **settings}
    r = loop.load_or_train(lambda: DepthTrainer(dataset, ids, device, seed=cfg.seed, **settings),
                           loop.run_dir("depth", "depth-unet", body), desc="depth estimator",
                           checkpoint_every=max(100, settings["steps"] // 10),
                           log_every=max(1, min(100, settings["steps"] // 20)), max_steps=max_steps, device=device,
                           extra={"settings": body})
    model = DepthUNet(settings["width"]).to(device)
    model.load_state_dict(r.state["model"])
    return model.eval(), r


def depth_errors(model: DepthUNet, dataset, ids, size: int, views: int = 16) -> dict:
    """The estimator's held-out depth L1 over the first ``views`` views of each shape, beside the object centre's
    depth (what reading nothing gives) and each view's own mean depth (a constant told the answer's mean)."""
    err, centre, mean = [], [], []
    for i, depth in zip(ids, pixel_variants.rendered_depth(dataset, ids, size)):
        v = views_tensor(torch.as_tensor(dataset.renders(int(i))["images"][:views]), size)
        d = depth[:views]
        # scored where the rendered depth sees the shape, on the estimate as trained (the silhouette's edge at
        # this size is not the depth's)
        seen = (d > NO_DEPTH / 2).float()
        with torch.no_grad():
            err.append(float(pixel_variants.masked_l1(model(v), d, seen)))
        c, m = pixel_variants.constant_errors(d, seen)
        centre.append(c)
        mean.append(m)
    return {"depth_l1": float(np.mean(err)), "centre_depth_l1": float(np.mean(centre)),
            "view_mean_depth_l1": float(np.mean(mean))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="full")
    ap.add_argument("--pixel", type=json.loads, default={}, help="the depth-given network's pixel section overrides")
    ap.add_argument("--train-shapes", type=int, default=None, help="the depth-given network's training shapes "
                    "(N evenly spread, as bench/views_at_scale.py --train-shapes)")
    ap.add_argument("--estimator-shapes", type=int, default=None,
                    help="train the estimator on N evenly spread training shapes (default: the network's)")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--augment", type=float, default=0.5)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--label", default="depth U-Net", help="the rows' name (one per estimator)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = config.resolve(args.scale, pixel=args.pixel)
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, cfg.image2latent.ood_category)
    all_train, train_ids = train_ids, spread(train_ids, args.train_shapes)
    out = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
    out.setdefault("what", " ".join(__doc__.split("\n\n")[0].split()))
    out |= {"scale": args.scale, "commit": git_commit(), "device": device_name(), "resolution": args.resolution,
            "held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids), "train_shapes": len(train_ids)}
    t0 = time.perf_counter()
    if args.size != cfg.pixel.image_size:
        raise SystemExit(f"--size {args.size}: the depth-given network reads views of {cfg.pixel.image_size} px")
    estimator_ids = spread(all_train, args.estimator_shapes) if args.estimator_shapes else train_ids
    model, run = train(cfg, ds, estimator_ids, max_steps=args.max_steps, size=args.size, width=args.width,
                       steps=args.steps, batch=args.batch, lr=args.lr, augment=args.augment)
    out.setdefault("estimators", {})[args.label] = {
        "size": args.size, "width": args.width, "steps": run.steps, "of": args.steps, "batch": args.batch,
        "shapes": len(estimator_ids), "lr": args.lr, "augment": args.augment, "seconds": round(run.seconds, 1),
        "final_loss": run.history[-1][1] if run.history else None}
    print("depth estimator:", out["estimators"][args.label], f"({time.perf_counter() - t0:.0f} s this job)", flush=True)
    if not run.finished:
        args.out.write_text(json.dumps(out, indent=1))
        return
    out["estimators"][args.label] |= {k: round(v, 4) for k, v in depth_errors(model, ds, test_ids, args.size).items()}
    print("held-out depth:", out["estimators"][args.label], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))

    given, given_run = pixel_variants.train(cfg, ds, train_ids, "depth-given", max_steps=0)
    if not given_run.finished:
        raise SystemExit("train the depth-given network with the same --pixel and --train-shapes first: "
                         "bench/views_at_scale.py --variant depth-given")
    for name, ids, ks in (("held-out", test_ids, [4, 1]), ("ood", ood_ids, [4])):
        for k in ks:
            row = f"{args.label}, {name}, {k} views"
            if row in out["rows"]:
                continue
            vids = random_views(len(ids), k, cfg.data.num_views, seed=0).numpy()
            renders = [ds.renders(int(i)) for i in ids]
            images = np.stack([r["images"][v] for r, v in zip(renders, vids)])
            poses = np.stack([r["poses"][v] for r, v in zip(renders, vids)])
            t1 = time.perf_counter()
            found = pixel_variants.measure_with_depth(
                given, ds, ids, images, poses, vids, cfg.pixel.image_size, args.resolution,
                cfg.pixel.smooth, cfg.pixel.min_part,
                depth_of=lambda j, i: predicted_depth(model, views_tensor(torch.as_tensor(images[j]), args.size)))
            write_row(out, args.out, row, found, t1)


if __name__ == "__main__":
    main()
