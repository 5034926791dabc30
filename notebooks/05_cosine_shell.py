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
# # 05 · Diagnostic: the warm-start cosine shell
#
# Why every weight-space phase after this one fails, in one figure. The per-shape decoders of
# notebook 04 all started from the same anchor and moved only a little: as vectors in the
# 54,785-dim weight space they point almost the same way (thesis: mean pairwise cosine 0.96,
# "96 % shared anchor"). What distinguishes one shape from another is a thin residual on top of
# a huge shared component: a thin shell around the anchor. A model that predicts weights sees
# targets that are nearly identical, so predicting the mean is already "good", and the per-shape
# signal is a small fraction of the norm. For contrast: the same decoders trained from
# independent random starts.
#
# - **Reads:** the weight datasets of notebook 04 (anchor starts; trained here if missing) and random starts.
# - **Writes:** figures under `figures/<scale>/05_cosine_shell/`, key numbers in `figures/values/05_cosine_shell.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, plots, thesis
from sdfnets.data import load_or_build
from sdfnets.weightspace import analysis, fit

NB = "05_cosine_shell"
cfg = config.resolve(SCALE, seed=SEED)
wc = cfg.weightspace
ds = load_or_build(cfg.data)
ids = list(range(len(ds) if wc.max_shapes is None else min(wc.max_shapes, len(ds))))
sets = {"anchor start": fit.train_weight_set(cfg, ds, ids, "relu_pe", "anchor"),
        "random starts": fit.train_weight_set(cfg, ds, ids, "relu_pe", "random")}
for name, ws in sets.items():
    print(f"{name:14s} {tuple(ws.weights.shape)}, SDF L1 median {np.median(ws.loss):.5f}")

# %% [markdown]
# ## The numbers
# - *pairwise cosine*: between trained weight vectors;
# - *residual cosine*: between the residuals w − w₀ from each network's start;
# - *share along the start*: cos(w, w₀), how much of each vector's direction is its starting point;
# - *residual ratio*: |w − w₀| / |w|;
# - *dims with std < 1e-4*: coordinates that barely vary across the dataset (thesis: 124 of 54,785).

# %%
stats = {k: analysis.shell_stats(ws.weights, ws.init) for k, ws in sets.items()}
table = {k: {"pairwise_cosine": s["pairwise_cosine"], "residual_cosine": s["residual_cosine"],
             "share_along_start": float(s["init_share"].mean()), "residual_ratio": float(s["residual_ratio"].mean()),
             "low_std_dims": s["low_std_dims"],
             "pca_dims_for_90pct": int(np.searchsorted(np.cumsum(s["pca_explained"]), 0.9) + 1)}
         for k, s in stats.items()}
print(f"{'':28s}" + "".join(f"{k:>16s}" for k in table))
for row in table["anchor start"]:
    print(f"{row:28s}" + "".join(f"{table[k][row]:16.4f}" if isinstance(table[k][row], float)
                                 else f"{table[k][row]:16d}" for k in table))

# %% tags=["finding"]
shell = table["anchor start"]
print(thesis.finding("mean pairwise cosine of the weight vectors", shell["pairwise_cosine"], thesis.PAIRWISE_COSINE,
                     f"random starts: {table['random starts']['pairwise_cosine']:.2f}"))
print(thesis.finding("dimensions with std < 1e-4", shell["low_std_dims"], thesis.LOW_STD_DIMS))
print(thesis.finding("share along the anchor, cos(w, anchor)", shell["share_along_start"], thesis.ANCHOR_SHARE))

# %% [markdown]
# ## The figure
# Top left: anchor-started networks are nearly parallel; random starts are orthogonal. Top right:
# each network as (component along its start, distance across it): the anchor-started ones sit in
# a tight cluster far out along one direction — the shell. Bottom: how many directions the
# dataset actually spans, and how many coordinates hardly vary.

# %%
fig = plots.cosine_shell(stats)
# caption: The warm-start shell: pairwise cosines, share along the anchor, PCA spectrum and per-dimension spread, against random starts.
figures.save_figure(fig, "cosine_shell", notebook=NB, scale=SCALE)

# %%
values = {"networks": len(ids), "parameters": int(sets["anchor start"].weights.shape[1]), **table}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
