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
# # 03 · Phases 1 / 1.5: per-shape SIRENs, warm starts and permutation alignment
#
# One network per shape, and the question the weight-space line depends on: can we move
# *between* shapes by moving between weight vectors? We fit a SIREN to each of a set of shapes,
# once warm-started from the SIREN anchor (notebook 02) and once from independent random
# initialisations, interpolate the weights of pairs of shapes and mesh the path. Permutation
# alignment (weight matching, as in Git Re-Basin) is the alternative fix for random starts.
# Then the perturbation benchmark: how much relative weight noise each family tolerates before
# its reconstruction collapses — the thesis' reason to choose ReLU+PE for diffusion.
#
# - **Reads:** the dataset of the scale; the anchors of notebook 02 (trained here if missing).
# - **Writes:** runs under `checkpoints/runs/weightspace/`, figures under `figures/<scale>/03_siren_warm_start/`,
#   key numbers in `figures/values/03_siren_warm_start.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np
import torch

from sdfnets import config, figures, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.weightspace import align, analysis, fit
from sdfnets.weightspace.nets import NetSpec, select

NB = "03_siren_warm_start"
cfg = config.resolve(SCALE, seed=SEED)
wc = cfg.weightspace
ds = load_or_build(cfg.data)
anchor_idx = fit.anchor_index(wc, ds)
others = [i for i in range(len(ds)) if i != anchor_idx]
subset = [others[k] for k in np.linspace(0, len(others) - 1, min(wc.siren_shapes, len(others))).astype(int)]
siren, relu = NetSpec.from_config(wc, "siren"), NetSpec.from_config(wc, "relu_pe")
print(f"{ds}\n{len(subset)} shapes: {', '.join(ds.categories[i] for i in subset)}")

# %% [markdown]
# ## Per-shape networks: warm start vs random start
# All networks of a set train at once as one batched model (same steps, same learning rate).

# %%
sets = {
    "SIREN, anchor start": fit.train_weight_set(cfg, ds, subset, "siren", "anchor"),
    "SIREN, random starts": fit.train_weight_set(cfg, ds, subset, "siren", "random"),
    "ReLU+PE, anchor start": fit.train_weight_set(cfg, ds, subset, "relu_pe", "anchor"),
}
for name, ws in sets.items():
    print(f"{name:24s} SDF L1 median {np.median(ws.loss):.5f}, p95 {np.percentile(ws.loss, 95):.5f}")

# %% [markdown]
# ## Interpolating weights between shapes
# For pairs of shapes (A, B) we mesh the network with weights (1 − t)·θ_A + t·θ_B. When both
# networks share a basin this path behaves like blending the two shapes' fields; when they do
# not, the middle of the path is a different function altogether. Two numbers along the path:
# the mean deviation |f_θ(t) − ((1 − t) f_A + t f_B)| on random points of the cube, and at
# t = ½ the IoU between the insides of the weight midpoint and of the field midpoint.

