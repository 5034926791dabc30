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
# # 04 · Phase 1: the per-shape ReLU+PE weight dataset
#
# One 54,785-parameter ReLU+PE decoder per shape of the corpus, every one warm-started from the
# ReLU+PE anchor (notebook 02) so that all of them live in one permutation neighbourhood. They
# train together as one batched model on the GPU (no loop over shapes). The result is the weight
# dataset every later weight-space phase learns from: one array [N, 54,785] with layer offsets.
# Thesis: final per-shape loss median 0.00185, 95th percentile 0.00409.
#
# - **Reads:** the dataset of the scale; the ReLU+PE anchor of notebook 02 (trained here if missing).
# - **Writes:** the weight dataset `weights.safetensors` under `checkpoints/runs/weightspace/`, figures
#   under `figures/<scale>/04_relu_weight_dataset/`, key numbers in `figures/values/04_relu_weight_dataset.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, metrics, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.weightspace import analysis, fit
from sdfnets.weightspace.nets import NetSpec, select

NB = "04_relu_weight_dataset"
cfg = config.resolve(SCALE, seed=SEED)
wc = cfg.weightspace
ds = load_or_build(cfg.data)
ids = list(range(len(ds) if wc.max_shapes is None else min(wc.max_shapes, len(ds))))
spec = NetSpec.from_config(wc, "relu_pe")
print(f"{ds}\n{len(ids)} networks x {spec.num_params:,} parameters, {wc.steps} steps of "
      f"{wc.points_per_shape:,} points each")

# %% [markdown]
# ## Training every decoder at once

# %%
ws = fit.train_weight_set(cfg, ds, ids, "relu_pe", "anchor")
median, p95 = float(np.median(ws.loss)), float(np.percentile(ws.loss, 95))
print(f"trained in {ws.meta['seconds']:.1f} s")
fig = plots.histograms({"per-shape decoders": ws.loss}, "final per-shape SDF error", "clamped L1", bins=50,
                       ylabel="shapes", marks={"median": median, "95th percentile": p95,
                                               "thesis median": thesis.PER_SHAPE_LOSS_MEDIAN,
                                               "thesis 95th percentile": thesis.PER_SHAPE_LOSS_P95})
# caption: Per-shape SDF error of every shape's own decoder, beside the thesis' median and 95th percentile.
figures.save_figure(fig, "per_shape_loss_histogram", notebook=NB, scale=SCALE)
# caption: The batched training of every decoder (mean over networks).
figures.save_figure(plots.curves({"mean over networks": tuple(np.asarray(ws.meta["history"]).T)},
                                 "batched training", "step", "clamped L1", logy=True),
                    "training_curve", notebook=NB, scale=SCALE)

# %% tags=["finding"]
print(thesis.finding("per-shape SDF L1, median", median, thesis.PER_SHAPE_LOSS_MEDIAN))
print(thesis.finding("per-shape SDF L1, 95th percentile", p95, thesis.PER_SHAPE_LOSS_P95))

# %% [markdown]
# ## What the decoders look like
# An even spread of shapes by loss, plus the worst one: ground truth above, decoder below.

# %%
order = np.argsort(ws.loss)
pick = sorted(set(order[np.linspace(0, len(order) - 1, min(7, len(order))).astype(int)].tolist()) | {int(order[-1])})
decoded = analysis.meshes(spec, select(ws.params, pick), wc.mesh_resolution)
rows = [{"obj_idx": ids[k], **r} for k, r in zip(pick, metrics.mesh_metrics_many(decoded, [ds.sdf(ids[k]) for k in pick], pick))]
images = render.thumbnails([ds.mesh(ids[k]) for k in pick], 128) + render.thumbnails(decoded, 128)
titles = [f"{ds.categories[ids[k]]}\nL1 {ws.loss[k]:.4f}" for k in pick] + [
    f"F {r['fscore']:.2f}" for r in rows]
# caption: Shapes (top) and their decoders' meshes (bottom), with per-shape error and F-score.
figures.save_figure(plots.image_grid(images, titles, ncols=len(pick), size=1.5,
                                     suptitle="ground truth (top), per-shape ReLU+PE decoder (bottom)"),
                    "decoder_gallery", notebook=NB, scale=SCALE)
gallery_metrics = {k: float(np.nanmean([r[k] for r in rows])) for k in ("chamfer_l1", "fscore", "iou")}
gallery_metrics

# %% [markdown]
# ## The weight dataset
# One float32 array, row i = shape `obj_idx[i]`, columns in `nn.Linear` state-dict order.
# `WeightSet.load(path)` gives it back with the layer offsets below.

# %%
print(f"{tuple(ws.weights.shape)} float32 -> {ws.path}")
for name, (a, b) in ws.offsets.items():
    print(f"  {name:11s} [{a:6d}, {b:6d})  {tuple(spec.shapes()[name])}")

# %%
values = {
    "networks": len(ids), "parameters": spec.num_params, "steps": wc.steps, "points_per_shape": wc.points_per_shape,
    "train_seconds": ws.meta["seconds"], "sdf_l1_median": median, "sdf_l1_p95": p95,
    "sdf_l1_max": float(ws.loss.max()), "gallery": {"shapes": len(pick), **gallery_metrics},
    "offsets": ws.offsets,
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
