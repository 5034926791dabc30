"""Analytic signed-distance primitives and CSG operators (numpy, points ``p`` of shape [N, 3]).

Negative inside, positive outside, Y up. Most are exact distances (after Quilez); the solid of
revolution is only sign-correct, which is all marching cubes needs: the exact distances of the
dataset are measured afterwards against the mesh.
"""

from __future__ import annotations

import numpy as np


def _len(a: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(a * a, axis=-1))


def sphere(p, center, radius):
    return _len(p - np.asarray(center)) - radius


def box(p, center, half):
    q = np.abs(p - np.asarray(center)) - np.asarray(half)
    return _len(np.maximum(q, 0.0)) + np.minimum(q.max(axis=-1), 0.0)


def cylinder_y(p, center, radius, half_height):
    """Capped cylinder along Y."""
    q = p - np.asarray(center)
    d = np.stack([np.hypot(q[:, 0], q[:, 2]) - radius, np.abs(q[:, 1]) - half_height], axis=-1)
    return np.minimum(d.max(axis=-1), 0.0) + _len(np.maximum(d, 0.0))


def capsule(p, a, b, radius):
    a, b = np.asarray(a, float), np.asarray(b, float)
    pa, ba = p - a, b - a
    h = np.clip(pa @ ba / (ba @ ba), 0.0, 1.0)
    return _len(pa - h[:, None] * ba) - radius


def torus(p, center, major, minor, axis: int = 1):
    """Torus whose symmetry axis is coordinate ``axis``."""
    q = p - np.asarray(center)
    plane = [i for i in range(3) if i != axis]
    ring = np.hypot(q[:, plane[0]], q[:, plane[1]]) - major
    return np.hypot(ring, q[:, axis]) - minor


def revolve_y(p, y0, y1, radius_of_y):
    """Solid of revolution about Y between heights y0 and y1 with profile ``radius_of_y``."""
    r = np.hypot(p[:, 0], p[:, 2])
    y = p[:, 1]
    return np.maximum.reduce([r - radius_of_y(np.clip(y, y0, y1)), y0 - y, y - y1])


def union(*ds):
    return np.minimum.reduce(ds)


def intersect(*ds):
    return np.maximum.reduce(ds)


def subtract(a, b):
    return np.maximum(a, -b)


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
