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
# # 16 · Image → mesh on objects no model saw
#
# Phase 12 recalls its training shapes almost perfectly, yet on held-out shapes it barely beats
# nearest-neighbour retrieval, while the same decoder, given a held-out shape's own SDF samples,
# reconstructs it far better (notebook 11). This notebook measures that gap on every held-out shape
# of the test split, at 1, 2, 4 and 8 views, with the cameras' true poses and with the default
# poses a user without camera data gets, beside three references on the same shapes: feature
# retrieval, **oracle retrieval** (the training shape nearest by Chamfer: the best any retrieval
# could do) and **test-time fitting** to the shape's SDF samples (the decoder's ceiling). Then it
# tries ways to close the gap: the **visual hull** of the same views (no learning: the baseline any
# image → 3-D method should beat), a **pixel-aligned SDF network** that reads each point's feature where it
# projects in each view instead of one global code per view, refining the DiT's latent until its
# silhouettes match the views, and keeping the best of several samples by the same agreement.
#
# - **Reads:** the dataset of the scale (with renders); at full scale the released pipeline under
#   `checkpoints/` (trained on exactly these training shapes), otherwise notebooks 11 and 12's runs
#   (trained here if missing); the pixel-aligned networks' runs (trained here if missing; at full scale
#   they are exported as `checkpoints/pixelsdf-sweethome3d.safetensors` and, reading the views alone,
#   `checkpoints/pixelsdf-views-sweethome3d.safetensors`).
# - **Writes:** figures under `figures/<scale>/16_image_to_mesh_generalisation/`, key numbers in
#   `figures/values/16_image_to_mesh_generalisation.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import dataclasses
import time

import numpy as np
import torch

from sdfnets import config, figures, metrics, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.data.splits import with_ood
from sdfnets.deepsdf import reconstruct
from sdfnets.image2latent import encoders
from sdfnets.image2latent import generalise as gen
from sdfnets.field import sdf_grid
from sdfnets.multiview import hull, pixelsdf, pixeltrain
from sdfnets.multiview import release as pixel_release
from sdfnets.repro.measured import measured

NB = "16_image_to_mesh_generalisation"
torch.backends.cuda.matmul.allow_tf32 = True  # grids, fits and refinement in TF32 on a GPU (notebook 15 measures the difference)
cfg = config.resolve(SCALE, seed=SEED)
dc = cfg.image2latent
ds = load_or_build(cfg.data)
train_ids, test_ids, ood_ids = with_ood(ds, dc.ood_category)
parts = gen.parts_for(cfg, ds, train_ids)
feats, cam_poses = encoders.feature_cache(parts.encoder, ds)
yfov = float(ds.renders(test_ids[0])["yfov"])
res = dc.mesh_resolution
rcfg = cfg.refine
print(f"{ds}\nheld-out test shapes {len(test_ids)}, out-of-distribution {len(ood_ids)}; pipeline: {parts.source}")

# %% [markdown]
# ## The references
# Feature retrieval at each view count, oracle retrieval and test-time fitting do not depend on the
# poses; the last two not on the views either.

# %%
t0 = time.perf_counter()
results = {}


def measure(key, compute):
    """``results[key] = compute()``, kept until the notebook finishes: a run cut short and started again takes
    the rows it had measured (`sdfnets.repro.measured`), as its trainings resume from their checkpoints."""
    results[key] = measured(NB, SCALE, key, compute)


oracle = gen.oracle_rows(ds, test_ids, train_ids, device=parts.decoder.out.weight.device)
measure("oracle retrieval", lambda: gen.measure(parts, parts.latents[oracle].cpu(), ds, test_ids, res))
measure("fitted to SDF samples", lambda: gen.measure(
    parts, reconstruct.reconstruct(parts.decoder, ds, test_ids, steps=cfg.deepsdf.recon_steps).cpu(), ds, test_ids, res))
for name in results:
    print(f"{name}: F {results[name]['fscore']:.3f}")
