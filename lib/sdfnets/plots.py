"""Plot builders shared by the notebooks (they return figures; :mod:`sdfnets.figures` saves them)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, NullFormatter
import numpy as np

from . import figures  # noqa: F401  (applies the project style)


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.4, suptitle: str | None = None):
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.15 if titles else 1.0)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(img)
        if titles:
            ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def sdf_slices(slices: Sequence[np.ndarray], extent: float, titles: Sequence[str], axis_labels=("x", "y")):
    """Signed distance on planar slices: diverging colours, the zero level set in black."""
    n = len(slices)
    fig, axes = plt.subplots(1, n, figsize=(3.1 * n + 1.0, 3.0), squeeze=False, layout="constrained")
    vmax = max(float(np.abs(s).max()) for s in slices)
    for ax, s, title in zip(axes[0], slices, titles):
        im = ax.imshow(s.T, origin="lower", extent=(-extent, extent, -extent, extent), cmap="RdBu_r",
                       vmin=-vmax, vmax=vmax)
        ax.contour(s.T, levels=[0.0], colors="k", linewidths=1.0, origin="lower",
                   extent=(-extent, extent, -extent, extent))
        ax.set_title(title)
        ax.set_xlabel(axis_labels[0])
        ax.grid(False)
    axes[0][0].set_ylabel(axis_labels[1])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="signed distance (negative inside)")
    return fig


def bar_counts(counts: dict[str, float], title: str, xlabel: str = "", ylabel: str = "shapes"):
    """One bar per name; with long names (method descriptions) the bars lie horizontally, in the
    given order from the top, each with its value written beside it."""
    names = list(counts)
    if max((len(k) for k in names), default=0) <= 14:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(counts) + 1.5), 3.0))
        vals = [counts[k] for k in names]
        ax.bar(names, vals, color="#7f93b8")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if all(float(v).is_integer() for v in vals):  # counts: whole-number ticks
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", rotation=45)
    else:
        fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.28 * len(names)))
        vals = [counts[k] for k in names]
        ax.barh(range(len(names)), vals, color="#7f93b8")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:.3g}", va="center", fontsize=7)
        ax.set_xlabel(ylabel)
        ax.set_xlim(0, max(vals, default=1) * 1.15 or 1)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def histograms(series: dict[str, np.ndarray], title: str, xlabel: str, bins: int = 60, log: bool = False,
               marks: dict[str, float] | None = None, ylabel: str = "count"):
    """Histograms on shared bins; ``marks`` are named values drawn as vertical lines (in the legend, each its
    own style), e.g. a median beside the thesis'. Small or large x values get a ×10^n offset, not long ticks."""
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    lo = min(float(np.min(v)) for v in series.values())
    hi = max(float(np.max(v)) for v in series.values())
    if marks:
        lo, hi = min(lo, *marks.values()), max(hi, *marks.values())
    edges = np.linspace(lo, hi, bins + 1)
    for name, v in series.items():
        ax.hist(v, bins=edges, alpha=0.6, label=name, log=log)
    styles = ["-", "--", ":", "-."]
    for i, (name, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color=f"C{1 + i // len(styles)}", ls=styles[i % len(styles)], lw=1.2, label=name)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3), useMathText=True)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plotly_mesh(vertices: np.ndarray, faces: np.ndarray, title: str = "", points: np.ndarray | None = None,
                values: np.ndarray | None = None, max_faces: int = 8000):
    """Interactive mesh, optionally with sample points coloured by a value (e.g. SDF).

    Meshes are decimated to ``max_faces`` first so the HTML stays small.
    """
    import plotly.graph_objects as go

    if len(faces) > max_faces:
        import point_cloud_utils as pcu

        vertices, faces, _, _ = pcu.decimate_triangle_mesh(np.asarray(vertices, np.float64),
                                                           np.asarray(faces, np.int32), max_faces)

    # float32 coordinates (half the bytes of float64 in the page, no visible difference) and the
    # narrowest index type plotly.js reads as a typed array: uint16 below 65,536 vertices
    vertices = np.asarray(vertices, np.float32)
    faces = np.asarray(faces, np.uint16 if len(vertices) < 2**16 else np.int32)
    if points is not None:
        points = np.asarray(points, np.float32)
        values = None if values is None else np.asarray(values, np.float32)
    data = [go.Mesh3d(x=vertices[:, 0], y=vertices[:, 2], z=vertices[:, 1], i=faces[:, 0], j=faces[:, 1],
                      k=faces[:, 2], color="#8c9dbf", opacity=1.0 if points is None else 0.35, flatshading=False,
                      name="mesh")]
    if points is not None:
        data.append(go.Scatter3d(x=points[:, 0], y=points[:, 2], z=points[:, 1], mode="markers",
                                 marker=dict(size=1.5, color=values, colorscale="RdBu_r", cmid=0.0,
                                             colorbar=dict(title="SDF")), name="samples"))
    fig = go.Figure(data)
    # Y is up in the project's frame; plotly's default camera has Z up, so axes are swapped above
    fig.update_layout(title=title, scene=dict(aspectmode="data", xaxis_title="x", yaxis_title="z",
                                              zaxis_title="y (up)"),
                      margin=dict(l=0, r=0, t=40, b=0), height=520)
    return fig


