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
# # 09 · Phases 8 and 9: ruling out the easy explanations
#
# Two ablations of the phase-7 model (notebook 08), each removing one suspect and nothing else:
#
# - **Phase 8, no per-dimension standardisation.** Per-dimension standardisation divides every weight
#   by its own spread over the training set; dimensions that barely vary (thesis: 124 of 54,785 with
#   std < 10⁻⁴) are blown up to unit variance, so the model spends its capacity on noise. Phase 8
#   centres the weights and divides them all by *one* number instead. (Not the raw weights: their rms
#   is about 0.07, so the schedule's unit-variance noise would drown them at almost every timestep;
#   one scale keeps the noise schedule as designed and removes exactly the per-dimension rescaling.)
# - **Phase 9, no condition or pose dropout.** Training with 10 % of examples' views replaced by the
#   "no image" token (for classifier-free guidance) and 10 % without poses might teach the model to
#   ignore the images. Phase 9 trains with both off.
#
# Thesis: the same collapse in both, which rules them out. Same held-out inputs, same diagnostics.
#
# - **Reads:** the dataset of the scale (with renders); the ReLU+PE weight dataset (notebook 04), notebook 12's
#   encoder, the phase-7 run of notebook 08 (each trained here if missing).
# - **Writes:** runs under `checkpoints/runs/weightdit/`, figures under `figures/<scale>/09_weight_dit_ablations/`,
#   key numbers in `figures/values/09_weight_dit_ablations.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.weightspace import collapse, generate

NB = "09_weight_dit_ablations"
cfg = config.resolve(SCALE, seed=SEED)
inp = inputs.phase_inputs(cfg, test_shapes=cfg.weightdiff.test_shapes, views=True, weights=True)
ds, train_ids, test_ids, ws = inp.dataset, inp.train_ids, inp.test_ids, inp.weights
enc, feats, poses = inp.encoder, inp.features, inp.poses
std = ws.weights[train_ids].std(0)
low_std = int((std < 1e-4).sum())
print(f"{ds}\ntrain {len(train_ids)}, held-out inputs {len(test_ids)}; {low_std} of {std.numel():,} weight dimensions "
      f"have std < 1e-4 over the training set (per-dimension standardisation scales them up to 1)")

# %% [markdown]
# ## Three models, one difference each

# %%
MODELS = {"phase7": "phase 7 (as trained in 08)", "phase8": "phase 8: one global scale",
          "phase9": "phase 9: no condition / pose dropout"}
gens = {}
for phase in ("phase8", "phase9", "phase7"):  # phase 7 last: on a node running 08 beside it, 08 trains it meanwhile
    gens[phase] = generate.train_weight_dit(config.weight_phase(cfg, phase), ws, train_ids, features=feats[train_ids],
                                            poses=poses, encoder=f"{enc.name}:{enc.key}", tag=phase)
    print(f"{phase}: {gens[phase].history[-1][0]} steps in {gens[phase].seconds:.0f} s, "
          f"loss EMA {gens[phase].history[-1][1]:.4f}")
gens = {p: gens[p] for p in MODELS}
# caption: Training of phase 7 and its two ablations (no per-dimension standardisation, no dropout).
figures.save_figure(plots.curves({MODELS[p]: tuple(np.asarray(g.history).T) for p, g in gens.items()},
                                 "training (each in its own normalised units: predicting the mean scores 1)", "step",
                                 "loss EMA", logy=True, hlines={"thesis plateau (phase 7)": thesis.LOSS_EMA_PLATEAU}),
                    "training_curves", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Attractors and meshes on the held-out inputs (4 views each)

# %%
results = {}
for phase, g in gens.items():
    pred, views = g.predict(feats, poses, test_ids, g.config["eval_views"], seed=SEED)
    retrieved = [train_ids[int(r)] for r in metrics.retrieve(feats, test_ids, views, train_ids)]
    results[phase] = collapse.held_out(pred, ws.weights, ws.init[0], train_ids, test_ids, ds, ws.obj_idx, ws.spec,
                                       k=g.config["attractor_k"], resolution=g.config["mesh_resolution"],
                                       retrieved_rows=retrieved)
    r = results[phase]
    print(phase, "residual cos(pred, target)", round(r["residual"]["cos_true_mean"], 4), "| nearest training",
          round(r["residual"]["top1_cos_mean"], 4), "| closer", round(r["residual"]["closer_share"], 3),
          "| F", round(r["mesh"]["prediction"]["fscore"], 3), "| retrieval F", round(r["mesh"]["retrieval"]["fscore"], 3))
labels = {i: f"{ds.uid_of(i).split('/')[-1]} {ds.categories[i]}" for i in range(len(ds))}
# caption: Which training shape each ablation's held-out predictions land nearest, beside phase 7's.
figures.save_figure(plots.attractors({MODELS[p]: r for p, r in results.items()}, labels, "residuals"),
                    "attractors_residuals", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The loss profile of each

# %%
wd = cfg.weightdiff
ts = np.unique(np.linspace(0, wd.timesteps - 1, wd.profile_timesteps).round().astype(int))
rows = np.random.default_rng(SEED).choice(len(train_ids), min(wd.profile_rows, len(train_ids)), replace=False)
ids = [train_ids[i] for i in rows]
profile = {MODELS[p]: g.loss_profile(ws.weights[ids], ts, features=feats[ids], poses=poses, k=4, seed=SEED)
           for p, g in gens.items()}
# caption: Loss by diffusion timestep for phase 7 and its ablations.
figures.save_figure(plots.curves({k: (ts, v) for k, v in profile.items()}, "loss by diffusion timestep", "timestep t",
                                 "x0-MSE (normalised targets)", hlines={"thesis, phase 7 at t ≈ 0": thesis.LOSS_AT_T0}),
                    "loss_profiles", notebook=NB, scale=SCALE)
{k: [round(float(v[0]), 4), round(float(v[-1]), 4)] for k, v in profile.items()}

# %% tags=["finding"]
for phase in ("phase8", "phase9"):
    r, r7 = results[phase]["residual"], results["phase7"]["residual"]
    print(thesis.finding(f"{phase}, held-out predictions closer to a training vector than to their target",
                         r["closer_share"], "same collapse as phase 7", f"phase 7: {r7['closer_share']:.2f}"))
    print(thesis.finding(f"{phase}, loss at t = 0", profile[MODELS[phase]][0], thesis.LOSS_AT_T0,
                         f"phase 7: {profile[MODELS['phase7']][0]:.3f}"))
print(thesis.finding("weight dimensions with std < 1e-4", low_std, thesis.LOW_STD_DIMS))

# %%
values = {"train_shapes": len(train_ids), "test_inputs": len(test_ids), "low_std_dims": low_std,
          "loss_profile": {"timesteps": ts.tolist(), **{p: profile[MODELS[p]].tolist() for p in MODELS}}}
for phase, g in gens.items():
    values[phase] = {"standardise": g.config["standardise"], "cond_dropout": g.config["cond_dropout"],
                     "pose_dropout": g.config["pose_dropout"], "steps": g.config["steps"], "train_seconds": g.seconds,
                     "loss_ema": g.history[-1][1], **collapse.summary(results[phase], ds)}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
