"""Why phase 11's latents are near-orthogonal here (mean pairwise cosine near 0 at full) where the write-up's
have 0.12: the full preset keeps the write-up's latent initialisation (N(0, 0.01²)), regulariser (1e-5) and
learning rates (5e-4 decoder, 1e-3 latents) but draws 32 shapes per step with a cosine-decayed learning rate;
the write-up drew 4 at a constant one. Each variant is phase 11 on the training shapes with one of those two
changed back (same epochs, seed and data), measured by the latents' mean pairwise cosine, how much of their
mean square norm is a shared offset (|mean z|² / mean |z|²: a mean pairwise cosine near c means about c of
it), their RMS norm and the per-shape SDF L1. Runs resume and finished variants are skipped, so a stopped job
goes on where it was. Writes ``--out`` after each variant.

    python bench/latent_cosine.py --scale full --out bench/results/latent_cosine-gpu.json

A smaller version on a CPU: the cpu scale's procedural shapes and decoder with the full preset's recipe as the
base (``--deepsdf`` applies to every variant; each variant then changes its setting back):

    python bench/latent_cosine.py --scale cpu --deepsdf '{"shapes_per_step": 32, "lr_schedule": "cosine"}' \
        --out bench/results/latent_cosine-cpu.json

The same at the full shape count (the corpus' 586 training shapes, so a shape comes back as rarely between its steps
as at full: about every 146 steps at 4 shapes per step) with a small decoder and fewer epochs, on a CPU:

    python bench/latent_cosine.py --scale full --deepsdf '{"recipe": "thesis", "hidden": 128, "num_layers": 8, \
        "points_per_shape": 1024, "epochs": 200, "compile": false, "checkpoint_every": 2000}' \
        --out bench/results/latent_cosine-corpus-cpu.json

With ``--milestones`` a variant's latents are measured along its training as well (it stops at each step count
and resumes), which tells whether the cosine grows with the length of training: the write-up's 1,500 epochs at 4
shapes per step are about 220,000 steps on the training shapes, e.g.

    python bench/latent_cosine.py --scale full --variants "write-up's batch and constant rate" \
        --deepsdf '{"recipe": "thesis", "hidden": 128, "num_layers": 8, "points_per_shape": 1024, "epochs": 1500, \
        "compile": false, "checkpoint_every": 5000}' --milestones 5000,10000,20000,40000,80000,120000,160000 \
        --out bench/results/latent_cosine-steps-cpu.json

``--all-shapes`` trains on every shape of the corpus, its test and out-of-distribution shapes included, instead of
the training split: the write-up fitted all of its 976 shapes.

    python bench/latent_cosine.py --scale full --all-shapes --variants "write-up's batch and constant rate" \
        --deepsdf '{"recipe": "thesis", "hidden": 128, "num_layers": 8, "points_per_shape": 1024, "epochs": 200, \
        "compile": false, "checkpoint_every": 2000}' --out bench/results/latent_cosine-all-shapes-cpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sdfnets import config
from sdfnets.data import load_or_build
from sdfnets.data.bank import SDFBank
from sdfnets.data.splits import with_ood
from sdfnets.deepsdf import evaluate as ev
from sdfnets.deepsdf.train import steps_for, train
from sdfnets.metrics import pairwise_cosine
from sdfnets.repro.provenance import device_name, git_commit

# name -> deepsdf overrides on the scale's preset; in the order they run
VARIANTS = {
    "preset": {},
    "write-up's batch (4 shapes per step)": {"shapes_per_step": 4},
    "constant learning rate": {"lr_schedule": "constant"},
    "write-up's batch and constant rate": {"shapes_per_step": 4, "lr_schedule": "constant"},
}


def latent_statistics(z: torch.Tensor) -> dict:
    """The latents' mean pairwise cosine, the share of their mean square norm in their mean and their RMS norm."""
    z = z.double().cpu()
    sq = (z ** 2).sum(1).mean()
    return {"pairwise_cosine": float(pairwise_cosine(z).mean()), "offset_share": float((z.mean(0) ** 2).sum() / sq),
            "rms_norm": float(sq.sqrt())}


