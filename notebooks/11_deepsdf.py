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
# # 11 · DeepSDF: one shared decoder, one 64-dim latent per shape
#
# The pivot that works. Instead of finding a small per-shape code inside a 54,785-dim weight
# space, fix it at 64 dims by construction: a single decoder f(z, PE(x)) (8 x 512 ReLU layers
# with a skip connection, ~1.95 M parameters) trained jointly with one latent z per shape.
# This notebook reproduces the write-up's table: a 20-shape pilot where a small decoder gives
# blobs and a large one clean meshes, then the whole corpus; it adds mesh metrics, test-time
# reconstruction of unseen shapes and latent interpolation.
#
# - **Reads:** the dataset of the scale (procedural at `smoke`/`cpu`, the Sweet Home 3D pack at `full`).
# - **Writes:** runs under `checkpoints/runs/deepsdf/`, figures under `figures/<scale>/11_deepsdf/`,
#   key numbers in `figures/values/11_deepsdf.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, paths, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.data.bank import SDFBank
from sdfnets.data.splits import with_ood
from sdfnets.deepsdf import evaluate as ev
from sdfnets.deepsdf import release, reconstruct
from sdfnets.deepsdf.model import latent_to_mesh, make_decoder
from sdfnets.deepsdf.train import train
from sdfnets.layers import count_parameters
from sdfnets.metrics import pairwise_cosine, summarize

NB = "11_deepsdf"
cfg = config.resolve(SCALE, seed=SEED)
ds = load_or_build(cfg.data, renders=False)  # meshes and SDF samples are all this notebook reads
train_ids, test_ids, _ = with_ood(ds, cfg.image2latent.ood_category)  # the splits every phase shares
test_ids = test_ids[: cfg.deepsdf.recon_shapes]
res = cfg.deepsdf.mesh_resolution
print(f"{ds}\ntrain {len(train_ids)}, test {len(test_ids)}; decoder parameters "
      f"{count_parameters(make_decoder(cfg.deepsdf)):,}; recipe {cfg.deepsdf.recipe}")

# %% [markdown]
# ## The pilot: healthy losses, blob meshes
# The same shapes with a small decoder (thesis: 256 x 4, 800 epochs) and a large one (512 x 8,
# 4,000 epochs). Loss numbers and near-orthogonal latents look fine for both; the meshes do not.

# %%
pilot_ids = train_ids[: config.PILOT[SCALE]["num_shapes"]]
small_cfg, large_cfg = config.pilot_configs(cfg)
pilot = {"small": train(small_cfg, ds, pilot_ids), "large": train(large_cfg, ds, pilot_ids)}
pilot_bank = SDFBank.from_dataset(ds, pilot_ids)
pilot_l1 = {k: ev.per_shape_sdf_l1(r.decoder, r.latents, pilot_bank) for k, r in pilot.items()}
pilot_cos = {k: float(pairwise_cosine(r.latents.cpu()).mean()) for k, r in pilot.items()}
for k in pilot:
    print(f"{k}: SDF L1 mean {pilot_l1[k].mean():.5f}, max {pilot_l1[k].max():.5f}, latent cosine {pilot_cos[k]:+.3f}")

# %%
show = list(range(min(8, len(pilot_ids))))
pilot_meshes = {k: [latent_to_mesh(r.decoder, r.latents[i], res) for i in show] for k, r in pilot.items()}
images = (render.thumbnails([ds.mesh(pilot_ids[i]) for i in show], 128)
          + render.thumbnails(pilot_meshes["small"], 128) + render.thumbnails(pilot_meshes["large"], 128))
fig = plots.image_grid(images, ncols=len(show), size=1.3,
                       suptitle="pilot: ground truth (top), small decoder (middle), large decoder (bottom)")
# caption: The 20-shape pilot: truth, the small decoder's blobs and the large decoder's clean meshes.
figures.save_figure(fig, "pilot_blobs_vs_clean", notebook=NB, scale=SCALE)
pilot_metrics = {k: summarize(ev.mesh_and_metrics(pilot[k].decoder, pilot[k].latents[show], ds,
                                                     [pilot_ids[i] for i in show], res, progress=False)[1])
                 for k in pilot}
pilot_metrics

# %% tags=["finding"]
print(thesis.finding("small decoder, SDF L1 mean", pilot_l1["small"].mean(), thesis.PILOT_SMALL_SDF_L1_MEAN,
                     f"F-score {pilot_metrics['small']['fscore']:.2f}: a healthy loss, blob meshes"))
print(thesis.finding("large decoder, SDF L1 mean", pilot_l1["large"].mean(), thesis.PILOT_SDF_L1_MEAN,
                     f"F-score {pilot_metrics['large']['fscore']:.2f}: clean meshes"))
print(thesis.finding("large decoder, latent pairwise cosine", pilot_cos["large"], thesis.PILOT_LATENT_COSINE))

# %% [markdown]
# ## The whole corpus
# Every training shape, the full decoder. Per-shape SDF error (clamped L1 on 32,768 of each
# shape's samples), the latents' pairwise cosine, and the latents' two main directions.

# %%
run = train(cfg, ds, train_ids)
bank = SDFBank.from_dataset(ds, train_ids)
l1 = ev.per_shape_sdf_l1(run.decoder, run.latents, bank)
cos = pairwise_cosine(run.latents.cpu())
print(f"{run.steps} steps, {run.seconds:.0f} s, {run.points_per_second / 1e6:.2f} M point-samples/s; "
      f"SDF L1 mean {l1.mean():.5f}, max {l1.max():.5f}; latent cosine mean {cos.mean():+.3f}")