# %%
n_pairs = min(wc.interp_pairs, len(subset) // 2)
ia, ib = list(range(0, 2 * n_pairs, 2)), list(range(1, 2 * n_pairs, 2))
rand = sets["SIREN, random starts"].params
aligned_b = {k: torch.cat([align.align_to(siren, select(rand, a), select(rand, b), seed=SEED)[k]
                           for a, b in zip(ia, ib)]) for k in rand}
variants = {  # (spec, A networks, B networks)
    "SIREN, anchor start": (siren, select(sets["SIREN, anchor start"].params, ia),
                            select(sets["SIREN, anchor start"].params, ib)),
    "SIREN, random starts": (siren, select(rand, ia), select(rand, ib)),
    "SIREN, random + weight matching": (siren, select(rand, ia), aligned_b),
    "ReLU+PE, anchor start": (relu, select(sets["ReLU+PE, anchor start"].params, ia),
                              select(sets["ReLU+PE, anchor start"].params, ib)),
}
ts = np.linspace(0, 1, 9)
gen = torch.Generator().manual_seed(SEED)
probe = torch.rand(16_384, 3, generator=gen) * 2 - 1
deviation = {k: analysis.blend_deviation(s, a, b, ts, probe) for k, (s, a, b) in variants.items()}
mid_iou = {k: analysis.midpoint_iou(s, a, b, wc.grid_resolution) for k, (s, a, b) in variants.items()}
for k in variants:
    print(f"{k:34s} deviation at t=1/2 {deviation[k][len(ts) // 2].mean():.4f}, "
          f"midpoint IoU median {np.median(mid_iou[k]):.3f}")
fig = plots.curves({k: (ts, d.mean(1)) for k, d in deviation.items()},
                   "weight interpolation vs field interpolation", "t", "mean |f(θ_t) − blend of fields|",
                   band={k: (d.min(1), d.max(1)) for k, d in deviation.items()})
# caption: Interpolating weights vs blending fields: warm-started SIRENs stay near the blend, random starts do not, weight matching helps only partly.
figures.save_figure(fig, "interpolation_deviation", notebook=NB, scale=SCALE)

# %%
path_ts = np.linspace(0, 1, 5)
rows = []
for k, (s, a, b) in variants.items():
    a0, b0 = select(a, [0]), select(b, [0])
    rows += render.thumbnails([analysis.meshes(s, analysis.lerp(a0, b0, float(t)), wc.mesh_resolution)[0]
                               for t in path_ts], 128)
titles = [f"{k}\nt = {t:.2f}" if j == 0 else f"t = {t:.2f}" for k in variants for j, t in enumerate(path_ts)]
fig = plots.image_grid(rows, titles, ncols=len(path_ts), size=1.6,
                       suptitle=f"{ds.categories[subset[ia[0]]]} → {ds.categories[subset[ib[0]]]}: meshes along "
                                "the weight path")
# caption: Meshes along the straight weight path between two shapes, for each way the networks were started.
figures.save_figure(fig, "interpolation_paths", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Perturbation tolerance: ReLU+PE vs SIREN
# Each weight tensor gets Gaussian noise with standard deviation σ × (its RMS). Reconstruction
# "collapses" where the median IoU between the clean and the perturbed network's insides falls
# below 0.5 (over shapes and noise draws). Thesis: ReLU+PE tolerates σ ≥ 0.34, SIREN ≤ 0.17.

# %%
sigmas = np.asarray(wc.perturb_sigmas)
tol = {"ReLU+PE": (relu, sets["ReLU+PE, anchor start"].params), "SIREN": (siren, sets["SIREN, anchor start"].params)}
iou = {k: analysis.perturbation_curve(s, p, sigmas, wc.perturb_draws, wc.grid_resolution, seed=SEED)
       for k, (s, p) in tol.items()}
collapse = {k: analysis.collapse_sigma(sigmas, v) for k, v in iou.items()}
print({k: round(v, 3) for k, v in collapse.items()})
fig = plots.curves({k: (sigmas, np.median(v, 1)) for k, v in iou.items()}, "perturbation tolerance",
                   "relative noise σ", "IoU clean vs perturbed (median, IQR band)",
                   band={k: (np.percentile(v, 25, 1), np.percentile(v, 75, 1)) for k, v in iou.items()},
                   hlines={"collapse": 0.5}, vlines={f"thesis SIREN ≤ {thesis.SIREN_COLLAPSE_SIGMA_MAX}": thesis.SIREN_COLLAPSE_SIGMA_MAX,
                           f"thesis ReLU+PE ≥ {thesis.RELU_PE_COLLAPSE_SIGMA_MIN}": thesis.RELU_PE_COLLAPSE_SIGMA_MIN})
# caption: IoU after relative weight noise of size σ: where each family collapses, beside the thesis' bounds.
figures.save_figure(fig, "perturbation_tolerance", notebook=NB, scale=SCALE)

# %% tags=["finding"]
print(thesis.finding("ReLU+PE collapses at relative noise σ", collapse["ReLU+PE"], f"≥ {thesis.RELU_PE_COLLAPSE_SIGMA_MIN}"))
print(thesis.finding("SIREN collapses at relative noise σ", collapse["SIREN"], f"≤ {thesis.SIREN_COLLAPSE_SIGMA_MAX}"))

# %%
show_sigmas = [0.0, thesis.SIREN_COLLAPSE_SIGMA_MAX, thesis.RELU_PE_COLLAPSE_SIGMA_MIN, 0.75]
g = torch.Generator(device=sets["SIREN, anchor start"].weights.device).manual_seed(SEED)
images, titles = [], []
for k, (s, p) in tol.items():
    one = select(p, [0])
    images += render.thumbnails([analysis.meshes(s, analysis.perturb(one, sg, g), wc.mesh_resolution)[0]
                                 for sg in show_sigmas], 128)
    titles += [f"{k}, σ = {sg}" for sg in show_sigmas]
# caption: The same shape under growing weight noise: SIREN breaks first.
figures.save_figure(plots.image_grid(images, titles, ncols=len(show_sigmas), size=1.7), "perturbed_meshes",
                    notebook=NB, scale=SCALE)

# %%
values = {
    "shapes": len(subset),
    "pairs": n_pairs,
    "fit": {k: {"sdf_l1_median": float(np.median(ws.loss)), "sdf_l1_p95": float(np.percentile(ws.loss, 95)),
                "seconds": ws.meta["seconds"]} for k, ws in sets.items()},
    "interpolation": {k: {"deviation_mid": float(deviation[k][len(ts) // 2].mean()),
                          "deviation_max": float(deviation[k].max()),
                          "midpoint_iou_median": float(np.median(mid_iou[k]))} for k in variants},
    "perturbation": {"sigmas": sigmas.tolist(), "collapse_sigma": collapse,
                     "median_iou": {k: np.median(v, 1).tolist() for k, v in iou.items()}},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
