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
# # 07 · Phases 5 and 6: predicting a network's weights from one image
#
# The image-conditioned weight-space line. Phase 5 is the first attempt, on the SIREN weight family
# of phase 1.5; phase 6 is the write-up's main model on the ReLU+PE family of phase 1: a diffusion
# transformer of ~132 M parameters that denoises the per-dimension standardised 54,785-dim weight
# vector, cut into 8 tokens that attend to each other and cross-attend to one view token (image
# feature ⊕ 64-dim sinusoidal camera-pose embedding); cosine schedule T = 500, x0-prediction, DDIM
# with 50 steps, condition and pose dropout (10 % each) in training. Both use the encoder and
# feature cache of phase 12 (notebook 12), so the two lines see the same images the same way.
#
# Thesis: phase 5 "partial"; phase 6 collapses: whatever the input, predictions land on a cluster of
# 4 training shapes at cosine ≈ 0.987, closer than their own target (0.9698 for obj_0119).
#
# - **Reads:** the dataset of the scale (with renders); the weight datasets of notebooks 03–04 and the
#   image encoder of notebook 12 (each trained here if missing; at full the encoder ships in `checkpoints/`).
# - **Writes:** runs under `checkpoints/runs/weightdit/`, figures under `figures/<scale>/07_weight_dit_single_view/`,
#   key numbers in `figures/values/07_weight_dit_single_view.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.data import render
from sdfnets.layers import count_parameters
from sdfnets.weightspace import collapse, fit, generate

NB = "07_weight_dit_single_view"
cfg = config.resolve(SCALE, seed=SEED)
inp = inputs.phase_inputs(cfg, test_shapes=cfg.weightdiff.test_shapes, views=True)  # notebook 12's image features
ds, train_ids, test_ids = inp.dataset, inp.train_ids, inp.test_ids
enc, feats, poses = inp.encoder, inp.features, inp.poses
print(f"{ds}\ntrain {len(train_ids)}, held-out inputs {len(test_ids)}; {enc.name} features {tuple(feats.shape)}")

# %% [markdown]
# ## Training both models
# Phase 5 on SIREN weight vectors (50,177 dims), phase 6 on ReLU+PE (54,785), each network
# warm-started from its family's anchor. Same model, same schedule, same steps.

# %%
PHASES = {"phase5": "SIREN, one view", "phase6": "ReLU+PE, one view"}
runs, weight_sets = {}, {}
for phase in PHASES:
    pc = config.weight_phase(cfg, phase)
    weight_sets[phase] = fit.train_weight_set(pc, ds, range(len(ds)), pc.weightdiff.family, "anchor")
    runs[phase] = generate.train_weight_dit(pc, weight_sets[phase], train_ids, features=feats[train_ids], poses=poses,
                                            encoder=f"{enc.name}:{enc.key}", tag=phase)
    g = runs[phase]
    print(f"{phase}: {count_parameters(g.dit):,} parameters, {g.dit.tokens} tokens of {g.dit.chunk:,} entries "
          f"(split {g.dit.split()}), {g.seconds:.0f} s")
