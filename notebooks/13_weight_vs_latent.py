# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13 · Weight space against latent space: the whole line on the same inputs
#
# One table and one figure for the thesis' central claim. Every model from phase 6 to phase 12 was
# asked the same question — the 32 held-out test shapes, from 4 random views (1 for phases 5–6),
# through the same encoder — and measured the same way: the meshes (F-score@0.02, Chamfer-L1, IoU
# against the true shape), the attractor statistics (how often a prediction lands nearer a training
# target than its own), and the diffusion loss at t = 0 (can the model reproduce a near-clean input?).
# What differs is the target: 54,785 weights (phases 6–9), a 128-dim autoencoder code of them (phase
# 10), or DeepSDF's 64-dim latent (phase 12). This notebook trains nothing: it reads the values the
# other notebooks recorded at this scale.
#
# - **Reads:** `figures/values/{07,08,09,10,11,12}_*.<scale>.json` (run those notebooks first).
# - **Writes:** figures under `figures/<scale>/13_weight_vs_latent/`, the table in `figures/values/13_weight_vs_latent.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from sdfnets import config, figures, paths, thesis

NB = "13_weight_vs_latent"
cfg = config.resolve(SCALE, seed=SEED)
SOURCES = {"07": "07_weight_dit_single_view", "08": "08_weight_dit_multiview", "09": "09_weight_dit_ablations",
           "10": "10_weight_autoencoder", "11": "11_deepsdf", "12": "12_image_to_latent"}
missing = [n for n in SOURCES.values() if not paths.values_path(n, SCALE).exists()]
if missing:
    raise FileNotFoundError(f"run these notebooks at scale {SCALE!r} first: {', '.join(missing)}")
rec = {k: figures.load_values(n, SCALE) for k, n in SOURCES.items()}
v = {k: r["values"] for k, r in rec.items()}
print({k: r["git_commit"] for k, r in rec.items()})

# %% [markdown]
# ## The table

# %%
ae = f"weight MSE, {cfg.autoencoder.diffusion_latent} dims"
fae = f"function (SDF), {cfg.autoencoder.diffusion_latent} dims"
prof = v["08"]["loss_profile"]


def row(target, views, stats, mesh, loss_t0, dims):
    return {"target": target, "dims": dims, "views": views, "loss_t0": loss_t0,
            "cos_target": stats["cos_true_mean"], "cos_nearest_training": stats["top1_cos_mean"],
            "closer_share": stats["closer_share"], "distinct_nearest": stats["distinct_top1"],
            "fscore": mesh["fscore"] if mesh else float("nan"), "chamfer_l1": mesh["chamfer_l1"] if mesh else float("nan"),
            "iou": mesh["iou"] if mesh else float("nan")}


weights = v["07"]["phase6"]["dims"]
table = {
    "phase 6: weight DiT, 1 view": row("weights", 1, v["07"]["phase6"]["residual"], v["07"]["phase6"]["mesh"]["prediction"],
                                       float("nan"), weights),
    "phase 7: weight DiT, K views": row("weights", 4, v["08"]["held-out"]["residual"],
                                        v["08"]["held-out"]["mesh"]["prediction"], prof["weight DiT (phase 7)"][0], weights),
    "phase 8: one global scale": row("weights", 4, v["09"]["phase8"]["residual"], v["09"]["phase8"]["mesh"]["prediction"],
                                     v["09"]["loss_profile"]["phase8"][0], weights),
    "phase 9: no dropout": row("weights", 4, v["09"]["phase9"]["residual"], v["09"]["phase9"]["mesh"]["prediction"],
                               v["09"]["loss_profile"]["phase9"][0], weights),
    "phase 10: DiT on weight-AE codes": row("AE code", 4, v["10"]["latent_diffusion"][ae]["residual"],
                                            v["10"]["latent_diffusion"][ae]["mesh"]["prediction"],
                                            v["10"]["latent_diffusion"][ae]["loss_t0"], cfg.autoencoder.diffusion_latent),
    "beyond: DiT on function-AE codes": row("AE code", 4, v["10"]["latent_diffusion"][fae]["residual"],
                                            v["10"]["latent_diffusion"][fae]["mesh"]["prediction"],
                                            v["10"]["latent_diffusion"][fae]["loss_t0"], cfg.autoencoder.diffusion_latent),
    "phase 12: latent DiT": row("DeepSDF latent", 4, v["08"]["latent_dit_held_out"], v["12"]["test"]["diffusion"],
                                prof["latent DiT (phase 12)"][0], cfg.deepsdf.latent_dim),
}
refs = {"retrieval (nearest views), weight decoders": v["08"]["held-out"]["mesh"]["retrieval"]["fscore"],
        "retrieval (nearest views), DeepSDF": v["12"]["test"]["retrieval"]["fscore"],
        "DeepSDF fitted to the shape's SDF samples": v["11"]["test_reconstruction"]["sdf"]["fscore"]}
