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
# # 08 · Phase 7: more views, and the flat loss profile
#
# Phase 7 gives the phase-6 weight DiT (~132 M parameters, ReLU+PE weights, per-dimension
# standardisation, 8 weight tokens) K ∈ [1, 8] views with their camera poses per example: if the
# collapse came from a weak conditioning signal, more views should break it. Thesis: the same
# collapse; the training-loss EMA plateaus at 0.198 (standardised MSE) around step 15 K, and the
# loss as a function of the diffusion timestep is flat: 0.189 even at t ≈ 0, where the input is the
# target plus a trace of noise. A healthy model's loss rises from ~0 at t = 0; we draw both curves,
# the weight DiT's beside the phase-12 latent DiT's (the model that works), on the same inputs.
#
# - **Reads:** the dataset of the scale (with renders); the ReLU+PE weight dataset (notebook 04) and
#   notebook 12's encoder and phase-11/12 runs (load-or-train: trained here if missing).
# - **Writes:** runs under `checkpoints/runs/weightdit/`, figures under `figures/<scale>/08_weight_dit_multiview/`,
#   key numbers in `figures/values/08_weight_dit_multiview.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.data import render
from sdfnets.deepsdf.reconstruct import reconstruct
from sdfnets.image2latent import train as i2l
from sdfnets.layers import count_parameters
from sdfnets.weightspace import collapse, generate

NB = "08_weight_dit_multiview"
cfg = config.weight_phase(config.resolve(SCALE, seed=SEED), "phase7")
wd = cfg.weightdiff
inp = inputs.phase_inputs(cfg, test_shapes=wd.test_shapes, views=True, weights=True)  # notebooks 12's features, 04's weights
ds, train_ids, test_ids, ws = inp.dataset, inp.train_ids, inp.test_ids, inp.weights
enc, feats, poses = inp.encoder, inp.features, inp.poses
print(f"{ds}\ntrain {len(train_ids)}, held-out inputs {len(test_ids)}; {enc.name} features {tuple(feats.shape)}")

# %% [markdown]
# ## Training: K ∈ [1, 8] views per example

# %%
gen = generate.train_weight_dit(cfg, ws, train_ids, features=feats[train_ids], poses=poses,
                                encoder=f"{enc.name}:{enc.key}", tag="phase7")
params = count_parameters(gen.dit)
print(f"weight DiT: {params:,} parameters, {gen.dit.tokens} tokens of {gen.dit.chunk:,} entries, "
      f"{gen.history[-1][0]} steps in {gen.seconds:.0f} s")
