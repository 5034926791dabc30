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
# # 12 · Phase 12: image → latent → mesh
#
# The working image-to-3-D pipeline: views of an object → a frozen image encoder → a latent
# diffusion transformer (d_model 384, 4 layers, 6 heads, the latent a single token that
# cross-attends to the view tokens) → the 64-dim DeepSDF latent of phase 11 → decoder → marching
# cubes. We train it on the training shapes' latents at two scales, the thesis' 20-shape pilot
# and the whole corpus, and measure the write-up's claims: recall on training shapes, held-out
# test shapes against a nearest-neighbour retrieval baseline, and out-of-distribution categories.
#
# The encoder is the project's own (`viewnet`, trained here by multi-view contrastive learning on
# the training renders), because DINOv2's weights cannot be downloaded on a node without network;
# `encoder={"name": "dinov2-base"}` runs the same notebook on DINOv2 features where its weights are present.
#
# - **Reads:** the dataset of the scale; phase 11's DeepSDF runs (trained here if missing).
# - **Writes:** runs under `checkpoints/runs/`, figures under `figures/<scale>/12_image_to_latent/`, key
#   numbers in `figures/values/12_image_to_latent.<scale>.json`; at `full`, the release
#   `checkpoints/image2mesh-sweethome3d.safetensors` and its model card.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np
import torch

from sdfnets import config, figures, metrics, paths, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.data.splits import with_ood
from sdfnets.deepsdf import evaluate as ev
from sdfnets.deepsdf import release as deepsdf_release
from sdfnets.deepsdf.model import latent_to_mesh
from sdfnets.deepsdf.train import train
from sdfnets.image2latent import encoders, release
from sdfnets.image2latent import train as i2l
from sdfnets.layers import count_parameters

NB = "12_image_to_latent"
cfg = config.resolve(SCALE, seed=SEED)
dc = cfg.image2latent
ds = load_or_build(cfg.data)
train_ids, test_ids, ood_ids = with_ood(ds, dc.ood_category)  # a corpus without held-out categories holds one out
test_ids = test_ids[: dc.test_shapes]
pilot_ids = train_ids[: dc.pilot_shapes]
print(f"{ds}\ntrain {len(train_ids)}, pilot {len(pilot_ids)}, test {len(test_ids)}, "
      f"out-of-distribution {len(ood_ids)} ({', '.join(sorted({ds.categories[i] for i in ood_ids}))})")

# %% [markdown]
# ## The latents to predict: phase 11's DeepSDF at both scales

# %%
deepsdf = {"pilot": train(config.pilot_configs(cfg)[1], ds, pilot_ids), "full": train(cfg, ds, train_ids)}
shape_ids = {"pilot": pilot_ids, "full": train_ids}
for k, r in deepsdf.items():
    print(f"{k}: {len(shape_ids[k])} latents, decoder trained {r.steps} steps")

# %% [markdown]
# ## The image encoder
# Contrastive pretraining on the training shapes' renders (two views of one shape are positives),
# then frozen: features of every view of every shape, cached with the encoder's name.

