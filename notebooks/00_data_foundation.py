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
# # 00 · The shared data foundation
#
# Every phase of the thesis reads the same data: per shape, a canonical watertight mesh in the
# unit sphere, 200,000 SDF samples (half near the surface, half uniform in the cube) and 64
# renders from a Fibonacci sphere of cameras. This notebook builds that foundation for the
# scale's corpus and shows what is in it.
#
# - **Reads:** the corpus of the scale preset (the procedural corpus at `smoke` and `cpu`).
# - **Writes:** the dataset under `data/`, figures under `figures/<scale>/00_data_foundation/`,
#   key numbers in `figures/values/00_data_foundation.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0
CORPUS = ""  # empty: the corpus of the scale preset

# %%
import time

import numpy as np

from sdfnets import config, figures, plots
from sdfnets.data import cameras, load_or_build, sampling

NB = "00_data_foundation"
cfg = config.resolve(SCALE, seed=SEED, data={"corpus": CORPUS} if CORPUS else None)
cfg.data

# %% [markdown]
# ## Build or load
# The build is resumable: interrupt it and run the cell again, it continues where it stopped.
# Shapes that fail a stage are listed in the manifest with the reason.

# %%
t0 = time.perf_counter()
ds = load_or_build(cfg.data)
build_seconds = time.perf_counter() - t0
print(ds)
print(f"{len(ds.failed)} failed:", [(f["uid"], f["stage"], f["reason"]) for f in ds.failed])

# %% [markdown]
# ## The corpus
# One render per shape (the same camera for all, front-right and above), grouped by category.

# %%
order = sorted(range(len(ds)), key=lambda i: (ds.categories[i], i))[:64]
view = cameras.gallery_view(ds.renders(0)["poses"])
images = [ds.renders(i)["images"][view] for i in order]
titles = [f"{i:04d} {ds.categories[i]}" for i in order]
fig = plots.image_grid(images, titles, ncols=8, suptitle=f"{ds.manifest['corpus']} corpus, view {view}")
# caption: One render of every shape of the corpus, by category: what every later phase trains on.
figures.save_figure(fig, "corpus_gallery", notebook=NB, scale=SCALE)

# %%
counts = {c: len(v) for c, v in sorted(ds.manifest["categories"].items())}
faces = np.array([s["meta"]["num_faces"] for s in ds.shapes])
fig = plots.bar_counts(counts, f"{len(ds)} shapes in {len(counts)} categories")
# caption: Shapes per category: the corpus is small and uneven, as the thesis' was.
figures.save_figure(fig, "category_counts", notebook=NB, scale=SCALE)
print(f"faces per mesh: median {np.median(faces):.0f}, min {faces.min()}, max {faces.max()}")

# %% [markdown]
# ## SDF samples
# Exact signed distance on the plane z = 0 (negative inside, the black line is the surface),
# and the distribution of the stored samples: near-surface ones cluster around zero.

# %%
picks = [ds.manifest["categories"][c][0] for c in list(counts)[:4]]
slices = [sampling.sdf_slice(ds.mesh(i), axis=2, resolution=96) for i in picks]
fig = plots.sdf_slices(slices, 1.0, [f"{i:04d} {ds.categories[i]}" for i in picks])
# caption: Signed distance on a slice through four shapes (negative inside): the field every decoder learns.
figures.save_figure(fig, "sdf_slices", notebook=NB, scale=SCALE)

# %%
s = ds.sdf(picks[0])
fig = plots.histograms({"near surface": s["sdf"][s["is_near"]], "uniform in cube": s["sdf"][~s["is_near"]]},
                       f"SDF samples of shape {picks[0]:04d}", "signed distance", log=True)
# caption: Where the SDF samples lie: near-surface samples concentrate at zero, uniform ones fill the cube.
figures.save_figure(fig, "sdf_histogram", notebook=NB, scale=SCALE)

# %% [markdown]
# A check on the signs: the share of uniform samples that fall inside a shape must match the
# shape's volume over the cube's volume (8). Winding-number signs make this hold shape by shape.

# %%
inside = np.array([(lambda d: (d["sdf"][~d["is_near"]] < 0).mean())(ds.sdf(i)) for i in range(len(ds))])
volume_share = np.array([s["meta"]["volume"] / 8.0 for s in ds.shapes])
sign_gap = float(np.abs(inside - volume_share).max())
print(f"inside share {inside.mean():.4f} vs volume share {volume_share.mean():.4f}; worst gap {sign_gap:.4f}")

# %%
mesh, pts = ds.mesh(picks[0]), s["points"][:: max(1, len(s["points"]) // 4000)]
vals = s["sdf"][:: max(1, len(s["points"]) // 4000)]
fig = plots.plotly_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), f"shape {picks[0]:04d} and SDF samples",
                        points=pts, values=vals)
# caption: One canonical mesh with its SDF samples coloured by signed distance.
figures.save_plotly(fig, "mesh_and_samples", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Multi-view renders
# All views of one shape: cameras on a Fibonacci sphere at distance 2.5, headlight + rim light.

# %%
r = ds.renders(picks[1])
fig = plots.image_grid(list(r["images"]), ncols=min(8, len(r["images"])), size=1.2,
                       suptitle=f"{len(r['images'])} views of shape {picks[1]:04d} ({ds.categories[picks[1]]})")
# caption: The views of one shape from the Fibonacci sphere of cameras: the image side's input.
figures.save_figure(fig, "render_views", notebook=NB, scale=SCALE)
foreground = float(np.mean([ds.renders(i)["masks"].mean() for i in range(len(ds))]))
print(f"mean foreground share of the images: {foreground:.3f}")

# %% [markdown]
# ## Recorded numbers

# %%
values = {
    "num_failed": len(ds.failed),
    "num_categories": len(counts),
    "faces_median": float(np.median(faces)),
    "uniform_inside_share": float(inside.mean()),
    "volume_share": float(volume_share.mean()),
    "sign_gap_max": sign_gap,
    "render_foreground_share": foreground,
    "num_points": int(len(s["sdf"])),
    "num_views": int(len(r["images"])),
    "load_or_build_seconds": round(build_seconds, 2),  # small when the dataset was already built
}
figures.record_values(NB, values, scale=SCALE, corpus=ds.manifest["corpus"], num_shapes=len(ds))
values
