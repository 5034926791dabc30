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
# # 01 · A real corpus: Sweet Home 3D furniture
#
# The thesis trained on 976 Objaverse-LVIS shapes, which cannot be downloaded without network.
# The project's real corpus is the Sweet Home 3D furniture that Debian ships (820 artist-made
# models, CC-BY 3.0 and CC-0), converted to watertight canonical meshes and committed as one
# Draco-compressed pack. This notebook shows the pack, what failed the quality gate and why,
# and the conversion itself (source model beside its canonical mesh).
#
# - **Reads:** `data/packs/sweethome3d-v1.zip`; for the before/after views the `.sh3f`
#   libraries (fetched from Debian at `cpu`/`full`, a small demo library at `smoke`).
# - **Writes:** figures under `figures/<scale>/01_real_corpus/`, key numbers in
#   `figures/values/01_real_corpus.<scale>.json`.

# %% tags=["parameters"]
SCALE = "smoke"
SEED = 0
RAW_LIBRARIES = ""  # folder of .sh3f files for the before/after views; empty: the scale's (see the intro)

# %%
from collections import Counter

import numpy as np

from sdfnets import config, figures, paths, plots
from sdfnets.data import cameras, corpora, meshes, render, splits, sweethome3d, watertight
from sdfnets.data.pack import Pack

NB = "01_real_corpus"
cfg = config.resolve(SCALE, seed=SEED)
views = cfg.corpus_views
pack = Pack(paths.packs_dir() / corpora.DEFAULT_PACK)
info = pack.info()
print(f"{info['num_shapes']} shapes, {info['num_failed']} failed the gate, {info['bytes'] / 2**20:.1f} MiB")

# %% [markdown]
# ## The corpus by category
# Sweet Home 3D's own catalogue categories (rooms, mostly); the model names carry the object class.

# %%
counts = dict(sorted(info["categories"].items(), key=lambda kv: -kv[1]))
# caption: Canonical shapes per catalogue category in the committed pack.
figures.save_figure(plots.bar_counts(counts, f"{info['num_shapes']} canonical shapes by catalogue category"),
                    "category_counts", notebook=NB, scale=SCALE)
split_counts = splits.counts([s["split"] for s in pack.shapes])
split_counts

# %%
pick = []
for cat in counts:
    pick += [s for s in pack.shapes if s["category"] == cat][:views.per_category]
poses = cameras.camera_poses(64)[[cameras.gallery_view(cameras.camera_poses(64))]]
with render.Renderer(image_size=views.image_size) as r:
    images = [r.render_views(pack.mesh(s["uid"]), poses)["images"][0] for s in pick]
fig = plots.image_grid(images, [f"{s['name'][:18]}\n{s['category']}" for s in pick], ncols=8)
# caption: A sample of the pack: artist-made furniture, converted to watertight canonical meshes.
figures.save_figure(fig, "gallery", notebook=NB, scale=SCALE)

# %% [markdown]
# ## What failed, and why
# Every model that did not pass is listed with the stage and the reason; none is silently lost.

# %%
kinds = Counter(f["reason"].split(":")[1].split("(")[0].strip() if "quality gate" in f["reason"]
                else f["stage"] for f in pack.failed)
# caption: Why the models that failed the conversion failed: the quality gate's reasons, counted.
figures.save_figure(plots.bar_counts(dict(kinds.most_common()), f"{len(pack.failed)} models failed", ylabel="models"),
                    "failure_reasons", notebook=NB, scale=SCALE)
for f in pack.failed[: views.failures_listed]:
    print(f"{f['uid']:22s} {f['name'][:28]:28s} {f['reason'][:90]}")

# %% [markdown]
# ## The quality gate in numbers
# Distance from the canonical surface to the source (gated at 0.05 of the unit sphere), and the
# face counts before and after conversion.

# %%
offsets = np.array([s["gate"]["offset_p95"] for s in pack.shapes])
faces_in = np.array([s["faces_in"] for s in pack.shapes])
fig = plots.histograms({"canonical -> source, 95th percentile": offsets}, "surface offset after conversion",
                       "distance (unit sphere)")
# caption: How far each canonical surface strays from its source (95th percentile): all under the gate's 0.05.
figures.save_figure(fig, "gate_offsets", notebook=NB, scale=SCALE)
print(f"offset p95: median {np.median(offsets):.4f}, max {offsets.max():.4f}; "
      f"source faces median {np.median(faces_in):.0f}, canonical faces median "
      f"{np.median([s['faces'] for s in pack.shapes]):.0f}")

# %% [markdown]
# ## Before and after: source model, canonical mesh
# The conversion run again live on a few models, with the same code the pack was built with.

# %%
libraries = corpora.raw_libraries(RAW_LIBRARIES or views.raw_libraries)
entries = sweethome3d.catalog_entries(libraries)
chosen = [entries[i] for i in np.linspace(0, len(entries) - 1, min(6, len(entries))).astype(int)]

# %%
pairs, titles, reports = [], [], []
with render.Renderer(image_size=views.image_size) as r:
    for lib, e in chosen:
        src, _, _ = meshes.normalize_to_unit_sphere(sweethome3d.load_model(lib, e))
        canon, rep, why = watertight.attempt(src)
        reports += [rep] if rep else []
        pairs.append(tuple(r.render_views(m, poses)["images"][0] for m in (src, canon)))
        titles.append(f"{e.name[:18]}\n{len(src.faces)} -> " + (f"{rep.faces} faces" if rep else "FAILED"))
# caption: Source models beside their canonical meshes: the wrapper closes gaps narrower than its resolution.
figures.save_figure(plots.before_after(pairs, titles), "before_after", notebook=NB, scale=SCALE)

# %% [markdown]
# ## Recorded numbers

# %%
values = {
    "pack_shapes": info["num_shapes"],
    "pack_failed": info["num_failed"],
    "pack_mib": round(info["bytes"] / 2**20, 3),
    "num_categories": len(counts),
    "splits": split_counts,
    "offset_p95_median": float(np.median(offsets)),
    "offset_p95_max": float(offsets.max()),
    "canonical_faces_median": float(np.median([s["faces"] for s in pack.shapes])),
    "all_watertight": bool(all(s["gate"]["watertight"] for s in pack.shapes)),
    "live_conversions_passed": len(reports),
    "live_conversions": len(chosen),
}
figures.record_values(NB, values, scale=SCALE, corpus="sweethome3d", num_shapes=info["num_shapes"])
values
