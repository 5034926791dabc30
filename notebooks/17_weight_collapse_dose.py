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
# # 17 · What makes the weights collapse: a dose–response over shell thickness
#
# The write-up's headline failure: the image-conditioned weight DiT (phase 6) "collapses to a 4-shape
# attractor cluster regardless of input … to the centroid of the training distribution, with image
# conditioning supplying only a ~3 % directional nudge". Notebooks 07–09 do not see that here: their
# held-out predictions land near many different training shapes. The weight datasets differ: ours sit
# in a wider shell (mean pairwise cosine about 0.80 at full) than the write-up's (0.96), fitted further
# from the anchor (per-shape loss median 0.00048 vs 0.00185). Is the shell's thickness what makes the
# model collapse?
#
# The experiment: the same corpus, anchor and fitting recipe as notebook 04, the learning rate of the
# per-shape fits multiplied by 1, 1/4, 1/16, 1/64 (a smaller step leaves every network nearer the
# anchor: a thinner shell, a higher pairwise cosine, a higher loss); on each weight dataset the phase-6
# DiT of notebook 07 (single view, same size and seed; `weightdiff.dose_steps` steps: 8,000 at full, the
# budget notebooks 06–09 had before they moved to the write-up's 15,000, which keeps the four runs with their
# datasets at about 20 GPU-minutes), measured on the same held-out inputs and views with the attractor
# statistics of notebook 07, the write-up's own statistic on 4 inputs, the loss at t = 0 and how far the
# image moves each prediction.
#
# - **Reads:** the dataset of the scale (with renders); the anchor (notebook 02), notebook 04's weight dataset
#   (the dose 1) and notebook 12's encoder (each trained here if missing).
# - **Writes:** weight datasets under `checkpoints/runs/weightspace/`, runs under `checkpoints/runs/weightdit/`,
#   figures under `figures/<scale>/17_weight_collapse_dose/`, key numbers in
#   `figures/values/17_weight_collapse_dose.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, inputs, plots, thesis
from sdfnets.weightspace import analysis, collapse, fit, generate

NB = "17_weight_collapse_dose"
cfg = config.resolve(SCALE, seed=SEED)
wc = cfg.weightspace
inp = inputs.phase_inputs(cfg, test_shapes=cfg.weightdiff.test_shapes, views=True)  # notebook 12's image features
ds, train_ids, test_ids = inp.dataset, inp.train_ids, inp.test_ids
enc, feats, poses = inp.encoder, inp.features, inp.poses
DOSES = {config.dose_name(f): f for f in wc.shell_lr_factors}
print(f"{ds}\ntrain {len(train_ids)}, held-out inputs {len(test_ids)}; doses {list(DOSES)} of lr {wc.lr:g}")

# %% [markdown]
# ## Weight datasets at several shell thicknesses
# Every shape's ReLU+PE decoder fitted from the anchor as in notebook 04, at each learning rate. Per
# dataset: the mean pairwise cosine of the weight vectors (the shell's thickness: 1 is a point), the
# dimensions that barely vary (std < 1e-4) and the per-shape SDF error.

# %%
weight_sets, shells = {}, {}
for name, factor in DOSES.items():
    ws = fit.train_weight_set(config.shell_dose(cfg, factor), ds, range(len(ds)), "relu_pe", "anchor")
    s = analysis.shell_stats(ws.weights, ws.init)
    weight_sets[name] = ws
    shells[name] = {"lr": wc.lr * factor, "pairwise_cosine": s["pairwise_cosine"], "low_std_dims": s["low_std_dims"],
                    "residual_ratio": float(s["residual_ratio"].mean()), "residual_cosine": s["residual_cosine"],
                    "sdf_l1_median": float(np.median(ws.loss)), "sdf_l1_p95": float(np.percentile(ws.loss, 95)),
                    "cosines": np.asarray(s["pairwise_cosine_all"])}
    print(f"{name:12s} lr {wc.lr * factor:.2e}: pairwise cosine {s['pairwise_cosine']:.4f}, "
          f"{s['low_std_dims']:,} dims with std < 1e-4, SDF L1 median {np.median(ws.loss):.5f}")
