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
# # 10 · Phase 10: the weight autoencoder, and the autoencoder trap
#
# The rescue attempt: if 54,785 dimensions are too many for a diffusion model, compress them first.
# An autoencoder maps each network's residual from the anchor (54,785 dims) to 128 or 256 numbers
# and back. Thesis: final MSE 2.28 × 10⁻⁵, cos(reconstruction, truth) 0.9965, latent pairwise cosine
# 0.07 (the 0.96 shell opened up) — excellent by every number an autoencoder optimises, and yet the
# decoded meshes are broken. We measure the trap shape by shape (weight error beside mesh error), show
# where the residual error lands in the network and how sensitive each layer is to it, train the
# image-conditioned latent DiT of phase 12 in the AE's latent space, and try what the write-up did
# not: an autoencoder trained on the *function* (the decoded network's SDF error), not on the weights.
#
# - **Reads:** the dataset of the scale (with renders); the ReLU+PE weight dataset (notebook 04) and notebook 12's
#   encoder (each trained here if missing).
# - **Writes:** runs under `checkpoints/runs/weightae/` and `checkpoints/runs/dit/`, figures under
#   `figures/<scale>/10_weight_autoencoder/`, key numbers in `figures/values/10_weight_autoencoder.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np
import torch

from sdfnets import config, figures, inputs, metrics, plots, thesis
from sdfnets.data import render
from sdfnets.data.bank import SDFBank
from sdfnets.image2latent import encoders
from sdfnets.image2latent import train as i2l
from sdfnets.weightspace import autoencoder as wae
from sdfnets.weightspace import collapse
from sdfnets.weightspace.fit import per_shape_loss
from sdfnets.weightspace.nets import unflatten

NB = "10_weight_autoencoder"
cfg = config.resolve(SCALE, seed=SEED)
ac = cfg.autoencoder
inp = inputs.phase_inputs(cfg, test_shapes=cfg.weightdiff.test_shapes, weights=True)  # notebook 04's weight dataset
ds, train_ids, test_ids, ws = inp.dataset, inp.train_ids, inp.test_ids, inp.weights
spec, anchor = ws.spec, ws.init[0]
print(f"{ds}\ntrain {len(train_ids)}, held-out {len(test_ids)}; residuals of {spec.num_params:,} dims")

# %% [markdown]
# ## Training the autoencoders
# Weight-MSE autoencoders at each latent size (the write-up's), and one trained on the function: the
# clamped-L1 SDF error of the decoded network on the shape's own samples.

# %%
AES = {f"weight MSE, {n} dims": dict(latent=n, loss="weight") for n in ac.latents}
AES[f"function (SDF), {ac.diffusion_latent} dims"] = dict(latent=ac.diffusion_latent, loss="function")
aes = {name: wae.train_autoencoder(cfg, ws, train_ids, dataset=ds, **kw) for name, kw in AES.items()}
# caption: Training of the weight autoencoders (weight MSE) and the function-space one (SDF loss).
figures.save_figure(plots.curves({k: tuple(np.asarray(a.history).T) for k, a in aes.items()},
                                 "autoencoder training (each its own loss)", "step", "loss", logy=True),
                    "training_curves", notebook=NB, scale=SCALE)
{k: round(a.seconds, 1) for k, a in aes.items()}

# %% [markdown]
# ## The trap, shape by shape
# Training shapes (an even spread) and the held-out shapes, reconstructed by each autoencoder. Weight
# space: MSE of the residual, cosine of the whole vector (the write-up's number) and of the residual.
# Function space: the decoded network's SDF error, and its mesh against the true shape, beside the
# true per-shape decoder's own mesh (the best any reconstruction can do).

