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
# # 15 · Phases 11 and 12 against the number of training shapes
#
# The write-up compares its 20-shape pilot with the whole corpus and claims that category-appropriate
# out-of-distribution generation *appears with scale*. Two points do not make a curve: here phase 11
# (DeepSDF) and phase 12 (the latent DiT) are trained on the first N training shapes for several N,
# with everything else fixed (recipe, epochs per shape, encoder, held-out shapes), and measured the
# way notebooks 11 and 12 measure them: SDF error and latent spread, meshes, the DiT's training loss
# and recall, held-out test shapes against retrieval, and what out-of-distribution inputs become:
# the nearest training latent, and whether each OOD mesh holds together (connected parts, the
# largest part's share of the volume) and resembles the true figure or the training shape it is
# nearest to (F-score against each).
#
# - **Reads:** the dataset of the scale (with renders); notebook 12's encoder (trained here if missing).
# - **Writes:** runs under `checkpoints/runs/`, figures under `figures/<scale>/15_deepsdf_scaling/`, key numbers in
#   `figures/values/15_deepsdf_scaling.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import time

import numpy as np
import torch

from sdfnets import config, figures, metrics, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.data.bank import SDFBank
from sdfnets.data.splits import with_ood
from sdfnets.deepsdf import evaluate as ev
from sdfnets.deepsdf.train import train
from sdfnets.image2latent import encoders
from sdfnets.image2latent.model import onto_training_latents
from sdfnets.image2latent import train as i2l

NB = "15_deepsdf_scaling"
cfg = config.resolve(SCALE, seed=SEED)
dc = cfg.image2latent
ds = load_or_build(cfg.data)
train_ids, test_ids, ood_ids = with_ood(ds, dc.ood_category)
test_ids = test_ids[: dc.test_shapes]
sizes = sorted({n if n and n < len(train_ids) else len(train_ids) for n in dc.scaling_shapes})
scfg = config.scaling_config(cfg)  # the recipe at every N (at full: 400 epochs and 4,000 DiT steps)
enc = encoders.get_encoder(cfg, ds, train_ids)  # notebook 12's encoder, trained on every training shape's renders
feats, poses = encoders.feature_cache(enc, ds)
print(f"{ds}\nN = {sizes}; held-out test {len(test_ids)}, out-of-distribution {len(ood_ids)}; "
      f"phase 11: {scfg.deepsdf.epochs} epochs per shape, phase 12: {scfg.image2latent.steps} steps at every N")

# %% [markdown]
# ## Training at every N
# Phase 11 with the same epochs per shape at every N, then phase 12 (the same steps) on its latents.

# %%
def ood_measures(decoder, z_ood, bank_latents, ids):
    """What out-of-distribution latents become: parts of each mesh, F against the true figure and
    against the nearest training shape (by latent cosine)."""
    near = metrics.nearest_rows(z_ood, bank_latents)
    meshes, truth = ev.mesh_and_metrics(decoder, z_ood, ds, ood_ids, dc.mesh_resolution, progress=False)
    to_near = metrics.mesh_metrics_many(meshes, [ds.sdf(ids[int(r)]) for r in near], range(len(meshes)))
    return meshes, near, {**metrics.parts_summary(truth),  # each row holds the mesh's connected parts too
                          "fscore_truth": metrics.summarize(truth)["fscore"],
                          "fscore_nearest_training": metrics.summarize(to_near)["fscore"]}