# caption: Training of the single-view weight DiTs, SIREN (phase 5) and ReLU+PE (phase 6).
figures.save_figure(plots.curves({PHASES[p]: tuple(np.asarray(g.history).T) for p, g in runs.items()},
                                 "image-conditioned weight DiT training", "step", "loss EMA (standardised)", logy=True,
                                 hlines={"predict the mean vector": 1.0}),
                    "training_curves", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Held-out inputs: attractors
# Each held-out shape from one random view. For every prediction: the cosine to its own weight
# vector, the 5 nearest training vectors, and whether the nearest training vector is closer than
# the target. The same on residuals from the anchor, where the 54,785 shared dimensions no longer
# inflate every cosine (notebook 05). Meshes are measured against the truth, against the shape of
# the top attractor, and beside the retrieval baseline (the training decoder whose views look most alike).

# %%
results = {}
for phase, g in runs.items():
    wd, ws = g.config, weight_sets[phase]
    pred, views = g.predict(feats, poses, test_ids, wd["eval_views"], seed=SEED)
    retrieved = [train_ids[int(r)] for r in metrics.retrieve(feats, test_ids, views, train_ids)]
    results[phase] = collapse.held_out(pred, ws.weights, ws.init[0], train_ids, test_ids, ds, ws.obj_idx, ws.spec,
                                       k=wd["attractor_k"], resolution=wd["mesh_resolution"], retrieved_rows=retrieved)
    results[phase]["views"] = views
    results[phase]["write_up"] = collapse.write_up_statistics(g, feats, poses, test_ids, wd["eval_views"], pred,
                                                              ws.weights[test_ids].cpu(), results[phase], seed=SEED)
    r = results[phase]
    print(phase, {k: round(v, 4) if isinstance(v, float) else v for k, v in r["vectors"].items() if k != "top1_counts"})
    print("   mesh F-score: prediction", round(r["mesh"]["prediction"]["fscore"], 3), "| retrieval",
          round(r["mesh"]["retrieval"]["fscore"], 3), "| prediction vs its top attractor",
          round(r["mesh"]["prediction_vs_top_attractor"]["fscore"], 3))
labels = {i: f"{ds.uid_of(i).split('/')[-1]} {ds.categories[i]}" for i in range(len(ds))}
for space in ("weights", "residuals"):
    # caption: Which training shape each held-out prediction lands nearest (the thesis saw four attractors; few distinct shapes would mean collapse).
    figures.save_figure(plots.attractors({PHASES[p]: r for p, r in results.items()}, labels, space),
                        f"attractors_{space}", notebook=NB, scale=SCALE)

# %%
for phase, r in results.items():
    show = list(range(min(8, len(test_ids))))
    top = [r["inputs"][j]["top"][0] for j in show]
    images = ([ds.renders(test_ids[j])["images"][int(r["views"][j, 0])] for j in show]
              + render.thumbnails([ds.mesh(test_ids[j]) for j in show], 128)
              + render.thumbnails([r["meshes"]["prediction"][j] for j in show], 128)
              + render.thumbnails([ds.mesh(i) for i in top], 128))
    titles = ([f"input {j}" for j in show] + ["truth"] * len(show)
              + [f"F {r['inputs'][j]['fscore']:.2f}" for j in show] + [ds.categories[i] for i in top])
    # caption: Input view, true shape, prediction (with F-score) and its nearest training shape.
    figures.save_figure(plots.image_grid(images, titles, ncols=len(show), size=1.4,
                                         suptitle=f"{PHASES[phase]}: input view, truth, prediction, top attractor"),
                        f"gallery_{phase}", notebook=NB, scale=SCALE)

# %% tags=["finding"]
r6 = results["phase6"]["vectors"]
print(thesis.finding("phase 6, shapes that are nearest for half the inputs", results["phase6"]["vectors"]["rows_for_half"],
                     thesis.ATTRACTOR_SHAPES))
print(thesis.finding("phase 6, cos(prediction, nearest training)", r6["top1_cos_mean"], thesis.ATTRACTOR_COSINE))
print(thesis.finding("phase 6, cos(prediction, its target)", r6["cos_true_mean"], thesis.HELD_OUT_COS_PRED_TRUE))
w6 = results["phase6"]["write_up"]
if 4 in w6["draws"]:
    print(thesis.finding("phase 6, shapes in every input's 5 nearest, draws of 4 inputs", w6["draws"][4]["common_mean"],
                         thesis.ATTRACTOR_COMMON_TOP5, f"of 32 inputs: {w6['draws'].get(32, {}).get('common_mean', '—')}"))
print(thesis.finding("phase 6, way to the target the image moves a prediction", w6["nudge"]["toward_mean"],
                     thesis.CONDITIONING_NUDGE, f"distance moved from the centroid / target's: {w6['nudge']['moved_mean']:.2f}"))
print(f"phase 6: {r6['closer_share']:.0%} of predictions closer to a training vector than to their target; "
      f"predictions' pairwise cosine {r6['pred_pairwise_cosine']:.4f} vs targets' {r6['truth_pairwise_cosine']:.4f}")

# %%
values = {"train_shapes": len(train_ids), "test_inputs": len(test_ids), "encoder": enc.name}
for phase, g in runs.items():
    values[phase] = {"family": g.spec.family, "parameters": count_parameters(g.dit), "dims": g.dit.dim,
                     "tokens": g.dit.tokens, "token_entries": g.dit.chunk, "split": g.dit.split(),
                     "steps": g.config["steps"], "batch": g.config["batch"], "train_seconds": g.seconds,
                     "loss_ema": g.history[-1][1], **collapse.summary(results[phase], ds), **results[phase]["write_up"]}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
