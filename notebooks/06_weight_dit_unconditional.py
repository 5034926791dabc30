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
# # 06 · Phase 2: an unconditional weight-space DiT
#
# The first test of the starting hypothesis: if a shape *is* the weights of its ReLU+PE decoder, a
# diffusion model over the phase-1 weight vectors should generate new shapes. We train the weight
# DiT of phases 6–7 (the standardised 54,785-dim vector cut into 8 tokens that attend to each other)
# with no image at all, sample new vectors, decode them through the decoder architecture and mesh
# them. The write-up calls phase 2 "partial"; here we measure what that means: do samples decode
# to shapes, are they new or copies of training shapes, and how do they cover the held-out set
# (MMD / COV / 1-NNA with Chamfer distance, PointFlow's definitions)?
#
# - **Reads:** the dataset of the scale; the phase-1 weight dataset of notebook 04 (trained here if missing).
# - **Writes:** the run under `checkpoints/runs/weightdit/`, figures under
#   `figures/<scale>/06_weight_dit_unconditional/`, key numbers in `figures/values/06_weight_dit_unconditional.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.data import render
from sdfnets.layers import count_parameters
from sdfnets.weightspace import collapse, generate

NB = "06_weight_dit_unconditional"
cfg = config.weight_phase(config.resolve(SCALE, seed=SEED), "phase2")
wd = cfg.weightdiff
inp = inputs.phase_inputs(cfg, weights=True)  # the shared splits; notebook 04's weight dataset (row i = shape i)
ds, train_ids, test_ids, ws = inp.dataset, inp.train_ids, inp.test_ids, inp.weights
print(f"{ds}\ntrain {len(train_ids)}, held out {len(test_ids)}; weight vectors {tuple(ws.weights.shape)}")

# %% [markdown]
# ## Training
# Targets: the training shapes' weight vectors, standardised per dimension (z = (w − mean) / std over
# the training set). x0-prediction with the cosine schedule (T = 500); the curve is the loss' moving
# average in standardised units (predicting the mean vector scores 1.0).

# %%
gen = generate.train_weight_dit(cfg, ws, train_ids, tag="phase2")
params = count_parameters(gen.dit)
print(f"weight DiT: {params:,} parameters, {wd.tokens} tokens of {gen.dit.chunk:,} entries, "
      f"trained {len(gen.history) and gen.history[-1][0]} steps in {gen.seconds:.0f} s")