# %%
bank = encoders.render_bank(ds, range(len(ds)), cfg.encoder.image_size) if cfg.encoder.name == "viewnet" else None
enc = encoders.get_encoder(cfg, ds, train_ids, bank=None if bank is None else bank[train_ids])
feats, poses = encoders.feature_cache(enc, ds, bank=bank)
del bank
print(f"encoder {enc.name}: {feats.shape[-1]}-dim features of {feats.shape[0]} shapes x {feats.shape[1]} views")
if getattr(enc, "history", None):
    # caption: The image encoder's contrastive pretraining (InfoNCE).
    figures.save_figure(plots.curves({"InfoNCE": tuple(np.asarray(enc.history).T)}, "encoder pretraining", "step",
                                     "loss"), "encoder_training", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Training the latent diffusion transformer at both scales
# Cosine schedule with T = 500, x0-prediction, K ∈ [1, 8] views per batch; the curves are the
# training loss' exponential moving average (thesis: 8 × 10⁻⁶ at 20 shapes, 5.1 × 10⁻³ at 976).

# %%
models = {k: i2l.train_dit(cfg, deepsdf[k].latents, feats[shape_ids[k]], poses, encoder=enc.name, tag=k)
          for k in deepsdf}
dit_params = count_parameters(models["full"].dit)
print(f"DiT parameters: {dit_params:,}")
# caption: Training of the latent DiT at 20 shapes (pilot) and on the whole corpus.
figures.save_figure(plots.curves({k: tuple(np.asarray(m.history).T) for k, m in models.items()},
                                 "latent DiT training", "step", "loss EMA (normalised latents)", logy=True,
                                 hlines={f"thesis, {thesis.PILOT_SHAPES} shapes": thesis.PILOT_LOSS_EMA,
                                         f"thesis, {thesis.SHAPES} shapes": thesis.FULL_LOSS_EMA}),
                    "dit_training", notebook=NB, scale=SCALE)
loss_ema = {k: m.history[-1][1] for k, m in models.items()}

# %% tags=["finding"]
print(thesis.finding("training-loss EMA, pilot", loss_ema["pilot"], thesis.PILOT_LOSS_EMA, "memorises"))
print(thesis.finding("training-loss EMA, whole corpus", loss_ema["full"], thesis.FULL_LOSS_EMA, "cannot memorise"))

# %% [markdown]
# ## Recall on training shapes
# Each training shape from `eval_views` random views, 50 DDIM steps: the cosine between the
# predicted and the true latent, the true latent's rank among all training latents, and the margin
# to the nearest other latent (thesis, 20 shapes: cosine 1.0000 with a margin above 0.4).

# %%
rec = {}
for k, m in models.items():
    pred, _ = m.predict(feats[shape_ids[k]], poses, range(len(shape_ids[k])), dc.eval_views, seed=SEED)
    r = metrics.recall(pred, deepsdf[k].latents.cpu(), range(len(shape_ids[k])))
    rec[k] = {"shapes": len(shape_ids[k]), "cos_mean": float(r["cos"].mean()), "cos_min": float(r["cos"].min()),
              "top1": float((r["rank"] == 1).mean()), "margin_median": float(np.median(r["margin"])),
              "margin_min": float(r["margin"].min())}
    print(k, {a: round(b, 4) for a, b in rec[k].items()})
fig = plots.histograms({k: metrics.recall(models[k].predict(feats[shape_ids[k]], poses, range(len(shape_ids[k])),
                                                  dc.eval_views, seed=SEED)[0], deepsdf[k].latents.cpu(),
                                      range(len(shape_ids[k])))["margin"] for k in models},
                       "recall: margin of the true latent over the nearest other", "cosine margin")
# caption: Recall on training shapes: margin of the true latent over the nearest other.
figures.save_figure(fig, "recall_margin", notebook=NB, scale=SCALE)

# %% tags=["finding"]
print(thesis.finding("pilot recall, cos(pred, true) min", rec["pilot"]["cos_min"], thesis.PILOT_RECALL_COS))
print(thesis.finding("pilot recall, margin min", rec["pilot"]["margin_min"], f"> {thesis.PILOT_RECALL_MARGIN_MIN}"))
print(f"whole corpus: the true latent is the nearest for {rec['full']['top1']:.1%} of the training shapes")

# %% [markdown]
# ## Held-out test shapes: diffusion vs retrieval
# Unseen shapes from `eval_views` of their renders. The baseline retrieves the training shape whose
# mean view feature is nearest and decodes its latent. Both meshes are measured against the truth
# (Chamfer-L1, F-score at τ = 0.02, IoU; conventions in `sdfnets.metrics`).

# %%
res = dc.mesh_resolution
dec = deepsdf["full"].decoder
z_test, views_test = models["full"].predict(feats, poses, test_ids, dc.eval_views, seed=SEED)
nn_rows = metrics.retrieve(feats, test_ids, views_test, train_ids)
z_nn = deepsdf["full"].latents.cpu()[nn_rows]
test = {}
test_meshes = {}
for name, zs in (("diffusion", z_test), ("retrieval", z_nn)):
    test_meshes[name], rows = ev.mesh_and_metrics(dec, zs, ds, test_ids, res, progress=False)
    test[name] = metrics.summarize(rows)
print({k: {a: round(b, 4) for a, b in v.items()} for k, v in test.items()})

# %%
show = list(range(min(8, len(test_ids))))
inputs = [ds.renders(test_ids[j])["images"][int(views_test[j, 0])] for j in show]
images = (inputs + render.thumbnails([ds.mesh(test_ids[j]) for j in show], 128)
          + render.thumbnails([test_meshes["diffusion"][j] for j in show], 128)
          + render.thumbnails([test_meshes["retrieval"][j] for j in show], 128))
fig = plots.image_grid(images, ncols=len(show), size=1.4,
                       suptitle="test shapes: one input view, truth, diffusion, nearest-neighbour retrieval")
# caption: Held-out test shapes: one input view, truth, the diffusion model's mesh, retrieval.
figures.save_figure(fig, "test_gallery", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Out-of-distribution categories
# Shapes of categories no model saw. For each prediction: the category of the nearest training
# latent, and how close it is to that latent (cosine near 1 = the model retrieves a training shape
# instead of producing a new one; thesis: at 20 shapes a pure retriever, at 976 category-appropriate).

# %%
ood = {}
ood_meshes = {}
for k, m in models.items():
    z_ood, views_ood = m.predict(feats, poses, ood_ids, dc.eval_views, seed=SEED)
    near = metrics.nearest_rows(z_ood, deepsdf[k].latents.cpu())
    cats = [ds.categories[shape_ids[k][int(r)]] for r in near]
    sims = torch.nn.functional.cosine_similarity(z_ood, deepsdf[k].latents.cpu()[near], dim=1)
    ood[k] = {"shapes": len(ood_ids), "nearest_categories": {c: cats.count(c) for c in sorted(set(cats))},
              "nearest_cosine_mean": float(sims.mean())}
    ood_meshes[k] = [latent_to_mesh(deepsdf[k].decoder, z, res) for z in z_ood[:8]]
    # caption: Out-of-distribution inputs (figures): the categories of their nearest training latents.
    figures.save_figure(plots.bar_counts(ood[k]["nearest_categories"],
                                         f"out-of-distribution shapes: nearest training category ({k})", ylabel="shapes"),
                        f"ood_categories_{k}", notebook=NB, scale=SCALE)
    print(k, ood[k])
show = list(range(min(8, len(ood_ids))))
images = ([ds.renders(ood_ids[j])["images"][int(views_ood[j, 0])] for j in show]
          + render.thumbnails(ood_meshes["pilot"][: len(show)], 128) + render.thumbnails(ood_meshes["full"][: len(show)], 128))
fig = plots.image_grid(images, ncols=len(show), size=1.4,
                       suptitle="out-of-distribution: one input view, 20-shape model, full model")
# caption: Out-of-distribution inputs: one view, the 20-shape model's and the full model's meshes.
figures.save_figure(fig, "ood_gallery", notebook=NB, scale=SCALE)

# %% [markdown]
# ## The release: int8 DiT + the project's encoder
# What weight-only int8 storage costs: latents of the released model against the float32 model's,
# on the test shapes (same views, same seed).

# %%
deepsdf_file = paths.RELEASE_DIR / deepsdf_release.DEFAULT_NAME  # what image2mesh decodes with
if cfg.export_release and deepsdf_release.restore_from_run(deepsdf_file, deepsdf["full"].run_dir):
    print(f"{deepsdf_file.name}: restored from phase 11's run (the export notebook 11 made of it)")
rel_path = paths.build_dir() / "release-check" / f"image2mesh-{SCALE}.safetensors"
release.export(models["full"], enc, rel_path, deepsdf=deepsdf_file)
rel_model, rel_enc, _ = release.load(rel_path, models["full"].device)
z_rel, _ = rel_model.predict(rel_enc.encode(np.stack([ds.renders(i)["images"] for i in test_ids])
                                                 .reshape(-1, *ds.renders(test_ids[0])["images"].shape[1:]))
                       .reshape(len(test_ids), -1, feats.shape[-1]).cpu(), poses, range(len(test_ids)),
                       dc.eval_views, seed=SEED)
release_cos = torch.nn.functional.cosine_similarity(z_rel, z_test, dim=1)
print(f"released vs float32 latents: cosine mean {release_cos.mean():.5f}, min {release_cos.min():.5f}; "
      f"file {rel_path.stat().st_size / 2**20:.1f} MiB")
if cfg.export_release:
    deepsdf_release.check_run(deepsdf_file, deepsdf["full"].latents)
    card = release.model_card(models["full"], enc, dit_parameters=dit_params, encoder_parameters=count_parameters(enc.net),
                              train_shapes=len(train_ids), deepsdf=deepsdf_file,
                              metrics={"recall": rec["full"], "test": test}, release_cosine=float(release_cos.mean()))
    release.export(models["full"], enc, paths.RELEASE_DIR / release.DEFAULT_NAME, deepsdf=deepsdf_file,
                   metrics={"recall": rec["full"], "test": test}, card=card)

# %%
values = {
    "encoder": enc.name, "encoder_parameters": count_parameters(enc.net) if hasattr(enc, "net") else None,
    "dit_parameters": dit_params, "loss_ema": loss_ema, "recall": rec, "test": {"shapes": len(test_ids), **test},
    "ood": ood, "release_cosine_mean": float(release_cos.mean()), "release_mib": rel_path.stat().st_size / 2**20,
    "train_seconds": {k: m.seconds for k, m in models.items()},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
