"""A deterministic, seeded corpus of categorised shapes built from analytic SDF primitives.

Eight furniture-and-object categories with real within-category variation (proportions,
leg counts, thin parts, holes), meshed by marching cubes and fed through the same pipeline
as real meshes. Shape ``i`` of a corpus with seed ``s`` is the same on every machine; the
category cycles through :data:`CATEGORIES` so any N >= 8 covers all of them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from . import primitives as P

SDF = Callable[[np.ndarray], np.ndarray]
VERSION = 1  # bump when a change alters generated geometry: built datasets are keyed by it


def _table(rng):
    h = rng.uniform(0.7, 1.3)
    y0, ytop = -h / 2, h / 2
    t = rng.uniform(0.03, 0.08)
    legs = rng.choice(["four", "three", "pedestal"], p=[0.5, 0.25, 0.25])
    round_top = legs != "four" and rng.random() < 0.7 or legs == "four" and rng.random() < 0.2
    w = rng.uniform(0.5, 0.9)
    d = w if round_top else w * rng.uniform(0.45, 0.9)
    lr = rng.uniform(0.025, 0.06)
    parts = []
    if round_top:
        parts.append(lambda p: P.cylinder_y(p, (0, ytop - t, 0), w, t))
    else:
        parts.append(lambda p: P.box(p, (0, ytop - t, 0), (w, t, d)))
    leg_top = ytop - t  # legs reach into the top so the table is one piece
    if legs == "pedestal":
        parts.append(lambda p: P.cylinder_y(p, (0, (y0 + leg_top) / 2, 0), lr * 1.6, (leg_top - y0) / 2))
        foot = rng.uniform(0.25, 0.45) * w
        parts.append(lambda p: P.cylinder_y(p, (0, y0 + 0.025, 0), foot, 0.025))
        n_legs = 1
    else:
        n_legs = 4 if legs == "four" else 3
        inset = rng.uniform(0.75, 0.92)
        if legs == "four":
            k = inset / np.sqrt(2) if round_top else inset  # stay under a round top
            corners = [(sx * w * k, sz * d * k) for sx in (-1, 1) for sz in (-1, 1)]
        else:
            ang = np.arange(3) * 2 * np.pi / 3
            corners = [(w * inset * np.cos(a), d * inset * np.sin(a)) for a in ang]
        for cx, cz in corners:
            parts.append(lambda p, cx=cx, cz=cz: P.cylinder_y(p, (cx, (y0 + leg_top) / 2, cz), lr,
                                                              (leg_top - y0) / 2))
        if legs == "four" and rng.random() < 0.35:  # lower shelf between the legs
            ys = y0 + rng.uniform(0.15, 0.35) * h
            parts.append(lambda p: P.box(p, (0, ys, 0), (w * inset, 0.015, d * inset)))
    return (lambda p: P.union(*[f(p) for f in parts])), {"legs": int(n_legs), "round_top": bool(round_top)}


def _chair(rng):
    w, d = rng.uniform(0.28, 0.42), rng.uniform(0.28, 0.42)
    seat_h = rng.uniform(0.35, 0.55)
    back_h = rng.uniform(0.35, 0.75)
    y0 = -(seat_h + back_h) / 2
    ys = y0 + seat_h
    st = rng.uniform(0.025, 0.05)
    lr = rng.uniform(0.018, 0.035)
    bt = rng.uniform(0.02, 0.04)
    style = rng.choice(["panel", "slats", "frame"])
    parts = [lambda p: P.box(p, (0, ys, 0), (w, st, d))]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(lambda p, sx=sx, sz=sz: P.cylinder_y(
                p, (sx * (w - lr), (y0 + ys) / 2, sz * (d - lr)), lr, (ys - y0) / 2))
    bz = -d + bt
    ytop = ys + back_h
    n_slats = 0
    if style == "panel":
        parts.append(lambda p: P.box(p, (0, (ys + ytop) / 2, bz), (w, back_h / 2, bt)))
    elif style == "frame":
        m = rng.uniform(0.05, 0.09)
        parts.append(lambda p: P.subtract(P.box(p, (0, (ys + ytop) / 2, bz), (w, back_h / 2, bt)),
                                          P.box(p, (0, (ys + ytop) / 2, bz), (w - m, back_h / 2 - m, 2 * bt))))
    else:
        n_slats = int(rng.integers(2, 6))
        parts.append(lambda p: P.box(p, (0, ytop - 0.04, bz), (w, 0.04, bt)))
        for x in np.linspace(-w + lr, w - lr, n_slats):
            parts.append(lambda p, x=x: P.box(p, (x, (ys + ytop) / 2, bz), (0.02, back_h / 2, bt)))
    arms = rng.random() < 0.35
    if arms:
        ya = ys + rng.uniform(0.15, 0.25)
        for sx in (-1, 1):
            parts.append(lambda p, sx=sx: P.box(p, (sx * (w - 0.03), ya, 0), (0.03, 0.02, d)))
            parts.append(lambda p, sx=sx: P.cylinder_y(p, (sx * (w - 0.03), (ys + ya) / 2, d - 0.04), 0.02,
                                                       (ya - ys) / 2))
    return (lambda p: P.union(*[f(p) for f in parts])), {"back": str(style), "slats": n_slats, "arms": bool(arms)}


def _lamp(rng):
    pole_h = rng.uniform(0.6, 1.1)
    shade_h = rng.uniform(0.2, 0.4)
    y0 = -(pole_h + shade_h * 0.6) / 2
    base_r, base_t = rng.uniform(0.15, 0.3), rng.uniform(0.02, 0.05)
    pr = rng.uniform(0.015, 0.03)
    ytop = y0 + pole_h
    shade = rng.choice(["cone", "globe"], p=[0.7, 0.3])
    parts = [lambda p: P.cylinder_y(p, (0, y0 + base_t, 0), base_r, base_t),
             lambda p: P.cylinder_y(p, (0, (y0 + ytop) / 2, 0), pr, (ytop - y0) / 2)]
    if shade == "cone":
        rb, rt = rng.uniform(0.2, 0.38), rng.uniform(0.08, 0.2)
        th = rng.uniform(0.02, 0.035)
        sb = ytop - shade_h * 0.5
        prof = lambda y: rb + (rt - rb) * (y - sb) / shade_h  # noqa: E731
        outer = lambda p: P.revolve_y(p, sb, sb + shade_h, prof)  # noqa: E731
        inner = lambda p: P.revolve_y(p, sb - 1, sb + shade_h + 1, lambda y: prof(y) - th)  # noqa: E731
        parts.append(lambda p: P.subtract(outer(p), inner(p)))
        ym = sb + shade_h * 0.5
        rm = prof(ym) - th / 2
        for a in np.arange(3) * 2 * np.pi / 3:  # spokes from the pole to the shade
            parts.append(lambda p, a=a: P.capsule(p, (0, ym, 0), (rm * np.cos(a), ym, rm * np.sin(a)), 0.02))
        parts.append(lambda p: P.sphere(p, (0, ytop, 0), pr * 2))
    else:
        gr = rng.uniform(0.12, 0.22)
        parts.append(lambda p: P.sphere(p, (0, ytop + gr * 0.8, 0), gr))
    return (lambda p: P.union(*[f(p) for f in parts])), {"shade": str(shade)}


def _mug(rng):
    r = rng.uniform(0.22, 0.38)
    h = rng.uniform(0.35, 0.75)
    wall = rng.uniform(0.025, 0.05)
    taper = rng.uniform(0.0, 0.25) if rng.random() < 0.3 else 0.0
    y0, y1 = -h / 2, h / 2
    prof = lambda y: r * (1 - taper * (y1 - y) / h)  # noqa: E731
    outer = lambda p: P.revolve_y(p, y0, y1, prof)  # noqa: E731
    cavity = lambda p: P.revolve_y(p, y0 + wall * 1.5, y1 + 1, lambda y: prof(y) - wall)  # noqa: E731
    hr = rng.uniform(0.1, min(0.2, h / 2.5))
    hm = rng.uniform(0.022, 0.04)
    # keep only the part of the ring outside the wall: half-space x > r - wall / 2
    handle = lambda p: P.intersect(P.torus(p, (r, 0, 0), hr, hm, axis=2), (r - wall / 2) - p[:, 0])  # noqa: E731
    return (lambda p: P.subtract(P.union(outer(p), handle(p)), cavity(p))), {"tapered": bool(taper > 0)}


def _bottle(rng):
    rb = rng.uniform(0.14, 0.3)
    h = rng.uniform(1.0, 1.6)
    rn = rng.uniform(0.04, 0.08)
    y0, y1 = -h / 2, h / 2
    s0 = y0 + h * rng.uniform(0.45, 0.7)
    s1 = s0 + h * rng.uniform(0.08, 0.2)
    cap_h = rng.uniform(0.04, 0.1)
    prof = lambda y: rn + (rb - rn) * (1 - P.smoothstep(s0, s1, y))  # noqa: E731
    body = lambda p: P.revolve_y(p, y0, y1 - cap_h, prof)  # noqa: E731
    cap = lambda p: P.cylinder_y(p, (0, y1 - cap_h / 2, 0), rn * 1.25, cap_h / 2)  # noqa: E731
    return (lambda p: P.union(body(p), cap(p))), {"shoulder": float(round(s1 - s0, 3))}


def _shelf(rng):
    w = rng.uniform(0.35, 0.75)
    h = rng.uniform(0.8, 1.6)
    d = rng.uniform(0.15, 0.3)
    t = rng.uniform(0.018, 0.035)
    n = int(rng.integers(1, 6))
    back = rng.random() < 0.5
    y0, y1 = -h / 2, h / 2
    parts = [lambda p: P.box(p, (-w + t, 0, 0), (t, h / 2, d)),
             lambda p: P.box(p, (w - t, 0, 0), (t, h / 2, d)),
             lambda p: P.box(p, (0, y1 - t, 0), (w, t, d)),
             lambda p: P.box(p, (0, y0 + t, 0), (w, t, d))]
    for y in np.linspace(y0, y1, n + 2)[1:-1]:
        parts.append(lambda p, y=y: P.box(p, (0, y, 0), (w, t, d)))
    if back:
        parts.append(lambda p: P.box(p, (0, 0, -d + t / 2), (w, h / 2, t / 2)))
    return (lambda p: P.union(*[f(p) for f in parts])), {"shelves": n, "back": bool(back)}


def _stool(rng):
    r = rng.uniform(0.18, 0.32)
    h = rng.uniform(0.6, 1.2)
    t = rng.uniform(0.03, 0.07)
    n = int(rng.choice([3, 4]))
    splay = rng.uniform(1.0, 1.5)
    lr = rng.uniform(0.018, 0.035)
    y0, y1 = -h / 2, h / 2
    parts = [lambda p: P.cylinder_y(p, (0, y1 - t, 0), r, t)]
    top_r, bot_r = r * 0.75, r * 0.75 * splay
    angles = np.arange(n) * 2 * np.pi / n + rng.uniform(0, np.pi)
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        parts.append(lambda p, c=c, s=s: P.capsule(p, (top_r * c, y1 - t, top_r * s), (bot_r * c, y0 + lr, bot_r * s), lr))
    ring = rng.random() < 0.5
    if ring:
        f = rng.uniform(0.3, 0.5)
        yr = y0 + f * (y1 - t - y0)
        rr = bot_r + (top_r - bot_r) * f
        parts.append(lambda p: P.torus(p, (0, yr, 0), rr, lr * 0.8, axis=1))
    return (lambda p: P.union(*[f(p) for f in parts])), {"legs": n, "ring": bool(ring)}


def _vase(rng):
    h = rng.uniform(0.9, 1.6)
    rb = rng.uniform(0.15, 0.3)
    amp = rng.uniform(0.05, 0.4)
    freq = rng.uniform(0.6, 1.8)
    phase = rng.uniform(0, 2 * np.pi)
    lip = rng.uniform(0.6, 1.2)
    wall = rng.uniform(0.035, 0.05)
    y0, y1 = -h / 2, h / 2
    prof = lambda y: rb * (1 + amp * np.sin(freq * np.pi * (y - y0) / h * 2 + phase)) * (  # noqa: E731
        1 + (lip - 1) * P.smoothstep(y1 - 0.2 * h, y1, y))
    outer = lambda p: P.revolve_y(p, y0, y1, prof)  # noqa: E731
    cavity = lambda p: P.revolve_y(p, y0 + wall * 2, y1 + 1, lambda y: prof(y) - wall)  # noqa: E731
    return (lambda p: P.subtract(outer(p), cavity(p))), {"bulge": float(round(amp, 3))}


BUILDERS: dict[str, Callable] = {
    "table": _table, "chair": _chair, "lamp": _lamp, "mug": _mug,
    "bottle": _bottle, "shelf": _shelf, "stool": _stool, "vase": _vase,
}
CATEGORIES = tuple(BUILDERS)


def shape_spec(index: int, seed: int = 0) -> tuple[str, np.random.Generator]:
    """Category and random stream of shape ``index`` in the corpus of ``seed``."""
    category = CATEGORIES[index % len(CATEGORIES)]
    return category, np.random.default_rng([seed, index])


def shape_sdf(index: int, seed: int = 0) -> tuple[str, SDF, dict]:
    category, rng = shape_spec(index, seed)
    fn, params = BUILDERS[category](rng)
    return category, fn, params


def mesh_sdf(fn: SDF, resolution: int = 128, bound: float = 1.0) -> trimesh.Trimesh:
    """Mesh the zero level set of ``fn`` inside [-bound, bound]^3.

    A coarse pass finds the shape's bounding box; the fine grid then spends all
    ``resolution`` samples of the longest side on the shape itself, so thin parts of small
    shapes survive.
    """
    coarse = np.linspace(-bound, bound, 48)
    pts = _grid(coarse, coarse, coarse)
    inside = pts[_eval(fn, pts) < (coarse[1] - coarse[0])]
    if len(inside) == 0:
        raise ValueError("the SDF has no interior inside the grid")
    step = (inside.max(0) - inside.min(0)).max() / (resolution - 5)
    lo, hi = inside.min(0) - 3 * step, inside.max(0) + 3 * step
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    values = _eval(fn, _grid(*axes)).reshape(len(axes[0]), len(axes[1]), len(axes[2]))
    if values.min() >= 0 or values.max() <= 0:
        raise ValueError("the SDF has no zero crossing inside the grid")
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(step, step, step))
    # skimage (Lewiner) already shares vertices; trimesh merging would fuse near-duplicates
    # into non-manifold edges
    mesh = trimesh.Trimesh(verts + lo, faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _grid(xs, ys, zs) -> np.ndarray:
    return np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), axis=-1).reshape(-1, 3)


def _eval(fn: SDF, pts: np.ndarray) -> np.ndarray:
    return np.concatenate([fn(c) for c in np.array_split(pts, max(1, len(pts) // 262_144))])


def generate(index: int, seed: int = 0, resolution: int = 128) -> tuple[trimesh.Trimesh, str, dict]:
    """Mesh shape ``index``: returns (mesh in the design frame, category, parameters)."""
    category, fn, params = shape_sdf(index, seed)
    return mesh_sdf(fn, resolution), category, params
