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
# # 02 · Phase 0: the anchor decoders
#
# The weight-space line starts from one shape and one small network. On the anchor shape (the
# thesis used obj_0000, a coffee table; here a coffee table of the Sweet Home 3D corpus at
# `full`, the first procedural table at `smoke`/`cpu`) we fit two decoders of the same widths:
#
# - **ReLU + PE**: xyz → positional encoding (6 bands, 39 dims) → 4 × [Linear(128), ReLU] → Linear(1),
#   exactly 54,785 parameters: the network every later weight-space phase predicts;
# - **SIREN**: the same widths on raw xyz with sine activations (ω₀ = 30), 50,177 parameters.
#
# Every later per-shape network starts from these anchors.
#
# - **Reads:** the dataset of the scale (procedural at `smoke`/`cpu`, the Sweet Home 3D pack at `full`).
# - **Writes:** runs under `checkpoints/runs/weightspace/`, figures under `figures/<scale>/02_anchor_decoders/`,
#   key numbers in `figures/values/02_anchor_decoders.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0

# %%
import numpy as np

from sdfnets import config, figures, metrics, plots, thesis
from sdfnets.data import load_or_build, render
from sdfnets.weightspace import analysis, fit
from sdfnets.weightspace.nets import FAMILIES, NetSpec

NB = "02_anchor_decoders"
cfg = config.resolve(SCALE, seed=SEED)
wc = cfg.weightspace
ds = load_or_build(cfg.data)
anchor_idx = fit.anchor_index(wc, ds)
specs = {f: NetSpec.from_config(wc, f) for f in FAMILIES}
assert specs["relu_pe"].num_params == thesis.RELU_PE_PARAMETERS, specs["relu_pe"].num_params
anchor_name = ds.shapes[anchor_idx].get("name", ds.categories[anchor_idx])
print(f"{ds}\nanchor: obj_idx {anchor_idx}, uid {ds.uid_of(anchor_idx)}, {anchor_name!r} ({ds.categories[anchor_idx]})")
for f, s in specs.items():
    print(f"{f:8s} {s.num_params:,} parameters")

# %% tags=["finding"]
print(thesis.finding("ReLU+PE decoder parameters", specs["relu_pe"].num_params, thesis.RELU_PE_PARAMETERS))

# %% [markdown]
# ## Fitting both decoders to the anchor
# Adam with cosine decay, clamped-L1 SDF loss (clamp 0.1) on random batches of the anchor's
# SDF samples (half near the surface, half uniform).

# %%
anchors = {f: fit.train_anchor(cfg, ds, f) for f in FAMILIES}
for f, a in anchors.items():
    print(f"{f:8s} final SDF L1 {a.loss[0]:.5f} after {a.meta['steps']} steps ({a.meta['seconds']:.1f} s)")
fig = plots.curves({f: tuple(np.asarray(a.meta["history"]).T) for f, a in anchors.items()},
                   "anchor training", "step", "clamped L1 (running mean)", logy=True)
# caption: Training of the two anchor decoders on the anchor shape (log scale): both reach a low SDF error.
figures.save_figure(fig, "anchor_training", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Meshes and metrics
# Marching cubes on each decoder's zero level set, measured against the anchor's ground truth
# (Chamfer, F-score at τ = 0.02, normal consistency, IoU: conventions in `sdfnets.metrics`).

# %%
res = wc.mesh_resolution
anchor_meshes = {f: analysis.meshes(specs[f], a.params, res)[0] for f, a in anchors.items()}
anchor_metrics = {f: metrics.mesh_metrics(m, ds.sdf(anchor_idx)) for f, m in anchor_meshes.items()}
images = render.thumbnails([ds.mesh(anchor_idx), *anchor_meshes.values()], 192)
fig = plots.image_grid(images, ["ground truth", *[f"{f}: F {anchor_metrics[f]['fscore']:.2f}" for f in FAMILIES]],
                       ncols=3, size=2.2, suptitle=f"anchor: {anchor_name}")
# caption: The anchor shape and what each decoder makes of it, with F-scores: the starting point of every per-shape network.
figures.save_figure(fig, "anchor_meshes", notebook=NB, scale=SCALE)
m = anchor_meshes["relu_pe"]
if m is not None:
    # caption: The ReLU+PE anchor mesh in 3-D.
    figures.save_plotly(plots.plotly_mesh(np.asarray(m.vertices), np.asarray(m.faces), "ReLU+PE anchor"),
                        "anchor_interactive", notebook=NB, scale=SCALE)
anchor_metrics

# %% [markdown]
# ## Slices through the two fields
# The same horizontal slice of each decoder's SDF: SIREN's sine features fit fine detail, and
# also put ripples where the ReLU+PE field is smooth.

# %%
grids = {f: analysis.sdf_grids(specs[f], a.params, 96)[0] for f, a in anchors.items()}
mid = 96 // 2
fig = plots.sdf_slices([grids[f][:, mid, :] for f in FAMILIES], 1.02, [f"{f}, y = 0" for f in FAMILIES], ("x", "z"))
# caption: The two decoders' fields on the slice y = 0.
figures.save_figure(fig, "anchor_sdf_slices", notebook=NB, scale=SCALE)

# %%
values = {
    "anchor": {"obj_idx": anchor_idx, "uid": ds.uid_of(anchor_idx), "name": anchor_name,
               "category": ds.categories[anchor_idx]},
    "parameters": {f: s.num_params for f, s in specs.items()},
    **{f: {"sdf_l1": float(a.loss[0]), "steps": a.meta["steps"], "seconds": a.meta["seconds"], **anchor_metrics[f]}
       for f, a in anchors.items()},
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
