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
# # 14 · Phases 3 and 4: a hypernetwork writes the decoders, a VAE + diffusion generates codes
#
# The prior topic-03 line, between the weight dataset (phase 1) and the weight DiTs (phases 6–10).
# **Phase 3**: instead of fitting 54,785 weights per shape, a per-layer hypernetwork *writes* each
# shape's ReLU+PE decoder from a 64-dim code. The codes are auto-decoded (each training shape owns one,
# optimised together with the hypernetwork, as DeepSDF does with its latents: no shape encoder needed,
# and the comparison with phase 11 stays clean); one linear head per parameter tensor writes that
# tensor's residual from the anchor, starting at zero, so every shape starts as the anchor (phase 1's
# warm start); the loss is the generated decoder's SDF error (function space), not a regression of
# phase 1's weights. **Phase 4**: a VAE over the codes and an unconditional diffusion model in its
# latent space; samples are decoded code → weights → mesh and measured as phase 2's were.
# Thesis: phase 3 "success at its scope (unconditional)", phase 4 "partial".
#
# - **Reads:** the dataset of the scale; the phase-1 weight dataset of notebook 04 (trained here if missing).
# - **Writes:** runs under `checkpoints/runs/hypernet/`, figures under `figures/<scale>/14_hypernetwork_vae/`, key
#   numbers in `figures/values/14_hypernetwork_vae.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np
import torch

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.data import render
from sdfnets.data.bank import SDFBank
from sdfnets.layers import count_parameters
from sdfnets.weightspace import analysis, collapse, hypernet
from sdfnets.weightspace.fit import per_shape_loss
from sdfnets.weightspace.nets import unflatten

NB = "14_hypernetwork_vae"
cfg = config.resolve(SCALE, seed=SEED)
hc = cfg.hypernet
inp = inputs.phase_inputs(cfg, weights=True)  # the shared splits; notebook 04's weight dataset (row i = shape i)
ds, train_ids, test_ids, ws = inp.dataset, inp.train_ids, inp.test_ids, inp.weights
anchor = ws.init[0]
print(f"{ds}\ntrain {len(train_ids)}, held out {len(test_ids)}")

# %% [markdown]
# ## Phase 3: training the hypernetwork

# %%
hr = hypernet.train_hypernet(cfg, ds, train_ids, anchor)

print(f"hypernetwork {count_parameters(hr.net):,} parameters + {hr.codes.numel():,} code entries; phase 1 stores "
      f"{len(train_ids) * ws.spec.num_params:,} weights for the same shapes. Trained in {hr.seconds:.0f} s "
      f"(phase 1: {ws.meta['seconds']:.0f} s for {len(ws.uids)} decoders)")