# Evaluation grids (over 800 of 128^3 here) use TF32 matrix products on the GPU, about 8x faster than
# float32; how far that moves the field is measured on one grid and recorded.
tf32_check = None
if torch.cuda.is_available():
    from sdfnets.field import sdf_grid
    run0 = train(scfg, ds, train_ids[: sizes[0]])
    exact = sdf_grid(run0.decoder.field(run0.latents[0]), dc.mesh_resolution, device="cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    fast = sdf_grid(run0.decoder.field(run0.latents[0]), dc.mesh_resolution, device="cuda")
    near = np.abs(exact) < 0.05
    tf32_check = {"max_abs": float(np.abs(fast - exact).max()), "max_abs_near_surface": float(np.abs(fast - exact)[near].max()),
                  "sign_flips": int(((fast < 0) != (exact < 0)).sum())}
    print("TF32 against float32 on one grid:", tf32_check)

def at_n(n):
    """Phases 11 and 12 on the first n training shapes, measured; with what the OOD section reuses."""
    t0 = time.perf_counter()
    ids = train_ids[:n]
    run = train(scfg, ds, ids)
    l1 = ev.per_shape_sdf_l1(run.decoder, run.latents, SDFBank.from_dataset(ds, ids, run.latents.device))
    pick = ev.spread_and_worst(l1, dc.scaling_eval_shapes, worst=1)
    _, mrows = ev.mesh_and_metrics(run.decoder, run.latents[pick], ds, [ids[k] for k in pick], dc.mesh_resolution,
                                   progress=False)
    model = i2l.train_dit(scfg, run.latents, feats[ids], poses, encoder=enc.name, tag=f"scaling-{n}", progress=False)
    pred, _ = model.predict(feats[ids], poses, range(n), dc.eval_views, seed=SEED)
    rec = metrics.recall(pred, run.latents.cpu(), range(n))
    z_test, views = model.predict(feats, poses, test_ids, dc.eval_views, seed=SEED)
    nn_rows = metrics.retrieve(feats, test_ids, views, ids)
    test = {name: metrics.summarize(ev.mesh_and_metrics(run.decoder, z, ds, test_ids, dc.mesh_resolution,
                                                        progress=False)[1])
            for name, z in (("diffusion", z_test), ("retrieval", run.latents.cpu()[nn_rows]))}
    z_ood, ood_views = model.predict(feats, poses, ood_ids, dc.eval_views, seed=SEED)
    ood_meshes, near, ood = ood_measures(run.decoder, z_ood, run.latents.cpu(), ids)
    row = {"sdf_l1_mean": float(l1.mean()), "sdf_l1_max": float(l1.max()),
           "latent_cosine": float(metrics.pairwise_cosine(run.latents.cpu()).mean()) if n > 1 else float("nan"),
           "mesh": metrics.summarize(mrows), "dit_loss_ema": model.history[-1][1],
           "recall_top1": float((rec["rank"] == 1).mean()), "recall_cos": float(rec["cos"].mean()),
           "test": test,
           "ood_nearest_cosine": float(torch.nn.functional.cosine_similarity(z_ood, run.latents.cpu()[near]).mean()),
           "ood_nearest_categories": len({ds.categories[ids[int(r)]] for r in near}),
           "ood": ood, "seconds": {"deepsdf": run.seconds, "dit": model.seconds, "total": time.perf_counter() - t0}}
    return row, (run, model, ids, z_test, z_ood, ood_views, ood_meshes)


rows = {}
for n in sizes:  # the OOD section below reuses the largest N's models
    rows[n], (run, model, ids, z_test, z_ood, ood_views, ood_meshes) = at_n(n)
    print(n, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[n].items() if k in
              ("sdf_l1_mean", "latent_cosine", "dit_loss_ema", "recall_top1", "ood_nearest_cosine")},
          "test F diffusion / retrieval", round(rows[n]["test"]["diffusion"]["fscore"], 3),
          round(rows[n]["test"]["retrieval"]["fscore"], 3),
          f"OOD holds together {rows[n]['ood']['holds_together']:.2f}, {rows[n]['seconds']['total']:.0f} s")

# %% [markdown]
# ## The curves

# %%
ns = np.array(sizes)
# caption: Against the number of training shapes N: the decoder's SDF error and the latent DiT's loss, each on its own axis.
figures.save_figure(plots.panels({
    "clamped SDF L1 (training shapes)": {"mean": (ns, [rows[n]["sdf_l1_mean"] for n in sizes]),
                                         "max": (ns, [rows[n]["sdf_l1_max"] for n in sizes])},
    "latent DiT loss EMA": {"ours": (ns, [rows[n]["dit_loss_ema"] for n in sizes])}},
    "phase 11 fit and phase 12 loss against N", "training shapes N", logy=("clamped SDF L1 (training shapes)",
                                                                         "latent DiT loss EMA"),
    hlines={"latent DiT loss EMA": {"thesis, 20 shapes": thesis.PILOT_LOSS_EMA,
                                    f"thesis, {thesis.SHAPES} shapes": thesis.FULL_LOSS_EMA}}),
    "fit_and_loss", notebook=NB, scale=SCALE)
