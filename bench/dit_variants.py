"""Does the phase-12 DiT generalise better when trained to interpolate rather than memorise?

With the released DeepSDF decoder and latents and the released encoder's features (at full scale;
at smaller scales, notebooks 11 and 12's runs), DiT variants are trained afresh (fewer steps, a
narrower model, classifier-free guidance) and scored with notebook 16's measure on every held-out
test shape from 4 views and from 1 view at the renders' poses, and on the out-of-distribution
figures from 4 views, beside the pipeline's own DiT. Results go to OUT.json after every variant.

Usage: python bench/dit_variants.py OUT.json [--scale full]   (see bench/notes/dit_variants.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.splits import with_ood
from sdfnets.image2latent import encoders
from sdfnets.image2latent import generalise as gen
from sdfnets.image2latent import train as i2l

VARIANTS = {
    "pipeline's DiT": None,
    "recipe retrained": {},
    "4,000 steps": {"steps": 4000},
    "1,500 steps": {"steps": 1500},
    "width 192, 4,000 steps": {"d_model": 192, "steps": 4000},
    "condition dropout 0.1 + guidance 2, 4,000 steps": {"cond_dropout": 0.1, "guidance": 2.0, "steps": 4000},
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--scale", default="full")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = config.resolve(args.scale, seed=args.seed)
    dc = cfg.image2latent
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, dc.ood_category)
    parts = gen.parts_for(cfg, ds, train_ids)
    feats, cam_poses = encoders.feature_cache(parts.encoder, ds)
    conditions = {"4 views": (test_ids, gen.Condition(4, "known")), "1 view": (test_ids, gen.Condition(1, "known")),
                  "OOD, 4 views": (ood_ids, gen.Condition(4, "known"))}
    inputs = {k: gen.view_inputs(ds, feats, cam_poses, ids, c, seed=args.seed) for k, (ids, c) in conditions.items()}
    rows = {"pipeline": parts.source, "held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids),
            "recipe": {k: getattr(dc, k) for k in ("steps", "d_model", "num_layers", "batch", "lr", "cond_dropout",
                                                   "guidance")}, "variants": {}}
    for name, over in VARIANTS.items():
        t0 = time.perf_counter()
        if over is None:
            model, train_s, loss = parts.model, None, None
        else:
            vcfg = dataclasses.replace(cfg, image2latent=dataclasses.replace(dc, **over))
            model = i2l.train_dit(vcfg, parts.latents, feats[train_ids], cam_poses, encoder=parts.encoder.name,
                                  tag="variant", progress=False)
            train_s, loss = model.seconds, model.history[-1][1]
        row = {"settings": over, "train_seconds": train_s, "loss_ema": loss}
        for k, (ids, _) in conditions.items():
            f, told, _, _ = inputs[k]
            m = gen.measure(parts, gen.sample_latents(model, f, told, seed=args.seed), ds, ids, dc.mesh_resolution)
            row[k] = {q: m[q] for q in ("fscore", "chamfer_l1", "iou", "one_part", "holds_together")}
        row["seconds"] = time.perf_counter() - t0
        rows["variants"][name] = row
        print(f"{name:48s} " + "  ".join(f"{k} F {row[k]['fscore']:.3f}" for k in conditions)
              + f"  OOD holds {row['OOD, 4 views']['holds_together']:.2f}  ({row['seconds']:.0f} s)", flush=True)
        json.dump(rows, open(args.out, "w"), indent=1, default=float)


if __name__ == "__main__":
    main()