def before_after(pairs: Sequence[tuple[np.ndarray, np.ndarray]], titles: Sequence[str], size: float = 1.8):
    """Rows of (source render, canonical render) pairs."""
    n = len(pairs)
    fig, axes = plt.subplots(2, n, figsize=(n * size, 2 * size + 0.4), squeeze=False)
    for j, ((a, b), t) in enumerate(zip(pairs, titles)):
        for i, img in enumerate((a, b)):
            axes[i, j].imshow(img)
            axes[i, j].axis("off")
        axes[0, j].set_title(t, fontsize=7)
    axes[0, 0].text(-0.08, 0.5, "source", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.08, 0.5, "canonical", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    return fig


def scatter_categories(xy: np.ndarray, categories: Sequence[str], title: str, xlabel: str = "", ylabel: str = ""):
    """2-D points coloured by category, with a legend."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    cats = sorted(set(categories))
    cmap = plt.get_cmap("tab20", max(len(cats), 1))
    cat_arr = np.asarray(categories)
    for k, c in enumerate(cats):
        m = cat_arr == c
        ax.scatter(xy[m, 0], xy[m, 1], s=10, color=cmap(k), label=c, alpha=0.8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6, markerscale=1.5, loc="best", ncol=1 + len(cats) // 12)
    fig.tight_layout()
    return fig


def curves(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, xlabel: str, ylabel: str,
           logy: bool = False, band: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
           hlines: dict[str, float] | None = None, vlines: dict[str, float] | None = None,
           logx_base: int | None = None):
    """Lines (x, y) by name; optional shaded (low, high) bands and labelled reference lines; ``logx_base``: a
    log x axis of that base, ticked at the points' x values (e.g. 1, 2, 4, 8 views)."""
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    if logx_base:
        xs = sorted({float(v) for x, _ in series.values() for v in np.asarray(x)})
        ax.set_xscale("log", base=logx_base)
        ax.set_xticks(xs, [f"{v:g}" for v in xs])
        ax.set_xlim(xs[0] / 1.3, xs[-1] * 1.3)
    styles = ("-", "--", "-.", ":")  # a curve drawn over another stays visible through the gaps of its dashes
    for i, (name, (x, y)) in enumerate(series.items()):
        (line,) = ax.plot(x, y, ls=styles[i % len(styles)], marker="o" if len(x) < 20 else None, ms=3, label=name)
        if band and name in band:
            ax.fill_between(x, *band[name], color=line.get_color(), alpha=0.2, lw=0)
    for name, y in (hlines or {}).items():
        ax.axhline(y, color="0.4", ls="--", lw=0.8)
        ax.annotate(name, (ax.get_xlim()[0], y), xytext=(3, 1), textcoords="offset points", fontsize=7,
                    va="bottom", color="0.3")
    for name, x in (vlines or {}).items():
        ax.axvline(x, color="0.4", ls=":", lw=0.8)
        ax.annotate(name, (x, ax.get_ylim()[1]), fontsize=7, va="top", rotation=90, color="0.3")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    fig.tight_layout()
    return fig


def panels(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], title: str, xlabel: str,
           logy: Sequence[str] = (), hlines: dict[str, dict[str, float]] | None = None,
           vlines: dict[str, float] | None = None, ncols: int | None = None, logx: bool = False):
    """Small multiples: one axis per quantity (its name is the axis label), its lines by name, sharing x;
    for quantities that do not share a unit. ``logy`` names the panels with a log y axis, ``hlines`` their
    labelled reference lines, ``vlines`` labelled x positions drawn on every panel; ``ncols`` panels per
    row (default: all in one row); ``logx`` a log x axis."""
    ncols = min(ncols or len(panels), len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.2 * nrows), sharex=True, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    styles = ("-", "--", "-.", ":")
    for ax, (quantity, series) in zip(axes.flat, panels.items()):
        for i, (name, (x, y)) in enumerate(series.items()):
            ax.plot(x, y, ls=styles[i % len(styles)], marker="o", ms=3, label=name)
        for name, y in (hlines or {}).get(quantity, {}).items():
            ax.axhline(y, color="0.4", ls="--", lw=0.8)
            ax.annotate(name, (ax.get_xlim()[0], y), fontsize=7, va="bottom", color="0.3")
        if quantity in logy:
            ax.set_yscale("log")
        if logx:  # ticked at the data (a span under a decade would otherwise crowd minor labels)
            xs = sorted({float(v) for x, _ in series.values() for v in np.asarray(x)})
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{v:.2g}" for v in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
        for name, x in (vlines or {}).items():
            ax.axvline(x, color="0.4", ls=":", lw=0.8)
            ax.annotate(name, (x, ax.get_ylim()[1]), fontsize=7, va="top", ha="right", rotation=90, color="0.3")
        ax.set(xlabel=xlabel, ylabel=quantity)
        if len(series) > 1:
            ax.legend(fontsize=7, loc="best", framealpha=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cosine_shell(stats: dict[str, dict], low_std: float = 1e-4):
    """The warm-start cosine-shell diagnostic, four panels, one colour per weight dataset
    (``stats[name]`` from :func:`sdfnets.weightspace.analysis.shell_stats`)."""
    fig, ax = plt.subplots(2, 2, figsize=(10.0, 7.4))
    (a, b), (c, d) = ax
    for name, s in stats.items():
        cos = s["pairwise_cosine_all"]
        a.hist(cos, bins=np.linspace(-0.1, 1.0, 111), alpha=0.6, label=f"{name}: mean {cos.mean():.3f}")
        b.scatter(s["along_init"], s["across_init"], s=8, alpha=0.6, label=name)
        ev = s["pca_explained"]
        c.plot(np.arange(1, len(ev) + 1), np.cumsum(ev), label=name)
        std = np.asarray(s["std"])
        still = std <= 1e-12  # never moved from where every network started: no bar on a log axis can show them
        d.hist(np.log10(std[~still]), bins=100, alpha=0.6,
               label=f"{name}: {s['low_std_dims']:,} of {s['dims']:,} below {low_std:g}"
                     + (f"\n  ({int(still.sum()):,} of them never move: std 0, not drawn)" if still.any() else ""))
    a.set(title="pairwise cosine of trained weight vectors", xlabel="cosine", ylabel="pairs")
    b.set(title="each network: along its start vs across it", xlabel="component along the start vector",
          ylabel="norm orthogonal to the start")
    b.axvline(0, color="0.6", lw=0.6)
    c.set(title="PCA of the weight dataset", xlabel="principal components", ylabel="cumulative explained variance",
          xscale="log", ylim=(0, 1.02))
    d.axvline(np.log10(low_std), color="k", ls="--", lw=0.8, label=f"std {low_std:g} (the thesis' cut)")
    d.set(title="per-dimension std over the dataset", xlabel="log10 std", ylabel="dimensions", yscale="log")
    for x in (a, b, c, d):
        x.legend(fontsize=7)
    fig.tight_layout()
    return fig


def attractors(results: dict[str, dict], labels: dict[int, str] | None = None, space: str = "weights"):
    """The attractor diagnostic, one row per model (``results[name]`` from
    :func:`sdfnets.weightspace.collapse.held_out`): left, every held-out input's cos(prediction,
    its own target) against cos(prediction, nearest training vector) -- points above the diagonal
    landed closer to a training shape than to their target; right, how often each training shape
    is the nearest, most frequent first (a collapsed model names the same few for every input)."""
    n = len(results)
    fig, ax = plt.subplots(n, 2, figsize=(9.6, 3.3 * n), squeeze=False)
    for (a, b), (name, r) in zip(ax, results.items()):
        key = "" if space == "weights" else "residual_"
        x, y = r[f"{key}cos_true"], r[f"{key}top_cos"][:, 0]
        lo = float(min(x.min(), y.min()))
        a.plot([lo, 1], [lo, 1], color="0.5", lw=0.8, ls="--")
        a.scatter(x, y, s=14, alpha=0.75)
        a.set(title=f"{name}: {int((y > x).sum())} of {len(x)} closer to a training shape",
              xlabel="cos(prediction, its target)", ylabel="cos(prediction, nearest training)")
        counts = r["vectors"]["top1_counts"]
        top = list(counts.items())[:12]
        b.bar(range(len(top)), [c for _, c in top], color="C3")
        b.set_xticks(range(len(top)), [(labels or {}).get(k, str(k)) for k, _ in top], rotation=60, fontsize=6,
                     ha="right")
        b.set(title=f"nearest training shape over {len(x)} inputs ({len(counts)} distinct)", ylabel="inputs")
        b.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"attractors ({'raw weight vectors' if space == 'weights' else 'residuals from the common start'})")
    fig.tight_layout()
    return fig