# caption: Against N: recall on training shapes, held-out F-score of the DiT beside retrieval, and three views of the out-of-distribution outputs.
figures.save_figure(plots.panels({
    "recall top-1 (training shapes)": {"DiT": (ns, [rows[n]["recall_top1"] for n in sizes])},
    "held-out F-score@0.02": {"diffusion": (ns, [rows[n]["test"]["diffusion"]["fscore"] for n in sizes]),
                              "retrieval": (ns, [rows[n]["test"]["retrieval"]["fscore"] for n in sizes])},
    "OOD: cosine to nearest training latent": {"DiT": (ns, [rows[n]["ood_nearest_cosine"] for n in sizes])},
    "OOD: share with one part ≥ 90 % of volume": {"DiT": (ns, [rows[n]["ood"]["holds_together"] for n in sizes])},
    "OOD: F-score against the true figure": {"DiT": (ns, [rows[n]["ood"]["fscore_truth"] for n in sizes])}},
    "phase 12 against N", "training shapes N"),
    "image_to_latent", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Out-of-distribution outputs that hold together: onto the training latents' manifold
# At the largest N, each predicted latent is pulled towards a kernel average of its nearest training
# latents (`onto_training_latents`: blend 0 = the DiT's sample, 1 = the average, which lies in the
# convex hull of k training latents), and measured on the out-of-distribution shapes (parts, F against
# the true figure) and on the held-out test shapes (F), beside retrieval (the nearest training shape
# by image features) on both.

# %%
bank = run.latents.cpu()
ood_rows = metrics.retrieve(feats, ood_ids, ood_views, ids)
retr_meshes, retr_ood = ev.mesh_and_metrics(run.decoder, bank[ood_rows], ds, ood_ids, dc.mesh_resolution,
                                            progress=False)
manifold = {"retrieval": {"ood_fscore_truth": metrics.summarize(retr_ood)["fscore"],
                          "ood_holds_together": metrics.parts_summary(retr_ood)["holds_together"],
                          "test_fscore": rows[n]["test"]["retrieval"]["fscore"]}}
galleries = {}
galleries[0.0] = ood_meshes  # blend 0: the DiT's samples, measured in the loop
manifold["blend 0"] = {"ood_fscore_truth": rows[n]["ood"]["fscore_truth"], "ood_holds_together": rows[n]["ood"]["holds_together"],
                       "ood_one_part": rows[n]["ood"]["one_part"], "test_fscore": rows[n]["test"]["diffusion"]["fscore"]}
for blend in (0.5, 1.0):
    zo = onto_training_latents(z_ood, bank, dc.ood_neighbours, blend)
    zt = onto_training_latents(z_test, bank, dc.ood_neighbours, blend)
    galleries[blend], _, o = ood_measures(run.decoder, zo, bank, ids)
    t = metrics.summarize(ev.mesh_and_metrics(run.decoder, zt, ds, test_ids, dc.mesh_resolution, progress=False)[1])
    manifold[f"blend {blend:g}"] = {"ood_fscore_truth": o["fscore_truth"], "ood_holds_together": o["holds_together"],
                                    "ood_one_part": o["one_part"], "test_fscore": t["fscore"]}
    print(f"blend {blend:g}", {k: round(v, 3) for k, v in manifold[f"blend {blend:g}"].items()})
show = list(range(min(8, len(ood_ids))))
images = [ds.renders(ood_ids[j])["images"][int(ood_views[j, 0])] for j in show]
for b in (0.0, 1.0):
    images += render.thumbnails([galleries[b][j] for j in show], 128)
# caption: Out-of-distribution inputs: the DiT's sample and the same latent moved onto the training latents' manifold.
figures.save_figure(plots.image_grid(images, ncols=len(show), suptitle="out-of-distribution: one input view, the DiT's "
                                    "sample, the same latent moved onto the training latents' manifold (blend 1)"),
                    "ood_manifold_gallery", notebook=NB, scale=SCALE)
# caption: Share of out-of-distribution meshes in one part, for each blend towards the training manifold.
figures.save_figure(plots.bar_counts({k: v["ood_holds_together"] for k, v in manifold.items()},
                                     f"OOD meshes whose largest part holds ≥ 90 % of the volume (N = {n})", ylabel="share"),
                    "ood_manifold", notebook=NB, scale=SCALE)

# %% tags=["finding"]
lo, hi = sizes[0], sizes[-1]
print(thesis.finding(f"latent DiT loss EMA at N = {lo} / {hi}", f"{rows[lo]['dit_loss_ema']:.2e} / {rows[hi]['dit_loss_ema']:.2e}",
                     f"{thesis.PILOT_LOSS_EMA:.0e} / {thesis.FULL_LOSS_EMA:.1e} (20 / {thesis.SHAPES})"))
print(thesis.finding(f"OOD predictions' cosine to the nearest training latent, N = {lo} / {hi}",
                     f"{rows[lo]['ood_nearest_cosine']:.3f} / {rows[hi]['ood_nearest_cosine']:.3f}",
                     "retrieval at 20, category-appropriate at 976"))

# %%
values = {"sizes": sizes, "test_shapes": len(test_ids), "ood_shapes": len(ood_ids), "by_n": rows,
          "epochs_per_shape": scfg.deepsdf.epochs, "dit_steps": scfg.image2latent.steps, "ood_manifold": manifold,
          "tf32_grid_check": tf32_check}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
{n: {k: rows[n][k] for k in ("sdf_l1_mean", "dit_loss_ema", "recall_top1")} for n in sizes}