def distinct_variants(scale: str, names: list[str], base: dict | None = None) -> dict:
    """name -> config of each variant that is a run of its own at ``scale`` with the deepsdf overrides ``base``
    (where the base already is the write-up's recipe, the variants are one run, which runs once under the first
    name)."""
    out, seen = {}, {}
    for name in names:
        cfg = config.resolve(scale, deepsdf=(base or {}) | VARIANTS[name])
        if cfg.deepsdf in seen:
            print(f"{name}: the same run as {seen[cfg.deepsdf]!r} at this scale; skipped", flush=True)
            continue
        seen[cfg.deepsdf] = name
        out[name] = cfg
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="full")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--max-steps", type=int, default=None, help="stop each unfinished run there (it resumes)")
    ap.add_argument("--deepsdf", type=json.loads, default={},
                    help='overrides of the deepsdf section under every variant, e.g. \'{"epochs": 400}\'')
    ap.add_argument("--all-shapes", action="store_true",
                    help="train on every shape of the corpus, test and OOD shapes too (as the write-up did)")
    ap.add_argument("--milestones", default="", help="comma-separated step counts at which to measure the latents too")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}; choose from {list(VARIANTS)}")
    out = json.loads(args.out.read_text()) if args.out.exists() else {"variants": {}}
    if out["variants"] and (out.get("scale"), out.get("deepsdf", {}), out.get("all_shapes", False)) != (
            args.scale, args.deepsdf, args.all_shapes):
        raise SystemExit(f"{args.out} holds runs at scale {out.get('scale')!r} with deepsdf {out.get('deepsdf', {})} "
                         f"(all shapes: {out.get('all_shapes', False)}); write another --out")
    base = config.resolve(args.scale, deepsdf=args.deepsdf)
    ds = load_or_build(base.data)
    train_ids, _, _ = with_ood(ds, base.image2latent.ood_category)
    if args.all_shapes:
        train_ids = list(range(len(ds)))
    out |= {"what": " ".join(__doc__.split("\n\n")[0].split()), "scale": args.scale, "deepsdf": args.deepsdf,
            "all_shapes": args.all_shapes, "shapes": len(train_ids), "epochs": base.deepsdf.epochs,
            "device": device_name(), "commit": git_commit()}
    milestones = sorted(int(m) for m in args.milestones.split(",") if m)
    bank = None
    for name, cfg in distinct_variants(args.scale, names, args.deepsdf).items():
        if name in out["variants"]:
            continue
        t0 = time.perf_counter()
        along = out.setdefault("trajectories", {}).setdefault(name, {}) if milestones else {}
        for m in milestones:
            if str(m) in along or (args.max_steps is not None and m > args.max_steps):
                continue
            run = train(cfg, ds, train_ids, max_steps=m, progress=False)
            along[str(m)] = {"epochs": run.steps * cfg.deepsdf.shapes_per_step / len(train_ids),
                             "train_seconds": round(run.seconds, 1), **latent_statistics(run.latents)}
            print(name, run.steps, along[str(m)], flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1) + "\n")
        run = train(cfg, ds, train_ids, max_steps=args.max_steps)
        total = steps_for(cfg.deepsdf, len(train_ids))[1]
        if run.steps < total:
            print(f"{name}: {run.steps:,} of {total:,} steps; run again to go on", flush=True)
            continue
        if bank is None:
            bank = SDFBank.from_dataset(ds, train_ids)
        l1 = ev.per_shape_sdf_l1(run.decoder, run.latents, bank)
        dc = cfg.deepsdf
        out["variants"][name] = {
            "shapes_per_step": dc.shapes_per_step, "lr_schedule": dc.lr_schedule, "steps": run.steps,
            "train_seconds": round(run.seconds, 1), "wall_seconds_this_job": round(time.perf_counter() - t0, 1),
            **latent_statistics(run.latents), "sdf_l1_mean": float(l1.mean()), "sdf_l1_max": float(l1.max())}
        print(name, out["variants"][name], flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        del run
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