# caption: The unconditional weight DiT's training loss.
figures.save_figure(plots.curves({"phase 2 (unconditional)": tuple(np.asarray(gen.history).T)},
                                 "unconditional weight DiT training", "step", "loss EMA (standardised)", logy=True,
                                 hlines={"predict the mean vector": 1.0}),
                    "training_curve", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Samples in weight space
# Each sample against the training set: its cosine to the nearest training vector, raw and as a
# residual from the anchor every network started at (the raw cosine is inflated by the shared
# anchor, notebook 05), and its norm beside the training vectors' norms.

# %%
samples = gen.sample(num=wd.samples, seed=SEED).cpu()
anchor = ws.init[0].cpu()
bank = ws.weights[train_ids].cpu()
near = metrics.nearest_rows(samples, bank)
cos_raw = metrics.cosine_matrix(samples, bank).max(1).values.numpy()
cos_res = metrics.cosine_matrix(samples - anchor, bank - anchor).max(1).values.numpy()
train_res_nn = metrics.cosine_matrix(bank - anchor, bank - anchor).fill_diagonal_(-1).max(1).values.numpy()
weight_space = {"nearest_train_cosine_mean": float(cos_raw.mean()),
                "nearest_train_residual_cosine_mean": float(cos_res.mean()),
                "train_nearest_residual_cosine_mean": float(train_res_nn.mean()),
                "sample_norm_mean": float(samples.norm(dim=1).mean()), "train_norm_mean": float(bank.norm(dim=1).mean()),
                "distinct_nearest": len(set(near.tolist()))}
print(weight_space)
fig = plots.histograms({"sample → nearest training (residual)": cos_res,
                        "training → nearest other training (residual)": train_res_nn},
                       "how close samples sit to the training set", "cosine of residuals from the anchor", bins=30)
# caption: How close samples sit to the training set: cosine of residuals to the nearest training network, beside training-to-training.
figures.save_figure(fig, "nearest_training_cosine", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Samples as shapes
# Every sample decoded through the ReLU+PE architecture and meshed (marching cubes); beside it the
# training shape nearest by Chamfer distance. Then the set against the held-out shapes (2,048
# surface points per shape in the corpus' unit-sphere frame, no per-cloud renormalisation; a sample
# whose field has no surface counts as a cloud at the origin) and the memorisation check.

# %%
sample_meshes = collapse.decode(gen.spec, samples, wd.mesh_resolution)
empty = sum(m is None or len(m.faces) == 0 for m in sample_meshes)
clouds = {"samples": collapse.mesh_clouds(sample_meshes, wd.cloud_points, SEED),
          "held out": collapse.shape_clouds(ds, test_ids, wd.cloud_points, SEED),
          "train": collapse.shape_clouds(ds, train_ids, wd.cloud_points, SEED)}
gm = collapse.generated(clouds["samples"], clouds["held out"], clouds["train"])
# the same measures for a pure copier: as many training shapes as samples, drawn at random
copy_rows = np.random.default_rng(SEED).choice(len(train_ids), len(samples), replace=len(train_ids) < len(samples))
copier = collapse.generated(clouds["train"][copy_rows], clouds["held out"], clouds["train"])
table = {k: {m: round(v[m], 4) for m in ("mmd", "cov", "1nna", "nearest_train_ratio")} for k, v in
         (("weight DiT samples", gm), ("copies of training shapes", copier))}
print(f"{empty} of {len(samples)} samples have no surface"), table

# %%
show = list(range(min(8, len(samples))))
nearest_shape = [train_ids[gm["nearest_train"][j]] for j in show]
images = (render.thumbnails([sample_meshes[j] for j in show], 128)
          + render.thumbnails([ds.mesh(i) for i in nearest_shape], 128))
titles = [f"sample {j}" for j in show] + [ds.categories[i] for i in nearest_shape]
# caption: Samples decoded as meshes (top) and their nearest training shapes (bottom).
figures.save_figure(plots.image_grid(images, titles, ncols=len(show), size=1.5,
                                     suptitle="unconditional samples (top) and their nearest training shape (Chamfer)"),
                    "sample_gallery", notebook=NB, scale=SCALE)

# %% tags=["finding"]
print(thesis.finding("phase 2, samples with a surface", f"{len(samples) - empty} of {len(samples)}", "partial"))
print(thesis.finding("phase 2, 1-NNA (0.5 = indistinguishable from held-out shapes)", gm["1nna"], "not reported"))
print(f"median distance to the nearest training shape: samples {gm['sample_nearest_train_median']:.4f}, "
      f"held-out shapes {gm['reference_nearest_train_median']:.4f} (ratio {gm['nearest_train_ratio']:.2f})")

# %%
values = {
    "parameters": params, "tokens": wd.tokens, "token_entries": gen.dit.chunk, "split": gen.dit.split(),
    "train_shapes": len(train_ids), "test_shapes": len(test_ids), "steps": wd.steps, "batch": wd.batch,
    "train_seconds": gen.seconds, "loss_ema": gen.history[-1][1], "samples": len(samples), "empty_meshes": empty,
    "weight_space": weight_space,
    "generation": {k: gm[k] for k in ("mmd", "cov", "1nna", "1nna_generated", "1nna_reference", "memorisation",
                                      "sample_nearest_train_median", "reference_nearest_train_median",
                                      "nearest_train_ratio")},
    "copier": {k: copier[k] for k in ("mmd", "cov", "1nna", "nearest_train_ratio")},
    "cloud_points": wd.cloud_points,
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