# %%
# caption: Per-shape SDF error of the DeepSDF run on the training shapes.
figures.save_figure(plots.histograms({"training shapes": l1}, "per-shape SDF error", "clamped L1"),
                    "sdf_l1_histogram", notebook=NB, scale=SCALE)
# caption: Pairwise cosines of the learned latents: spread out, unlike the weight shell.
figures.save_figure(plots.histograms({"pairs of latents": cos}, "latent pairwise cosine", "cosine"),
                    "latent_cosine_histogram", notebook=NB, scale=SCALE)
z = run.latents.cpu().numpy()
z0 = z - z.mean(0)
xy = z0 @ np.linalg.svd(z0, full_matrices=False)[2][:2].T
fig = plots.scatter_categories(xy, [ds.categories[i] for i in train_ids], "latents: first two principal directions")
# caption: The latents on their first two principal directions, by category.
figures.save_figure(fig, "latents_pca", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Meshes and their metrics
# Chamfer-L1/L2, F-score at tau = 0.02, normal consistency and volumetric IoU (conventions in
# `sdfnets.metrics`) on an even spread of training shapes plus the four worst by SDF error.

# %%
pick = ev.spread_and_worst(l1, cfg.deepsdf.eval_shapes)
meshes, rows = ev.mesh_and_metrics(run.decoder, run.latents[pick], ds, [train_ids[k] for k in pick], res)
train_metrics = summarize(rows)
train_metrics

# %%
gallery = pick[:: max(1, len(pick) // 8)][:8]
images = (render.thumbnails([ds.mesh(train_ids[k]) for k in gallery], 128)
          + render.thumbnails([meshes[pick.index(k)] for k in gallery], 128))
# caption: Training shapes (top) and their DeepSDF reconstructions (bottom).
figures.save_figure(plots.image_grid(images, [ds.categories[train_ids[k]] for k in gallery] * 2, ncols=len(gallery),
                                     size=1.4, suptitle="ground truth (top), DeepSDF reconstruction (bottom)"),
                    "mesh_gallery", notebook=NB, scale=SCALE)
m = meshes[pick.index(gallery[0])]
if m is not None:
    # caption: One DeepSDF reconstruction in 3-D.
    figures.save_plotly(plots.plotly_mesh(np.asarray(m.vertices), np.asarray(m.faces), "DeepSDF reconstruction"),
                        "mesh_interactive", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Test-time reconstruction of unseen shapes
# DeepSDF's auto-decoder inference: the decoder frozen, a latent fitted to an unseen shape's SDF
# samples, or to its surface point cloud with normals alone.

# %%
recon = {src: reconstruct.reconstruct(run.decoder, ds, test_ids, source=src, steps=cfg.deepsdf.recon_steps)
         for src in ("sdf", "points")}
test_metrics = {src: summarize(ev.mesh_and_metrics(run.decoder, zs, ds, test_ids, res, progress=False)[1])
                for src, zs in recon.items()}
test_metrics

# %% [markdown]
# ## Interpolating between two shapes

# %%
a, b = ev.other_category([ds.categories[i] for i in train_ids], pick)
path = ev.interpolate(run.decoder, run.latents[a], run.latents[b], num=6, resolution=res)
# caption: Decoding along the straight path between two latents of different categories.
figures.save_figure(plots.image_grid(render.thumbnails(path, 128), ncols=6, size=1.4,
                                     suptitle=f"{ds.categories[train_ids[a]]} -> {ds.categories[train_ids[b]]}"),
                    "interpolation", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The scaling table, beside the thesis

# %% tags=["finding"]
print(thesis.finding("whole corpus, SDF L1 mean", l1.mean(), thesis.FULL_SDF_L1_MEAN,
                     f"{len(train_ids)} shapes here, {thesis.SHAPES} in the thesis"))
print(thesis.finding("whole corpus, SDF L1 max", l1.max(), thesis.FULL_SDF_L1_MAX))
print(thesis.finding("whole corpus, latent pairwise cosine", cos.mean(), thesis.FULL_LATENT_COSINE,
                     "the 64-dim space has room for every shape"))
print(thesis.finding("pilot, SDF L1 max", pilot_l1["large"].max(), thesis.PILOT_SDF_L1_MAX))

# %%
values = {
    "decoder_parameters": count_parameters(make_decoder(cfg.deepsdf)),
    "pilot": {k: {"sdf_l1_mean": float(pilot_l1[k].mean()), "sdf_l1_max": float(pilot_l1[k].max()),
                  "latent_cosine": pilot_cos[k], **pilot_metrics[k]} for k in pilot},
    "full": {"shapes": len(train_ids), "sdf_l1_mean": float(l1.mean()), "sdf_l1_max": float(l1.max()),
             "latent_cosine": float(cos.mean()), "steps": run.steps, "train_seconds": run.seconds,
             "points_per_second": run.points_per_second, "recipe": cfg.deepsdf.recipe, **train_metrics},
    "test_reconstruction": {"shapes": len(test_ids), **test_metrics},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values

# %% [markdown]
# ## The release
# At `full`, the trained decoder and latents become `checkpoints/deepsdf-sweethome3d.safetensors` (fp16, with
# its model card); the image-to-mesh release of notebook 12 names this file by its SHA-256.

# %%
if cfg.export_release:
    card = release.model_card(cfg, values, corpus=ds.manifest["corpus"], seconds=run.seconds,
                              points_per_second=run.points_per_second)
    release.export(run.run_dir, paths.RELEASE_DIR / release.DEFAULT_NAME, dataset=ds,
                   metrics=values, card=card)