# caption: Training of the multi-view weight DiT (phase 7).
figures.save_figure(plots.curves({"phase 7": tuple(np.asarray(gen.history).T)}, "multi-view weight DiT training",
                                 "step", "loss EMA (standardised)", logy=True,
                                 hlines={"predict the mean vector": 1.0, "thesis plateau": thesis.LOSS_EMA_PLATEAU}),
                    "training_curve", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Held-out inputs from 4 views, and training inputs
# The attractor diagnostic of notebook 07 on the held-out shapes (4 random views each), and the same
# on as many *training* shapes: a model that learnt the conditional map reproduces its training
# targets; one that learnt the marginal does not, seen or unseen.

# %%
seen = train_ids[:: max(1, len(train_ids) // len(test_ids))][: len(test_ids)]
results = {}
for name, ids in (("held-out", test_ids), ("training", seen)):
    pred, views = gen.predict(feats, poses, ids, wd.eval_views, seed=SEED)
    retrieved = [train_ids[int(r)] for r in metrics.retrieve(feats, ids, views, train_ids)] if name == "held-out" else None
    results[name] = collapse.held_out(pred, ws.weights, ws.init[0], train_ids, ids, ds, ws.obj_idx, ws.spec,
                                      k=wd.attractor_k, resolution=wd.mesh_resolution, retrieved_rows=retrieved)
    results[name]["views"] = views
    r = results[name]
    if name == "held-out":  # the write-up's nudge and 4-input statistic
        write_up = collapse.write_up_statistics(gen, feats, poses, ids, wd.eval_views, pred, ws.weights[ids].cpu(), r,
                                                seed=SEED)
    print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in r["vectors"].items() if k != "top1_counts"})
    print("   mesh F-score:", {k: round(v["fscore"], 3) for k, v in r["mesh"].items()})
labels = {i: f"{ds.uid_of(i).split('/')[-1]} {ds.categories[i]}" for i in range(len(ds))}
for space in ("weights", "residuals"):
    # caption: Which training shape each held-out and each training prediction lands nearest (few distinct shapes would mean collapse).
    figures.save_figure(plots.attractors(results, labels, space), f"attractors_{space}", notebook=NB, scale=SCALE)

# %%
r = results["held-out"]
show = list(range(min(8, len(test_ids))))
top = [r["inputs"][j]["top"][0] for j in show]
images = ([ds.renders(test_ids[j])["images"][int(r["views"][j, 0])] for j in show]
          + render.thumbnails([ds.mesh(test_ids[j]) for j in show], 128)
          + render.thumbnails([r["meshes"]["prediction"][j] for j in show], 128)
          + render.thumbnails([ds.mesh(i) for i in top], 128)
          + render.thumbnails([r["meshes"]["retrieval"][j] for j in show], 128))
titles = ([f"input {j} (1 of {wd.eval_views})" for j in show] + ["truth"] * len(show)
          + [f"F {r['inputs'][j]['fscore']:.2f}" for j in show] + [ds.categories[i] for i in top]
          + ["retrieval"] * len(show))
# caption: Held-out inputs: truth, prediction, its nearest training shape and retrieval.
figures.save_figure(plots.image_grid(images, titles, ncols=len(show), size=1.4,
                                     suptitle="phase 7: input view, truth, prediction, top attractor, retrieval"),
                    "gallery", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Does the number of views matter?
# The same held-out shapes from K = 1, 2, 4, 8 views: cosine to the target and to the nearest
# training vector (residuals from the anchor), and how many distinct training shapes are nearest.

# %%
by_k = {}
for k in (1, 2, 4, 8):
    if k > feats.shape[1]:
        continue
    pred, _ = gen.predict(feats, poses, test_ids, k, seed=SEED)
    a = metrics.attractors(pred - ws.init[0].cpu(), ws.weights[test_ids].cpu() - ws.init[0].cpu(),
                           ws.weights[train_ids].cpu() - ws.init[0].cpu(), wd.attractor_k)
    by_k[k] = {"residual_cos_true_mean": float(a["cos_true"].mean()), "residual_top1_cos_mean": float(a["top_cos"][:, 0].mean()),
               "distinct_top1": a["distinct_top1"], "closer_share": float(a["closer"].mean())}
ks = np.array(list(by_k))
# caption: Does a second, fourth or eighth view help? Cosine of prediction to target against the number of views.
figures.save_figure(plots.curves({"cos(prediction, target)": (ks, [by_k[k]["residual_cos_true_mean"] for k in ks]),
                                  "cos(prediction, nearest training)": (ks, [by_k[k]["residual_top1_cos_mean"] for k in ks])},
                                 "held-out inputs against the number of views", "views K", "cosine of residuals"),
                    "views", notebook=NB, scale=SCALE)
by_k

# %% [markdown]
# ## The loss profile: weight DiT against the latent DiT that works
# The training loss with the timestep held fixed, on training examples (4 views each): for the
# weight DiT in standardised weight units, for the phase-12 latent DiT in normalised latent units
# (both: predicting the mean target scores about 1). The latent DiT is notebook 12's run of this scale.

# %%
deepsdf, healthy = i2l.phase12(cfg, ds, train_ids, feats, poses, enc.name)  # notebook 12's runs
decoder, latents, latent_ids = deepsdf.decoder, deepsdf.latents, train_ids
ts = np.unique(np.linspace(0, wd.timesteps - 1, wd.profile_timesteps).round().astype(int))
rows = np.random.default_rng(SEED).choice(len(train_ids), min(wd.profile_rows, len(train_ids)), replace=False)
profile = {"weight DiT (phase 7)": gen.loss_profile(ws.weights[[train_ids[i] for i in rows]], ts,
                                                    features=feats[[train_ids[i] for i in rows]], poses=poses, k=4,
                                                    seed=SEED)}
lrows = rows[rows < len(latent_ids)]
profile["latent DiT (phase 12)"] = healthy.loss_profile(latents.cpu()[lrows], ts, features=feats[[latent_ids[i] for i in lrows]],
                                                        poses=poses, k=4, seed=SEED)
# caption: Loss by diffusion timestep: flat for the weight DiT, steep for phase 12's latent DiT.
figures.save_figure(plots.curves({k: (ts, v) for k, v in profile.items()}, "loss by diffusion timestep", "timestep t",
                                 "x0-MSE (normalised targets)", logy=True,
                                 hlines={"thesis, weight DiT at t ≈ 0": thesis.LOSS_AT_T0}),
                    "loss_profile", notebook=NB, scale=SCALE)
{k: {"t0": float(v[0]), "t_mid": float(v[len(v) // 2]), "t_max": float(v[-1])} for k, v in profile.items()}

# %% [markdown]
# ## The attractor diagnostic of the latent DiT, on the same inputs
# The held-out shapes have no training latent; their target is the latent the frozen DeepSDF decoder
# fits to each shape's own SDF samples (test-time reconstruction, the decoder's best). Then the same
# statistics as above, on 64-dim latents instead of 54,785-dim weights.

# %%
z_target = reconstruct(decoder, ds, test_ids, steps=cfg.deepsdf.recon_steps).cpu()
z_pred, _ = healthy.predict(feats, poses, test_ids, wd.eval_views, seed=SEED)
la = metrics.attractors(z_pred, z_target, latents.cpu(), wd.attractor_k)
latent_attractors = {"cos_true_mean": float(la["cos_true"].mean()), "top1_cos_mean": float(la["top_cos"][:, 0].mean()),
                     "closer_share": float(la["closer"].mean()), "distinct_top1": la["distinct_top1"],
                     "rows_for_half": la["rows_for_half"], "pred_pairwise_cosine": la["pred_pairwise_cosine"],
                     "truth_pairwise_cosine": la["truth_pairwise_cosine"]}
{"weight DiT (residuals)": results["held-out"]["residual"], "latent DiT": latent_attractors}

# %% tags=["finding"]
rv = results["held-out"]["vectors"]
print(thesis.finding("phase 7, training-loss EMA at the end", gen.history[-1][1], thesis.LOSS_EMA_PLATEAU, "plateau"))
print(thesis.finding("phase 7, loss at t = 0", profile["weight DiT (phase 7)"][0], thesis.LOSS_AT_T0))
print(f"the latent DiT at t = 0: {profile['latent DiT (phase 12)'][0]:.2e}")
print(thesis.finding("phase 7, shapes that are nearest for half the inputs", rv["rows_for_half"], thesis.ATTRACTOR_SHAPES))
print(thesis.finding("phase 7, cos(prediction, nearest training)", rv["top1_cos_mean"], thesis.ATTRACTOR_COSINE))
print(thesis.finding("phase 7, cos(prediction, its target)", rv["cos_true_mean"], thesis.HELD_OUT_COS_PRED_TRUE))
if 4 in write_up["draws"]:
    print(thesis.finding("phase 7, shapes in every input's 5 nearest, draws of 4 inputs",
                         write_up["draws"][4]["common_mean"], thesis.ATTRACTOR_COMMON_TOP5))
print(thesis.finding("phase 7, way to the target the image moves a prediction", write_up["nudge"]["toward_mean"],
                     thesis.CONDITIONING_NUDGE))

# %%
values = {
    "parameters": params, "dims": gen.dit.dim, "tokens": gen.dit.tokens, "token_entries": gen.dit.chunk,
    "split": gen.dit.split(), "train_shapes": len(train_ids), "test_inputs": len(test_ids), "encoder": enc.name,
    "steps": wd.steps, "batch": wd.batch, "views": [wd.min_views, wd.max_views], "eval_views": wd.eval_views,
    "cond_dropout": wd.cond_dropout, "pose_dropout": wd.pose_dropout, "train_seconds": gen.seconds,
    "loss_ema": gen.history[-1][1], "history": gen.history,
    **{name: collapse.summary(r, ds) for name, r in results.items()}, "by_views": by_k,
    "loss_profile": {"timesteps": ts.tolist(), **{k: v.tolist() for k, v in profile.items()}},
    "latent_dit_held_out": latent_attractors, "write_up": write_up,
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
{k: v for k, v in values.items() if k not in ("history", "split")}