print(f"references in {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# ## The DiT from 1, 2, 4 and 8 views, true and default poses

# %%
conditions = [gen.Condition(k, p) for k in (1, 2, 4, 8) for p in ("known", "default")]
inputs, samples = {}, {}
for c in conditions:
    f, told, images, vids = inputs[c] = gen.view_inputs(ds, feats, cam_poses, test_ids, c, seed=SEED)
    samples[c] = gen.sample_latents(parts.model, f, told, seed=SEED)
    measure(f"diffusion, {c.name}", lambda: gen.measure(parts, samples[c], ds, test_ids, res))
    if c.poses == "known" and c.views in (1, 4):
        rows = metrics.retrieve(feats, test_ids, vids, train_ids)
        measure(f"retrieval, {c.name}", lambda: gen.measure(parts, parts.latents[rows].cpu(), ds, test_ids, res))
    print(c.name, {k: round(v["fscore"], 3) for k, v in results.items() if c.name in k},
          f"{time.perf_counter() - t0:.0f} s")

# %% [markdown]
# ## The visual hull: the same views, no learning
# A point of the cube is kept when it projects inside the object's silhouette in every view (known poses):
# the largest shape those views allow (`sdfnets.multiview.hull`). Nothing is trained, so held-out and
# out-of-distribution shapes are alike to it; concavities no silhouette sees stay filled. It is the baseline
# an image → 3-D method should beat from the same views.

# %%
for k in (1, 2, 4, 8):
    c = gen.Condition(k, "known")
    _, told, images, _ = inputs[c]
    measure(f"visual hull, {c.name}", lambda: hull.measure(ds, test_ids, images, told.numpy(), yfov, res))
    print(f"visual hull, {c.name}: F {results[f'visual hull, {c.name}']['fscore']:.3f} "
          f"(DiT {results[f'diffusion, {c.name}']['fscore']:.3f})")
# the DiT's shape held inside the hull of the same views: the silhouettes cut what they rule out
c4 = gen.Condition(4, "known")
dit_grids = (sdf_grid(parts.decoder.field(z), res, device=parts.decoder.device) for z in samples[c4])
measure(f"DiT inside the hull, {c4.name}", lambda: hull.measure(ds, test_ids, inputs[c4][2], inputs[c4][1].numpy(),
                                                                yfov, res, within=dit_grids))
print(f"DiT inside the hull, {c4.name}: F {results[f'DiT inside the hull, {c4.name}']['fscore']:.3f}")

# %% [markdown]
# ## Pixel-aligned features: reading the views where each point projects
# A small CNN per view, each query point's feature where it projects in each view with its silhouette flag and
# its coordinates in that camera's frame, mean and variance over the views, an MLP to the SDF
# (`sdfnets.multiview.pixelsdf`), trained from scratch on the training shapes' renders and SDF samples with 1 to
# `max_views` random views per step. Local features tie the prediction to the geometry in the views instead of
# to the nearest training shape. Tying tighter still (`bench/results/views-gpu.json`): without the point's own
# coordinates as an input (`pixel.world`), the network cannot fall back on where training shapes had surface;
# with maps at half the view's size (`pixel.stride`) it then gives as much F from 4 views, more from 8 and out
# of distribution and far fewer floaters, but less from 1 and 2 views, where that prior was doing the work.
# Both are trained here; `sdfnets image2mesh` reads `MANY_VIEWS` or more views with the second.

# %%
pixel, pixel_run = pixeltrain.train(cfg, ds, train_ids)
views_cfg = config.resolve(SCALE, seed=SEED, pixel=pixel_release.VIEWS_ALONE)  # maps at 1/2, no coordinates
pixel_views, _ = pixeltrain.train(views_cfg, ds, train_ids)
for k in (1, 2, 4, 8):
    c = gen.Condition(k, "known")
    _, told, images, _ = inputs[c]
    for name, net, pc in (("pixel-aligned", pixel, cfg.pixel), ("pixel-aligned, views alone", pixel_views,
                                                                  views_cfg.pixel)):
        measure(f"{name}, {c.name}", lambda: pixelsdf.measure(net, ds, test_ids, images, told.numpy(), pc.image_size,
                                                              res, pc.smooth, pc.min_part))
    print(f"pixel-aligned, {c.name}: F {results[f'pixel-aligned, {c.name}']['fscore']:.3f}, views alone "
          f"{results[f'pixel-aligned, views alone, {c.name}']['fscore']:.3f} "
          f"(hull {results[f'visual hull, {c.name}']['fscore']:.3f}, DiT {results[f'diffusion, {c.name}']['fscore']:.3f})")
# without the cameras' poses the network reads the views where the default poses say they were taken
for k in (1, 4):
    c = gen.Condition(k, "default")
    _, told, images, _ = inputs[c]
    measure(f"pixel-aligned, {c.name}", lambda: pixelsdf.measure(pixel, ds, test_ids, images, told.numpy(),
                                                                  cfg.pixel.image_size, res, cfg.pixel.smooth,
                                                                  cfg.pixel.min_part))
    print(f"pixel-aligned, {c.name}: F {results[f'pixel-aligned, {c.name}']['fscore']:.3f}")
if cfg.export_release:  # what `sdfnets image2mesh` and the demo use by default
    from sdfnets import paths  # noqa: E402

    for net, pc, prefix, name in ((pixel, cfg.pixel, "pixel-aligned, ", pixel_release.DEFAULT_NAME),
                                  (pixel_views, views_cfg.pixel, "pixel-aligned, views alone, ", pixel_release.VIEWS_NAME)):
        scores = {k.removeprefix(prefix): round(v["fscore"], 3) for k, v in results.items()
                  if k.startswith(prefix) and not k.removeprefix(prefix).startswith("views alone")}
        card = pixel_release.model_card(dataclasses.asdict(pc), parameters=sum(p.numel() for p in net.parameters()),
                                        corpus=ds.manifest["corpus"], train_shapes=len(train_ids), name=name,
                                        measured=f"Measured by notebook 16 ({len(test_ids)} held-out shapes, 128³), "
                                                 "F@0.02: " + ", ".join(f"{k} {v}" for k, v in scores.items()) + ".")
        pixel_release.export(net, dataclasses.asdict(pc), paths.RELEASE_DIR / name, corpus=ds.manifest["corpus"],
                             train_shapes=len(train_ids), metrics=scores, card=card)

# %% [markdown]
# ## Closing the gap: silhouette refinement and best-of-S sampling
# Refinement starts from the DiT's sample and follows the gradient of the silhouette loss through the
# frozen decoder at the poses the DiT was told (with default poses they are wrong, so the refinement
# is measured there too: a single photo of unknown pose is `sdfnets image2mesh --method diffusion --refine`);
# best-of-S keeps one of S samples by silhouette IoU.

# %%
for c in (gen.Condition(1, "known"), gen.Condition(1, "default"), gen.Condition(4, "known"), gen.Condition(4, "default")):
    f, told, images, _ = inputs[c]
    measure(f"refined, {c.name}", lambda: gen.measure(parts, gen.refine_all(parts, samples[c], images, told, yfov, rcfg),
                                                      ds, test_ids, res))
c4d = gen.Condition(4, "default")
f, told, images, vids = inputs[c4d]


def pose_search():
    z, found = gen.with_estimated_poses(parts, f, told, images, yfov, rcfg, seed=SEED)
    return gen.measure(parts, z, ds, test_ids, res) | {
        "pose_search_median_degrees": float(np.median(gen.view_angle_error(found, cam_poses[vids])))}


measure(f"pose search + refined, {c4d.name}", pose_search)
angles = {"pose search": results[f"pose search + refined, {c4d.name}"]["pose_search_median_degrees"],
          "default poses": float(np.median(gen.view_angle_error(told, cam_poses[vids])))}
print(f"median view-direction error: pose search {angles['pose search']:.0f} degrees, default poses "
      f"{angles['default poses']:.0f}")
c4 = gen.Condition(4, "known")
f, told, images, _ = inputs[c4]
measure(f"best of {rcfg.best_of}, {c4.name}", lambda: gen.measure(
    parts, gen.best_of_all(parts, f, told, images, yfov, rcfg.best_of, seed=SEED), ds, test_ids, res))
print(f"refinement and best-of in {time.perf_counter() - t0:.0f} s (cumulative)")
for k, v in results.items():
    print(f"{k:42s} F {v['fscore']:.3f}  CD-L1 {v['chamfer_l1']:.4f}  IoU {v['iou']:.3f}  one part {v['one_part']:.2f}")

# %% tags=["finding"]
best = max((k for k in results if "known" in k and not k.startswith("retrieval")), key=lambda k: results[k]["fscore"])
print(thesis.finding("held-out F-score, 4 views: DiT / oracle retrieval / fitted (ceiling)",
                     f"{results['diffusion, 4 views, known poses']['fscore']:.3f} / "
                     f"{results['oracle retrieval']['fscore']:.3f} / {results['fitted to SDF samples']['fscore']:.3f}",
                     "by eye"))
print(thesis.finding(f"best image-conditioned method here ({best})", f"{results[best]['fscore']:.3f}", "by eye"))

# %% [markdown]
# ## Out-of-distribution shapes, 4 views with true poses

# %%
f, told, images, vids = gen.view_inputs(ds, feats, cam_poses, ood_ids, c4, seed=SEED)
z_ood = gen.sample_latents(parts.model, f, told, seed=SEED)
ood_rows = {
    "diffusion": lambda: gen.measure(parts, z_ood, ds, ood_ids, res),
    "refined": lambda: gen.measure(parts, gen.refine_all(parts, z_ood, images, told, yfov, rcfg), ds, ood_ids, res),
    "retrieval": lambda: gen.measure(parts, parts.latents[metrics.retrieve(feats, ood_ids, vids, train_ids)].cpu(), ds,
                                     ood_ids, res),
    "visual hull": lambda: hull.measure(ds, ood_ids, images, told.numpy(), yfov, res),
    "pixel-aligned": lambda: pixelsdf.measure(pixel, ds, ood_ids, images, told.numpy(), cfg.pixel.image_size, res,
                                              cfg.pixel.smooth, cfg.pixel.min_part),
    "pixel-aligned, views alone": lambda: pixelsdf.measure(pixel_views, ds, ood_ids, images, told.numpy(),
                                                           views_cfg.pixel.image_size, res, views_cfg.pixel.smooth,
                                                           views_cfg.pixel.min_part),
    "oracle retrieval": lambda: gen.measure(parts, parts.latents[gen.oracle_rows(ds, ood_ids, train_ids)].cpu(), ds,
                                            ood_ids, res)}
ood = {name: measured(NB, SCALE, f"out of distribution: {name}", compute) for name, compute in ood_rows.items()}
ood_views = (images, told.numpy())
for k, v in ood.items():
    print(f"OOD {k:18s} F {v['fscore']:.3f}  one part {v['one_part']:.2f}  holds together {v['holds_together']:.2f}")
seconds = time.perf_counter() - t0

# %% [markdown]
# ## F-score against the number of views
# Each method's F-score on the held-out shapes from 1, 2, 4 and 8 views with their true poses; the dashed
# lines are the references that do not depend on the views. Local features keep gaining with every view;
# the DiT's global code hardly moves.

# %%
families = {"pixel-aligned": "pixel-aligned, {}", "pixel-aligned, views alone": "pixel-aligned, views alone, {}",
            "visual hull": "visual hull, {}", "DiT": "diffusion, {}",
            "DiT, default poses": "diffusion, {}"}
f_of_k = {}
for fam, key in families.items():
    ks = [k for k in (1, 2, 4, 8)
          if key.format(gen.Condition(k, "default" if "default" in fam else "known").name) in results]
    f_of_k[fam] = (np.array(ks), np.array([results[key.format(gen.Condition(k, "default" if "default" in fam
                                                                            else "known").name)]["fscore"] for k in ks]))
fig = plots.curves(f_of_k, f"held-out shapes ({len(test_ids)}): F-score@0.02 against views", "views (K)", "F-score",
                   hlines={"oracle retrieval": results["oracle retrieval"]["fscore"],
                           "latents fitted to SDF samples (ceiling)": results["fitted to SDF samples"]["fscore"]},
                   logx_base=2)
# caption: F-score against the number of known-pose views, per method, with oracle retrieval and the decoder's ceiling.
figures.save_figure(fig, "fscore_against_views", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The table as a figure

# %%
names = list(results)
# caption: F-score on every held-out shape for each method: the DiT at 1-8 views, retrieval, refinement, the decoder's ceiling.
figures.save_figure(plots.bar_counts({n: results[n]["fscore"] for n in names},
                                     f"held-out shapes ({len(test_ids)}): F-score@0.02", ylabel="F-score"),
                    "fscore_by_method", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The same shapes, every method
# Held-out shapes, then out-of-distribution ones, one per column from the same 4 views (true poses): the DiT's
# shape (and, held out, its refinement and oracle retrieval), the visual hull and the pixel-aligned network's,
# beside the truth; each titled with its F-score.

# %%
from sdfnets.deepsdf.model import latent_to_mesh  # noqa: E402
from sdfnets.field import grid_to_mesh  # noqa: E402


def across_methods(ids, images, poses, z, extra=None, n=4):
    """Rows: one input view, truth, the DiT, ``extra`` rows (name -> latents), the visual hull, the pixel-aligned
    network; one shape per column, each mesh titled with its F-score against the truth."""
    cols = list(range(min(n, len(ids))))
    rows = {"DiT": [latent_to_mesh(parts.decoder, z[j], res) for j in cols]}
    rows |= {name: [latent_to_mesh(parts.decoder, zz[j], res) for j in cols] for name, zz in (extra or {}).items()}
    rows["visual hull"] = [grid_to_mesh(hull.hull_sdf(hull.carve(render.foreground(images[j]), poses[j], yfov, res)))
                           for j in cols]
    rows["pixel-aligned"] = [grid_to_mesh(pixelsdf.sdf_grid(pixel, images[j], poses[j], cfg.pixel.image_size, res,
                                                            cfg.pixel.smooth, cfg.pixel.min_part)) for j in cols]
    truth = [ds.sdf(int(ids[j])) for j in cols]
    images_out = [images[j][0] for j in cols] + render.thumbnails([ds.mesh(ids[j]) for j in cols], 128)
    titles = ["input view"] * len(cols) + ["truth"] * len(cols)
    for name, meshes in rows.items():
        scores = metrics.mesh_metrics_many(meshes, truth, cols)
        images_out += render.thumbnails(meshes, 128)
        titles += [f"{name}\nF {r['fscore']:.2f}" for r in scores]
    return images_out, titles, len(cols)


show = list(range(min(4, len(test_ids))))
z_ref = gen.refine_all(parts, samples[c4][show], inputs[c4][2][show], inputs[c4][1][show], yfov, rcfg, progress=False)
for label, suffix, (ids, imgs, pz, z, extra) in (
        ("held-out", "", (test_ids, inputs[c4][2], inputs[c4][1].numpy(), samples[c4],
                          {"refined": z_ref, "oracle retrieval": parts.latents[oracle[show]]})),
        ("out-of-distribution", "_ood", (ood_ids, *ood_views, z_ood, None))):
    rows_img, titles, ncols = across_methods(ids, imgs, pz, z, extra)
    # caption: One shape per column from 4 known-pose views: input, truth, then each method's mesh with its F-score.
    figures.save_figure(plots.image_grid(rows_img, titles, ncols=ncols, size=1.25,
                                         suptitle=f"{label} shapes, 4 views: every method"), f"gallery{suffix}",
                        notebook=NB, scale=SCALE)

# %%
strip = {k: {m: v[m] for m in ("fscore", "chamfer_l1", "iou", "normal_consistency", "one_part", "holds_together",
                                "empty_meshes")} for k, v in results.items()}
values = {"held_out_shapes": len(test_ids), "ood_shapes": len(ood_ids), "pipeline": parts.source,
          "methods": strip, "ood": {k: {m: v[m] for m in ("fscore", "one_part", "holds_together")} for k, v in ood.items()},
          "refine": {k: getattr(rcfg, k) for k in ("steps", "lr", "res", "samples", "trust")}, "seconds": seconds,
          "pose_search_median_degrees": angles["pose search"], "default_poses_median_degrees": angles["default poses"]}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
{k: round(v["fscore"], 3) for k, v in strip.items()}
