"""Phase 1 on the full corpus: per-shape loss (median / 95th percentile over all shapes) against
learning rate and step count, to choose the full preset. Needs the full dataset built
(``scripts/gpu_job.sh``). Writes ``bench/notes/weightspace_steps-<cpu|gpu>.json``.

    python bench/weightspace_steps.py [--budget-s 300]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from sdfnets import config, paths
from sdfnets.data import load_or_build
from sdfnets.data.bank import SDFBank
from sdfnets.repro.provenance import device_name
from sdfnets.weightspace import fit
from sdfnets.weightspace.nets import NetSpec, repeat

VARIANTS = [(1e-3, 2000), (5e-4, 2000), (2e-3, 2000), (1e-3, 4000), (2e-3, 1000)]  # (lr, steps), by priority


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=300.0)
    args = ap.parse_args()
    cfg = config.resolve("full")
    wc = cfg.weightspace
    ds = load_or_build(cfg.data)
    t0 = time.perf_counter()
    anchor = fit.train_anchor(cfg, ds, "relu_pe")
    siren_anchor = fit.train_anchor(cfg, ds, "siren")
    out = {"device": device_name(), "shapes": len(ds), "points_per_shape": wc.points_per_shape,
           "anchor": {"relu_pe": float(anchor.loss[0]), "siren": float(siren_anchor.loss[0]),
                      "seconds": time.perf_counter() - t0}, "runs": []}
    spec = NetSpec.from_config(wc)
    bank = SDFBank.from_dataset(ds)
    for lr, steps in VARIANTS:
        if time.perf_counter() - t0 > args.budget_s:
            break
        params, _, seconds = fit.fit(spec, repeat(anchor.params, len(ds)), bank, lr=lr, steps=steps,
                                     points_per_shape=wc.points_per_shape, desc=f"lr {lr:g}, {steps} steps")
        loss = fit.per_shape_loss(spec, params, bank)
        out["runs"].append({"lr": lr, "steps": steps, "seconds": seconds, "median": float(np.median(loss)),
                            "p95": float(np.percentile(loss, 95)), "max": float(loss.max())})
        print(out["runs"][-1], flush=True)
        del params
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    kind = "gpu" if torch.cuda.is_available() else "cpu"
    path = paths.BENCH_DIR / "notes" / f"weightspace_steps-{kind}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