# caption: Training of the hypernetwork through the SDF loss (phase 3).
figures.save_figure(plots.curves({"hypernetwork (SDF loss)": tuple(np.asarray(hr.history).T)}, "phase 3 training",
                                 "step", "SDF L1 (unclamped prediction)", logy=True),
                    "training_curve", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Reconstruction against phase 1's per-shape decoders
# The same error phase 1 reports (clamped L1 on 32,768 samples per shape) for every training shape,
# and meshes of an even spread of them against the truth.

# %%
gen_w = hr.weights()
bank = SDFBank.from_dataset(ds, train_ids, gen_w.device)
sdf = {"hypernetwork": per_shape_loss(ws.spec, unflatten(ws.spec, gen_w), bank),
       "per-shape decoders (phase 1)": ws.loss[train_ids]}
# caption: Per-shape SDF error: the hypernetwork beside phase 1's per-shape decoders.
figures.save_figure(plots.histograms(sdf, "per-shape SDF error", "clamped L1", bins=40), "sdf_error", notebook=NB,
                    scale=SCALE)
pick = list(range(0, len(train_ids), max(1, len(train_ids) // hc.eval_shapes)))[: hc.eval_shapes]
mesh_rows, mesh_sets = {}, {}
for name, w in (("hypernetwork", gen_w[pick]), ("per-shape decoders (phase 1)", ws.weights[[train_ids[i] for i in pick]])):
    mesh_sets[name] = collapse.decode(ws.spec, w, cfg.weightspace.mesh_resolution)
    mesh_rows[name] = metrics.summarize(metrics.mesh_metrics_many(mesh_sets[name], [ds.sdf(train_ids[i]) for i in pick],
                                                                  range(len(pick))))
recon = {k: {"sdf_l1_mean": float(np.mean(sdf[k])), "sdf_l1_median": float(np.median(sdf[k])), **mesh_rows[k]}
         for k in sdf}
show = pick[:8]
images = (render.thumbnails([ds.mesh(train_ids[i]) for i in show], 128)
          + render.thumbnails(mesh_sets["per-shape decoders (phase 1)"][: len(show)], 128)
          + render.thumbnails(mesh_sets["hypernetwork"][: len(show)], 128))
# caption: Truth, phase 1's decoders and the hypernetwork's decoders.
figures.save_figure(plots.image_grid(images, ncols=len(show), size=1.4,
                                     suptitle="truth, per-shape decoder (phase 1), hypernetwork (phase 3)"),
                    "reconstruction_gallery", notebook=NB, scale=SCALE)
{k: {a: round(b, 5) for a, b in v.items()} for k, v in recon.items()}

# %% [markdown]
# ## The generated weights in the cosine shell
# Notebook 05's statistics for the hypernetwork's weights beside phase 1's, both relative to the anchor.

# %%
shell = {"hypernetwork": analysis.shell_stats(gen_w, anchor.expand_as(gen_w)),
         "per-shape decoders (phase 1)": analysis.shell_stats(ws.weights[train_ids], anchor.expand(len(train_ids), -1))}
shell_values = {k: {"pairwise_cosine": s["pairwise_cosine"], "residual_cosine": s["residual_cosine"],
                    "residual_ratio": float(np.mean(s["residual_ratio"])), "low_std_dims": s["low_std_dims"]}
                for k, s in shell.items()}
# caption: The hypernetwork's decoders in weight space: the same shell diagnostics as notebook 05.
figures.save_figure(plots.cosine_shell(shell), "cosine_shell", notebook=NB, scale=SCALE)
shell_values

# %% [markdown]
# ## Interpolating between codes
# Straight lines between two shapes' codes, each point decoded by the hypernetwork and meshed.

# %%
rng = np.random.default_rng(SEED)
pairs = [tuple(rng.choice(len(train_ids), 2, replace=False)) for _ in range(hc.interp_pairs)]
ts = np.linspace(0, 1, 5)
images, titles = [], []
for a, b in pairs:
    z = torch.stack([(1 - t) * hr.codes[a] + t * hr.codes[b] for t in ts])
    images += render.thumbnails(collapse.decode(ws.spec, hr.weights(z), cfg.weightspace.mesh_resolution), 128)
    titles += [f"t = {t:.2f}" for t in ts]
# caption: Decoders written from codes along a straight path between two shapes.
figures.save_figure(plots.image_grid(images, titles, ncols=len(ts), size=1.5, suptitle="code interpolation"),
                    "interpolation", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Phase 4: a VAE over the codes, diffusion in its latent space
# The VAE (codes standardised per dimension → 16-dim latent) and an unconditional diffusion model of
# its latent means; samples go latent → code → weights → mesh. Then the set metrics of notebook 06
# (MMD-CD, COV-CD, 1-NNA against the held-out shapes, 2,048 surface points in the unit-sphere frame)
# and the memorisation check, beside a copier of training shapes.

# %%
vae, vae_hist, cmean, cstd = hypernet.train_vae(cfg, hr.codes)
with torch.no_grad():
    mu, _ = vae.encode((hr.codes - cmean) / cstd)
dit, lmean, lstd, dit_hist, dit_seconds = hypernet.train_code_diffusion(cfg, mu)
wd = cfg.weightdiff
with torch.no_grad():
    codes = vae.dec(hypernet.sample_codes(dit, lmean, lstd, hc.samples, timesteps=wd.timesteps,
                                          steps=wd.sample_steps, seed=SEED)) * cstd + cmean
samples = collapse.decode(ws.spec, hr.weights(codes), cfg.weightspace.mesh_resolution)
empty = sum(m is None or len(m.faces) == 0 for m in samples)
clouds = {"samples": collapse.mesh_clouds(samples, wd.cloud_points, SEED),
          "held out": collapse.shape_clouds(ds, test_ids, wd.cloud_points, SEED),
          "train": collapse.shape_clouds(ds, train_ids, wd.cloud_points, SEED)}
gm = collapse.generated(clouds["samples"], clouds["held out"], clouds["train"])
copy_rows = rng.choice(len(train_ids), hc.samples, replace=len(train_ids) < hc.samples)
copier = collapse.generated(clouds["train"][copy_rows], clouds["held out"], clouds["train"])
# caption: Phase 4: the VAE over the codes and the latent diffusion model on its latents.
figures.save_figure(plots.curves({"VAE (reconstruction + β·KL)": tuple(np.asarray(vae_hist).T),
                                  "latent diffusion (loss EMA)": tuple(np.asarray(dit_hist).T)},
                                 "phase 4 training", "step", "loss", logy=True), "phase4_training", notebook=NB, scale=SCALE)
show = list(range(min(8, len(samples))))
near = [train_ids[gm["nearest_train"][j]] for j in show]
images = render.thumbnails([samples[j] for j in show], 128) + render.thumbnails([ds.mesh(i) for i in near], 128)
# caption: Phase 4 samples (top) and their nearest training shapes (bottom).
figures.save_figure(plots.image_grid(images, [f"sample {j}" for j in show] + [ds.categories[i] for i in near],
                                     ncols=len(show), size=1.5,
                                     suptitle="phase 4 samples (top) and their nearest training shape (Chamfer)"),
                    "sample_gallery", notebook=NB, scale=SCALE)
print(f"{empty} of {len(samples)} samples without a surface")
{k: {m: round(v[m], 4) for m in ("mmd", "cov", "1nna", "nearest_train_ratio")} for k, v in
 (("phase 4 samples", gm), ("copies of training shapes", copier))}

# %% tags=["finding"]
print(thesis.finding("phase 3, SDF L1 median, hypernetwork vs per-shape decoders",
                     f"{recon['hypernetwork']['sdf_l1_median']:.5f} vs {recon['per-shape decoders (phase 1)']['sdf_l1_median']:.5f}",
                     "success at its scope"))
print(thesis.finding("phase 4, 1-NNA of samples (0.5 = indistinguishable)", gm["1nna"], "partial"))

# %%
values = {
    "train_shapes": len(train_ids), "test_shapes": len(test_ids), "hypernet_parameters": count_parameters(hr.net),
    "code_entries": hr.codes.numel(), "phase1_weights": len(train_ids) * ws.spec.num_params,
    "train_seconds": {"hypernetwork": hr.seconds, "phase1_all_decoders": ws.meta["seconds"], "code_diffusion": dit_seconds},
    "reconstruction": recon, "mesh_shapes": len(pick), "shell": shell_values,
    "samples": hc.samples, "empty_meshes": empty,
    "generation": {k: gm[k] for k in ("mmd", "cov", "1nna", "memorisation", "sample_nearest_train_median",
                                      "reference_nearest_train_median", "nearest_train_ratio")},
    "copier": {k: copier[k] for k in ("mmd", "cov", "1nna", "nearest_train_ratio")},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
