"""Does a different view encoder make image -> mesh generalise to unseen objects?

The released encoder is trained contrastively (two views of one training shape are a positive pair):
it learns to tell the 586 training shapes apart, which is what retrieval needs. Here encoders are
trained afresh on the same renders of the train split with other objectives, and each is scored with
notebook 16's measure (``generalise.measure``) on every held-out test shape from 4 views and from 1
view at the renders' poses, and on the out-of-distribution figures from 4 views:

- the DiT (phase 12's recipe, 4,000 steps) trained on the variant's features;
- feature retrieval with the variant's features (how much of the shape the features carry);
- for encoders with a latent head, that head's prediction averaged over the views (direct regression,
  no diffusion).

Variants: the release's encoder (its features, a DiT retrained like the others); the contrastive
recipe wider and longer; an encoder regressing each view onto its shape's standardised DeepSDF latent
(the shape space the decoder reads, rather than shape identity); contrastive + latent regression.
Results go to OUT.json after every variant; a rerun skips the variants already in OUT.json.

Usage: python bench/encoder_variants.py OUT.json [--scale full] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from sdfnets import config, metrics
from sdfnets.field import clamped_l1
from sdfnets.data import load_or_build
from sdfnets.data.bank import SDFBank
from sdfnets.data.splits import with_ood
from sdfnets.image2latent import encoders
from sdfnets.image2latent import generalise as gen
from sdfnets.image2latent import train as i2l

# name -> (objective, width, steps); None: the release's encoder
VARIANTS = {
    "release encoder (contrastive, width 32, 1,500 steps)": None,
    "latent regression, width 32, 3,000 steps": ("latent", 32, 3000),
    "contrastive + latent regression, width 32, 3,000 steps": ("both", 32, 3000),
    "contrastive, width 48, 3,000 steps": ("contrastive", 48, 3000),
    "latent regression, width 48, 6,000 steps": ("latent", 48, 6000),
    "function space (SDF through the frozen decoder), width 32, 3,000 steps": ("sdf", 32, 3000),
    "function space + latent regression, width 32, 3,000 steps": ("sdf+latent", 32, 3000),
}
SDF_POINTS = 2048  # SDF samples per view and step, drawn from each training shape's samples
DIT_STEPS = 4000


def fit_encoder(objective: str, width: int, steps: int, bank: torch.Tensor, z_std: torch.Tensor, ec, seed: int = 0,
                sdf_loss=None):
    """A ViewNet trained on ``bank`` [N, V, S, S, 3] (uint8, on the GPU) with ``objective``:
    ``contrastive`` (the library's recipe), ``latent`` (MSE of a linear head to the shape's standardised
    latent ``z_std`` [N, D], each view on its own), ``both`` (their sum), ``sdf`` (the head's latent judged
    by what the frozen decoder makes of it: ``sdf_loss(z_std_pred, shapes)``, a clamped L1 against the
    shape's SDF samples) or ``sdf+latent``. -> (net, head or None, losses)."""
    dev = bank.device
    torch.manual_seed(seed)
    net = encoders.ViewNet(width, ec.dim, ec.image_size).to(dev)
    proj = nn.Sequential(nn.Linear(ec.dim, ec.dim), nn.ReLU(), nn.Linear(ec.dim, 128)).to(dev)
    head = nn.Linear(ec.dim, z_std.shape[1]).to(dev)
    contrastive = objective in ("contrastive", "both")
    params = [*net.parameters(), *(proj.parameters() if contrastive else []),
              *(head.parameters() if objective != "contrastive" else [])]
    opt = torch.optim.AdamW(params, lr=ec.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, ec.lr, total_steps=steps, pct_start=0.05)
    b = min(ec.batch, bank.shape[0])
    g = torch.Generator(device=dev).manual_seed(seed)
    losses = []
    for step in tqdm(range(steps), desc=f"encoder ({objective}, width {width})", unit="step", mininterval=10):
        shapes, x = encoders.view_pairs(bank, b, ec.image_size, g)  # the library's batches
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            h = net(x)
            loss = torch.zeros((), device=dev)
            if contrastive:
                p = proj(h).float()
                loss = loss + encoders.info_nce(p[:b], p[b:], ec.temperature)
            if objective in ("latent", "both", "sdf+latent"):
                loss = loss + F.mse_loss(head(h).float(), z_std[shapes].repeat(2, 1))
            if objective.startswith("sdf"):
                loss = loss + sdf_loss(head(h).float(), shapes.repeat(2))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            losses.append((step, float(loss.detach())))
    return net.eval(), (head.eval() if objective != "contrastive" else None), losses


def sdf_judge(decoder, dataset, train_ids, mean, std, clamp: float, seed: int = 0):
    """``loss(z_std_pred [B, D], shapes [B])``: phase 11's clamped L1 between the frozen decoder's SDF at
    the predicted latent and the true SDF, at ``SDF_POINTS`` samples of each shape drawn afresh each call
    from its samples in an :class:`~sdfnets.data.bank.SDFBank` (rows of ``shapes`` index ``train_ids``)."""
    bank = SDFBank.from_dataset(dataset, [int(i) for i in train_ids], device=decoder.device)
    for p in decoder.parameters():
        p.requires_grad_(False)
    g = torch.Generator(device=decoder.device).manual_seed(seed)

    def loss(z_std_pred, shapes):
        cols = torch.randint(0, bank.data.shape[1], (len(shapes), SDF_POINTS), device=decoder.device, generator=g)
        x, y = bank.gather(shapes, cols)
        return clamped_l1(decoder((z_std_pred * std + mean)[:, None, :], x).float(), y, clamp).mean()
    return loss


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--scale", default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated prefixes of variant names")
    args = ap.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    # --seed draws the trainings and the evaluated views; the data stays the scale's (seed 0: the pack's)
    cfg = dataclasses.replace(config.resolve(args.scale), seed=args.seed)
    dc, ec = cfg.image2latent, cfg.encoder
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, dc.ood_category)
    parts = gen.parts_for(cfg, ds, train_ids)
    dcfg = dataclasses.replace(cfg, image2latent=dataclasses.replace(dc, steps=DIT_STEPS if args.scale == "full"
                                                                     else dc.steps))
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else {
        "pipeline": parts.source, "held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids),
        "dit_steps": dcfg.image2latent.steps, "variants": {}}
    conditions = {"4 views": (test_ids, gen.Condition(4, "known")), "1 view": (test_ids, gen.Condition(1, "known")),
                  "OOD, 4 views": (ood_ids, gen.Condition(4, "known"))}
    z = parts.latents.float()
    mean, std = z.mean(0), z.std(0)
    bank = None
    for name, spec in VARIANTS.items():
        if name in rows["variants"] or (args.only and not any(name.startswith(p) for p in args.only.split(","))):
            continue
        t0 = time.perf_counter()
        row = {"settings": spec}
        head = None
        if spec is None:
            enc = parts.encoder
        else:
            if bank is None:
                bank = encoders.render_bank(ds, range(len(ds)), ec.image_size)
            objective, width, steps = spec
            if args.scale != "full":  # the smaller scales' encoders are smaller
                width, steps = ec.width, max(20, steps * ec.steps // 1500)
            judge = (sdf_judge(parts.decoder, ds, train_ids, mean.to(bank.device), std.to(bank.device),
                               cfg.deepsdf.clamp, args.seed) if objective.startswith("sdf") else None)
            net, head, losses = fit_encoder(objective, width, steps, bank[train_ids],
                                            ((z - mean) / std).to(bank.device), ec, args.seed, judge)
            row.update(encoder_seconds=time.perf_counter() - t0, encoder_loss=losses[-1][1])
            enc = encoders.ViewNetEncoder(net, hashlib.sha256(f"{name}-{args.seed}".encode()).hexdigest()[:10])
        feats, cam_poses = encoders.feature_cache(enc, ds, bank=bank if spec is not None else None)
        model = i2l.train_dit(dcfg, parts.latents, feats[train_ids], cam_poses, encoder="viewnet",
                              tag=f"encoder-variant-{enc.key}", progress=False)
        row.update(dit_seconds=model.seconds, dit_loss=model.history[-1][1])
        for k, (ids, c) in conditions.items():
            f, told, _, vids = gen.view_inputs(ds, feats, cam_poses, ids, c, seed=args.seed)
            found = {"diffusion": gen.sample_latents(model, f, told, seed=args.seed),
                     "retrieval": parts.latents.cpu()[metrics.retrieve(feats, ids, vids, train_ids)]}
            if head is not None:
                with torch.no_grad():
                    found["regression"] = (head(f.to(mean.device).float()).mean(1) * std + mean).cpu()
            row[k] = {}
            for method, zz in found.items():
                m = gen.measure(parts, zz, ds, ids, dc.mesh_resolution)
                row[k][method] = {q: m[q] for q in ("fscore", "chamfer_l1", "iou", "one_part", "holds_together")}
        row["seconds"] = time.perf_counter() - t0
        rows["variants"][name] = row
        print(f"{name}: " + "; ".join(f"{k} " + ", ".join(f"{m} F {v['fscore']:.3f}" for m, v in row[k].items())
                                      for k in conditions) + f" ({row['seconds']:.0f} s)", flush=True)
        out.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