# %%
seen = train_ids[:: max(1, len(train_ids) // ac.eval_train_shapes)][: ac.eval_train_shapes]
sets = {"training": seen, "held-out": test_ids}
banks = {k: SDFBank.from_dataset(ds, v, ws.weights.device) for k, v in sets.items()}
true_meshes = {k: collapse.decode(spec, ws.weights[v], cfg.weightdiff.mesh_resolution) for k, v in sets.items()}
rows, trap = {}, {}
for sname, ids in sets.items():
    w = ws.weights[ids].float()
    truth = [ds.sdf(i) for i in ids]
    ref = metrics.mesh_metrics_many(true_meshes[sname], truth, range(len(ids)))  # over every core
    trap[("true decoders", sname)] = {"sdf_l1": float(per_shape_loss(spec, unflatten(spec, w), banks[sname]).mean()),
                                      **metrics.summarize(ref)}
    for name, a in aes.items():
        rec = a.reconstruct(w).to(w.device)
        cos = torch.nn.functional.cosine_similarity(rec, w, dim=1).cpu().numpy()
        rcos = torch.nn.functional.cosine_similarity(rec - anchor.to(w.device), w - anchor.to(w.device), dim=1).cpu().numpy()
        mse = (rec - w).pow(2).mean(1).cpu().numpy()
        sdf = per_shape_loss(spec, unflatten(spec, rec), banks[sname])
        mm = metrics.mesh_metrics_many(collapse.decode(spec, rec, cfg.weightdiff.mesh_resolution), truth, range(len(ids)))
        rows[(name, sname)] = {"cos": cos, "residual_cos": rcos, "mse": mse, "sdf_l1": sdf,
                               "fscore": np.array([r["fscore"] for r in mm]), "rec": rec, "meshes_summary": mm}
        trap[(name, sname)] = {"mse": float(mse.mean()), "cos": float(cos.mean()), "residual_cos": float(rcos.mean()),
                               "sdf_l1": float(sdf.mean()), **metrics.summarize(mm)}
for k, v in trap.items():
    print(f"{k[0]:28s} {k[1]:9s}", {a: round(b, 5) for a, b in v.items() if a in ("mse", "cos", "sdf_l1", "fscore", "iou")})

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
for name in aes:
    for sname, marker in (("training", "o"), ("held-out", "x")):
        r = rows[(name, sname)]
        ax[0].scatter(1 - r["cos"], r["fscore"], s=14, marker=marker, label=f"{name}, {sname}")
        ax[1].scatter(r["mse"], r["sdf_l1"], s=14, marker=marker)
ax[0].set(xscale="log", xlabel="1 − cos(reconstruction, truth)  (weight space)", ylabel="F-score@0.02 of its mesh",
          title="good weights, bad shapes")
ax[1].set(xscale="log", yscale="log", xlabel="weight MSE", ylabel="SDF clamped L1 of the decoded network",
          title="weight error against field error")
ax[0].legend(fontsize=6)
fig.tight_layout()
# caption: The autoencoder trap: weight cosine against mesh quality, shape by shape.
figures.save_figure(fig, "trap_scatter", notebook=NB, scale=SCALE)

# %%
w_name, f_name = f"weight MSE, {ac.diffusion_latent} dims", f"function (SDF), {ac.diffusion_latent} dims"


def gallery(sname: str):
    """Truth, the per-shape decoder and each autoencoder's reconstruction of up to six shapes of ``sname``;
    every reconstruction titled with its own weight cosine and F-score."""
    show = list(range(min(6, len(sets[sname]))))
    recon = {n: collapse.decode(spec, rows[(n, sname)]["rec"][show], cfg.weightdiff.mesh_resolution)
             for n in (w_name, f_name)}
    images = (render.thumbnails([ds.mesh(sets[sname][j]) for j in show], 128)
              + render.thumbnails([true_meshes[sname][j] for j in show], 128)
              + render.thumbnails(recon[w_name], 128) + render.thumbnails(recon[f_name], 128))
    titles = (["truth"] * len(show) + ["per-shape decoder"] * len(show)
              + [f"weight AE\ncos {rows[(w_name, sname)]['cos'][j]:.4f}, F {rows[(w_name, sname)]['fscore'][j]:.2f}"
                 for j in show]
              + [f"function AE\ncos {rows[(f_name, sname)]['cos'][j]:.4f}, F {rows[(f_name, sname)]['fscore'][j]:.2f}"
                 for j in show])
    return plots.image_grid(images, titles, ncols=len(show), size=1.6,
                            suptitle=f"{sname} shapes, one per column\nrows: truth, its decoder, the weight-MSE "
                                     f"autoencoder, the function autoencoder ({ac.diffusion_latent} dims)")


# caption: Training shapes: truth, the per-shape decoder, and each autoencoder's reconstruction (cosine, F-score).
figures.save_figure(gallery("training"), "trap_gallery", notebook=NB, scale=SCALE)
# caption: Held-out shapes, the same rows: where a weight cosine near 1 still gives a broken mesh.
figures.save_figure(gallery("held-out"), "trap_gallery_held_out", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Where the error lands, and what it costs there
# Left: the share of the weight-MSE autoencoder's squared error in each parameter tensor, beside the
# function AE's. Right: how far the field moves (mean |Δf| on the shape's samples) when an error of
# the weight-MSE AE's mean squared norm lands entirely in one tensor, in a random direction, or spread
# over the whole vector; the last bar is what the AE's actual error does.

# %%
w_seen = ws.weights[seen].float()
share = {n: wae.layer_error_share(spec, rows[(n, "training")]["rec"], w_seen) for n in (w_name, f_name)}
energy = float((rows[(w_name, "training")]["rec"] - w_seen).pow(2).sum(1).mean())
sens = wae.layer_sensitivity(spec, w_seen, banks["training"], energy, points=ac.sensitivity_points, seed=SEED)
actual = float(wae.field_change(spec, w_seen, rows[(w_name, "training")]["rec"], banks["training"],
                                points=ac.sensitivity_points, seed=SEED).mean())
fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
names = list(spec.offsets())
x = np.arange(len(names))
for k, (n, v) in enumerate(share.items()):
    ax[0].bar(x + 0.4 * k - 0.2, [v[t] for t in names], 0.4, label=n)
size = np.array([b - a for a, b in spec.offsets().values()]) / spec.num_params
ax[0].plot(x, size, "k_", ms=14, label="tensor's share of the parameters")
ax[0].set_xticks(x, names, rotation=45, fontsize=7)
ax[0].set(ylabel="share of squared error", title="where the reconstruction error lands")
ax[0].legend(fontsize=7)
bars = names + ["everywhere", "the AE's error"]
ax[1].bar(range(len(bars)), [sens[t] for t in names] + [sens["everywhere"], actual],
          color=["C0"] * len(names) + ["C7", "C3"])
ax[1].set_xticks(range(len(bars)), bars, rotation=45, fontsize=7)
ax[1].set(yscale="log", ylabel="mean |Δf|", title=f"field change for error energy {energy:.2e}")
fig.tight_layout()
# caption: Where the autoencoder's error lands against how sensitive each tensor is.
figures.save_figure(fig, "error_vs_sensitivity", notebook=NB, scale=SCALE)
{"energy": energy, "actual": actual, **sens}

# %% [markdown]
# ## How close must the weights be?
# The training shapes' own networks with an error of a given cosine added, in a random direction or
# along the weight-MSE autoencoder's error on a held-out shape (rescaled): the decoded network's SDF
# error against 1 − cos(w′, w), the autoencoders' reconstructions as points, and the meshes at the
# write-up's cosine, 0.9965.

# %%
dev = ws.weights.device
w_cpu = w_seen.cpu()
held_err = (rows[(w_name, "held-out")]["rec"].cpu() - ws.weights[test_ids].float().cpu())
levels = [0.99995, 0.9999, 0.9995, 0.999, thesis.AE_COS, 0.99, 0.98, 0.95]
g = torch.Generator().manual_seed(SEED)
KINDS = ("random direction", "the AE's error direction")
sweep, at_thesis = {k: [] for k in KINDS}, {}
for c in levels:
    for kind in KINDS:
        d = torch.randn(w_cpu.shape, generator=g) if kind == KINDS[0] else held_err[torch.arange(len(w_cpu)) % len(held_err)]
        d = d / d.norm(dim=1, keepdim=True)
        noisy = w_cpu + d * w_cpu.norm(dim=1, keepdim=True) * float(np.sqrt(1 / c**2 - 1))
        cos = float(torch.nn.functional.cosine_similarity(noisy, w_cpu, dim=1).mean())
        sweep[kind].append((1 - cos, float(per_shape_loss(spec, unflatten(spec, noisy.to(dev)), banks["training"]).mean())))
        if c == thesis.AE_COS:
            meshes = collapse.decode(spec, noisy, cfg.weightdiff.mesh_resolution)
            at_thesis[kind] = metrics.summarize(metrics.mesh_metrics_many(meshes, [ds.sdf(i) for i in seen],
                                                                          range(len(seen))))
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for kind, pts in sweep.items():
    ax.plot(*np.asarray(pts).T, marker="o", ms=3, label=f"trained networks + error, {kind}")
for name in aes:
    for sname, marker in (("training", "o"), ("held-out", "x")):
        r = rows[(name, sname)]
        ax.scatter(1 - r["cos"], r["sdf_l1"], s=10, marker=marker, alpha=0.6, label=f"{name}, {sname}")
ax.axvline(1 - thesis.AE_COS, color="k", ls="--", lw=0.8, label="the write-up's AE")
ax.axhline(trap[("true decoders", "training")]["sdf_l1"], color="0.5", ls=":", lw=0.8, label="the networks themselves")
ax.set(xscale="log", yscale="log", xlabel="1 − cos(w′, w)", ylabel="SDF clamped L1 of the decoded network",
       title="how close must the weights be?")
ax.legend(fontsize=6)
fig.tight_layout()
# caption: How close the weights must be: F-score after an error of a given cosine, in random and in the autoencoder's directions.
figures.save_figure(fig, "cosine_sweep", notebook=NB, scale=SCALE)
{k: {a: round(b, 4) for a, b in v.items() if a in ("fscore", "chamfer_l1", "iou")} for k, v in at_thesis.items()}

# %% [markdown]
# ## Diffusion in the autoencoder's latent space
# The phase-12 latent DiT (same model, same training; K ∈ [1, 8] views) trained to predict each
# training shape's AE latent from its views; held-out predictions decoded back to weights and
# measured as in notebooks 07–09 (4 views per input).

# %%
enc = encoders.get_encoder(cfg, ds, train_ids)  # notebook 12's encoder (same key)
feats, poses = encoders.feature_cache(enc, ds)
latent_results = {}
for name in (w_name, f_name):
    a = aes[name]
    z = a.encode(ws.weights[train_ids]).cpu()
    model = i2l.train_dit(cfg, z, feats[train_ids], poses, encoder=enc.name, tag=f"weightae-{a.loss}-{z.shape[1]}")
    z_pred, views = model.predict(feats, poses, test_ids, 4, seed=SEED)
    retrieved = [train_ids[int(r)] for r in metrics.retrieve(feats, test_ids, views, train_ids)]
    latent_results[name] = collapse.held_out(a.decode(z_pred).cpu(), ws.weights, anchor, train_ids, test_ids, ds,
                                             ws.obj_idx, spec, k=cfg.weightdiff.attractor_k,
                                             resolution=cfg.weightdiff.mesh_resolution, retrieved_rows=retrieved)
    latent_results[name]["latent_pairwise_cosine"] = float(metrics.pairwise_cosine(z).mean())
    latent_results[name]["dit_loss_ema"] = model.history[-1][1]
    some = np.random.default_rng(SEED).choice(len(train_ids), min(cfg.weightdiff.profile_rows, len(train_ids)), replace=False)
    latent_results[name]["loss_t0"] = float(model.loss_profile(z[some], [0], features=feats[[train_ids[i] for i in some]],
                                                               poses=poses, k=4, seed=SEED)[0])
    r = latent_results[name]
    print(name, "latent pairwise cos", round(r["latent_pairwise_cosine"], 3), "| residual cos(pred, target)",
          round(r["residual"]["cos_true_mean"], 3), "| closer", r["residual"]["closer_share"],
          "| F", round(r["mesh"]["prediction"]["fscore"], 3), "| retrieval F", round(r["mesh"]["retrieval"]["fscore"], 3))
labels = {i: f"{ds.uid_of(i).split('/')[-1]} {ds.categories[i]}" for i in range(len(ds))}
# caption: Phase 12's latent DiT on the autoencoder's codes: which training shape its predictions land nearest.
figures.save_figure(plots.attractors(latent_results, labels, "residuals"), "attractors_residuals", notebook=NB, scale=SCALE)

# %% tags=["finding"]
t = trap[(f"weight MSE, {ac.latents[0]} dims", "training")]
print(thesis.finding(f"AE ({ac.latents[0]} dims) weight MSE, training shapes", t["mse"], thesis.AE_MSE))
print(thesis.finding(f"AE ({ac.latents[0]} dims) cos(reconstruction, truth)", t["cos"], thesis.AE_COS))
print(thesis.finding("AE latent pairwise cosine", latent_results[w_name]["latent_pairwise_cosine"],
                     thesis.AE_LATENT_PAIRWISE_COSINE))
print(thesis.finding("F-score of training networks with an error at the AE's cosine, random / AE-shaped",
                     f"{at_thesis[KINDS[0]]['fscore']:.3f} / {at_thesis[KINDS[1]]['fscore']:.3f}", "broken meshes"))
print(f"F-score of the meshes, training shapes: true decoders {trap[('true decoders', 'training')]['fscore']:.3f}, "
      f"weight-MSE AE {t['fscore']:.3f}, function AE {trap[(f_name, 'training')]['fscore']:.3f}")

# %%
values = {
    "train_shapes": len(train_ids), "eval_training_shapes": len(seen), "held_out": len(test_ids),
    "autoencoders": {n: {"latent": AES[n]["latent"], "loss": AES[n]["loss"], "hidden": ac.hidden, "steps": ac.steps,
                         "parameters": sum(p.numel() for p in a.ae.parameters()), "train_seconds": a.seconds,
                         "final_loss": a.history[-1][1]} for n, a in aes.items()},
    "trap": {f"{k[0]} | {k[1]}": v for k, v in trap.items()},
    "error_share": share, "sensitivity": {"energy": energy, "actual_ae_error": actual, **sens},
    "cosine_sweep": {"levels": levels, **{k: v for k, v in sweep.items()}},
    "at_thesis_cosine": at_thesis,
    "latent_diffusion": {n: {**collapse.summary(r, ds), "latent_pairwise_cosine": r["latent_pairwise_cosine"],
                             "dit_loss_ema": r["dit_loss_ema"], "loss_t0": r["loss_t0"]}
                         for n, r in latent_results.items()},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values["trap"]