# caption: The shell at each dose: pairwise cosines between the weight vectors of one dataset, beside the write-up's 0.96.
figures.save_figure(plots.histograms({f"{k} (mean {v['pairwise_cosine']:.3f})": v["cosines"] for k, v in shells.items()},
                                     "pairwise cosine of the weight vectors, per dose", "cosine", bins=60,
                                     ylabel="pairs of shapes", marks={"thesis mean": thesis.PAIRWISE_COSINE}),
                    "shells", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The phase-6 DiT on each
# The write-up's single-view model (notebook 07's phase 6) trained on each dataset (the dose 1: notebook 04's
# dataset). For each, on the same held-out inputs and views:
# - the attractor statistics of notebook 07 on raw weight vectors: distinct nearest training shapes, the
#   fewest shapes that are nearest for half the inputs, the share of predictions closer to a training
#   vector than to their target, and the predictions' residual pairwise cosine against the targets';
# - the write-up's own statistic: the shapes in *every* input's 5 nearest, on random draws of 4 inputs (the
#   write-up: 4 shapes on its 4 inputs) and of more;
# - the nudge: with c the mean of the model's unconditional predictions (the "no image" token, same noise),
#   the share of the way from c to its target each prediction goes (`toward`: 0.03 would be the write-up's ~3 %);
# - the training loss at t = 0 (the near-clean target; the write-up: 0.189) and the meshes' F-score.

# %%
wd = config.weight_phase(config.shell_dose(cfg, 1.0), "phase6").weightdiff
rng = np.random.default_rng(SEED)
profile_ids = [train_ids[i] for i in rng.choice(len(train_ids), min(wd.profile_rows, len(train_ids)), replace=False)]
runs = {}
for name, factor in DOSES.items():
    ws = weight_sets[name]
    g = generate.train_weight_dit(config.weight_phase(config.shell_dose(cfg, factor), "phase6"), ws, train_ids,
                                  features=feats[train_ids], poses=poses, encoder=f"{enc.name}:{enc.key}", tag="phase6")
    pred, _ = g.predict(feats, poses, test_ids, wd.eval_views, seed=SEED)
    r = collapse.held_out(pred, ws.weights, ws.init[0], train_ids, test_ids, ds, ws.obj_idx, ws.spec,
                          k=wd.attractor_k, resolution=wd.mesh_resolution)
    t0 = g.loss_profile(ws.weights[profile_ids], [0, wd.timesteps // 2], features=feats[profile_ids], poses=poses,
                        k=1, seed=SEED)
    runs[name] = {"steps": g.history[-1][0], "train_seconds": g.seconds, "loss_ema": g.history[-1][1],
                  "loss_t0": float(t0[0]), "loss_mid": float(t0[1]), "residual": r["residual"],
                  "vectors": {q: v for q, v in r["vectors"].items() if q != "top1_counts"},
                  "fscore": r["mesh"]["prediction"]["fscore"],
                  **collapse.write_up_statistics(g, feats, poses, test_ids, wd.eval_views, pred,
                                                 ws.weights[test_ids].cpu(), r, seed=SEED)}
    v, n4 = r["vectors"], runs[name]["draws"].get(4, {})
    print(f"{name:12s} distinct nearest {v['distinct_top1']}/{len(test_ids)}, half from {v['rows_for_half']}, "
          f"closer {v['closer_share']:.2f}, common top-5 on 4 inputs {n4.get('common_mean', float('nan')):.2f}, "
          f"toward target {runs[name]['nudge']['toward_mean']:.3f}, loss t=0 {runs[name]['loss_t0']:.3f}, "
          f"F {runs[name]['fscore']:.3f}")

# %% [markdown]
# ## Collapse against shell thickness
# Each panel one statistic of the phase-6 DiT against the thickness of the shell it learnt, 1 − the mean
# pairwise cosine of the weight dataset (log axis: each dose a step; thinner to the left); the write-up's value
# as a line where it gives one (its shell: 1 − 0.96 = 0.04).

# %%
x = 1 - np.array([shells[k]["pairwise_cosine"] for k in DOSES])
m = len(test_ids)
stat = {
    "distinct nearest shapes / inputs": [runs[k]["vectors"]["distinct_top1"] / m for k in DOSES],
    "shapes nearest for half the inputs": [runs[k]["vectors"]["rows_for_half"] for k in DOSES],
    "closer to a training vector than target": [runs[k]["vectors"]["closer_share"] for k in DOSES],
    "shapes in every top-5 of 4 inputs": [runs[k]["draws"].get(4, {}).get("common_mean", np.nan) for k in DOSES],
    "way to the target moved by the image": [runs[k]["nudge"]["toward_mean"] for k in DOSES],
    "loss at t = 0 (standardised)": [runs[k]["loss_t0"] for k in DOSES],
    "held-out F-score": [runs[k]["fscore"] for k in DOSES],
}
refs = {"shapes nearest for half the inputs": {"thesis": thesis.ATTRACTOR_SHAPES},
        "shapes in every top-5 of 4 inputs": {"thesis": thesis.ATTRACTOR_COMMON_TOP5},
        "way to the target moved by the image": {"thesis ~3 %": thesis.CONDITIONING_NUDGE},
        "loss at t = 0 (standardised)": {"thesis": thesis.LOSS_AT_T0}}
# caption: Collapse against shell thickness: the phase-6 DiT's attractor statistics, nudge, loss at t = 0 and F-score, per weight dataset, against 1 − its mean pairwise cosine (the write-up's shell: 0.04).
figures.save_figure(plots.panels({q: {"phase-6 DiT": (x, np.asarray(y, float))} for q, y in stat.items()},
                                 "collapse against shell thickness", "1 − pairwise cosine of the weight dataset",
                                 hlines=refs, vlines={"thesis shell": 1 - thesis.PAIRWISE_COSINE}, ncols=4, logx=True),
                    "collapse_vs_shell", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The write-up's protocol: 4 inputs, and more
# How many training shapes appear in every drawn input's 5 nearest, for random draws of n held-out inputs
# (200 draws; one when n is all of them). The write-up reported 4 on its 4 inputs.

# %%
sizes = sorted({n for k in DOSES for n in runs[k]["draws"]})
# caption: Shapes common to every input's 5 nearest training shapes, for draws of n inputs, per dose (the write-up: 4 on its 4 inputs).
figures.save_figure(plots.curves({f"{k} (cos {shells[k]['pairwise_cosine']:.2f})":
                                  (sizes, [runs[k]["draws"][n]["common_mean"] for n in sizes]) for k in DOSES},
                                 "shapes in every input's 5 nearest", "inputs drawn", "shapes in common (mean)",
                                 hlines={"thesis, 4 inputs": thesis.ATTRACTOR_COMMON_TOP5}, logx_base=2),
                    "protocol_draws", notebook=NB, scale=SCALE)

# %% tags=["finding"]
thick = max(DOSES, key=lambda k: shells[k]["pairwise_cosine"])
base = next(k for k, f in DOSES.items() if f == 1)  # notebook 04's weight dataset
print(thesis.finding("pairwise cosine of the weight vectors, thinnest dose", shells[thick]["pairwise_cosine"],
                     thesis.PAIRWISE_COSINE, f"{thick}; notebook 04's: {shells[base]['pairwise_cosine']:.3f}"))
print(thesis.finding("per-shape SDF L1 median, thinnest dose", shells[thick]["sdf_l1_median"],
                     thesis.PER_SHAPE_LOSS_MEDIAN, thick))
for k in (base, thick):
    r = runs[k]
    print(thesis.finding(f"{k}, shapes that are nearest for half the inputs", r["vectors"]["rows_for_half"],
                         thesis.ATTRACTOR_SHAPES, f"of {m}; {r['vectors']['distinct_top1']} distinct"))
    print(thesis.finding(f"{k}, shapes in every top-5 of 4 inputs", r["draws"].get(4, {}).get("common_mean", np.nan),
                         thesis.ATTRACTOR_COMMON_TOP5, "mean over draws"))
    print(thesis.finding(f"{k}, way to the target the image moves a prediction", r["nudge"]["toward_mean"],
                         thesis.CONDITIONING_NUDGE))
    print(thesis.finding(f"{k}, loss at t = 0", r["loss_t0"], thesis.LOSS_AT_T0))

# %%
values = {"train_shapes": len(train_ids), "test_inputs": m, "encoder": enc.name, "lr": wc.lr,
          "lr_factors": list(wc.shell_lr_factors), "dit_steps": wd.steps, "eval_views": wd.eval_views,
          "doses": {k: {"factor": DOSES[k], **{q: v for q, v in shells[k].items() if q != "cosines"}, **runs[k]}
                    for k in DOSES}}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