cols = ("dims", "views", "loss_t0", "cos_target", "cos_nearest_training", "closer_share", "fscore", "iou")
print(f"{'':36s}" + "".join(f"{c:>12s}" for c in cols))
for name, r in table.items():
    print(f"{name:36s}" + "".join(f"{r[c]:>12.4g}" for c in cols))
print({k: round(x, 3) for k, x in refs.items()})

# %% [markdown]
# Cosines are of the *residuals* from the anchor for weight targets (the shared anchor would put
# every raw cosine near 1, notebook 05) and of the latents for phase 12; a held-out shape's latent
# target is the one DeepSDF fits to its own SDF samples. The phase-12 mesh numbers are notebook 12's
# on the same 32 shapes with the same 4 views.

# %%
names = list(table)
fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
y = np.arange(len(names))
ax[0].barh(y, [table[n]["fscore"] for n in names], color=["C3"] * 4 + ["C1", "C1", "C2"])
for (label, x), ls in zip(refs.items(), ("--", ":", "-.")):
    ax[0].axvline(x, color="k", ls=ls, lw=0.9, label=f"{label}: {x:.2f}")
ax[0].set_yticks(y, names, fontsize=8)
ax[0].invert_yaxis()
ax[0].set(xlabel="F-score@0.02 on held-out shapes", title="what the meshes say")
ax[0].legend(fontsize=7, loc="upper right")
t0 = np.array([np.nan if table[n]["loss_t0"] is None else table[n]["loss_t0"] for n in names], float)
ax[1].scatter(t0, y, c=["C3"] * 4 + ["C1", "C1", "C2"], zorder=3)  # points, not bars: the axis is logarithmic
ax[1].hlines(y, np.nanmin(t0) / 2, t0, color="0.8", lw=0.8)
ax[1].set_xscale("log")
for yi in y[np.isnan(t0)]:
    ax[1].annotate("not recorded for this row", (np.nanmin(t0) / 2, yi), fontsize=7, va="center")
ax[1].axvline(thesis.LOSS_AT_T0, color="k", ls="--", lw=0.9, label=f"thesis, phase 7: {thesis.LOSS_AT_T0}")
ax[1].set_yticks(y, [f"{table[n]['dims']:,} dims" for n in names], fontsize=8)
ax[1].invert_yaxis()
ax[1].set(xlabel="x0-MSE at t = 0 (normalised targets; 1 = predicting the mean)", title="can it reproduce a clean input?")
ax[1].legend(fontsize=7)
fig.tight_layout()
# caption: Phases 6-10 against phase 12 on the same held-out inputs.
figures.save_figure(fig, "summary", notebook=NB, scale=SCALE)

# %% tags=["finding"]
print(thesis.finding("target dimensions, weight DiT / latent DiT", f"{weights:,} / {cfg.deepsdf.latent_dim}",
                     f"{thesis.RELU_PE_PARAMETERS:,} / 64"))
print(thesis.finding("loss at t = 0, phase 7 / phase 12", f"{table['phase 7: weight DiT, K views']['loss_t0']:.3g} / "
                     f"{table['phase 12: latent DiT']['loss_t0']:.2g}", f"{thesis.LOSS_AT_T0} / healthy"))

# %%
values = {"table": table, "references": refs, "sources": {k: r["git_commit"] for k, r in rec.items()}}
figures.record_values(NB, values, scale=SCALE, corpus=rec["12"]["corpus"], num_shapes=rec["12"]["num_shapes"])
values["table"]
