"""Loading, validating and normalising meshes.

Every failure raises :class:`MeshError` with a sentence a person can act on; the dataset
build records it per shape in the manifest and carries on with the rest.

Canonical frame: +Y up, +Z front (glTF's convention), centred on the bounding-box centre and
scaled so the farthest vertex lies on the unit sphere.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")


MAX_COORDINATE = 1e12  # |x| beyond this overflows the unit-sphere normalisation (and no real model is that big)


class MeshError(ValueError):
    """A mesh that cannot enter the dataset, with the reason."""


def load_mesh(path: Path | str, *, max_file_mb: float = 512.0, max_faces: int = 5_000_000) -> trimesh.Trimesh:
    """Read geometry only (no textures or materials) and check it is usable."""
    path = Path(path)
    return parse_mesh(read_mesh_file(path, max_file_mb=max_file_mb), path.suffix, max_faces=max_faces)


def read_mesh_file(path: Path | str, *, max_file_mb: float = 512.0) -> bytes:
    """A mesh file's bytes, its size checked on the file system before anything is read."""
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise MeshError("empty file (0 bytes)")
    if size > max_file_mb * 2**20:
        raise MeshError(f"file is {size / 2**20:.0f} MB, over the {max_file_mb:.0f} MB limit")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(f"unsupported format {path.suffix!r}; expected one of {', '.join(MESH_SUFFIXES)}")
    with open(path, "rb") as f:
        data = f.read(int(max_file_mb * 2**20) + 1)  # a file grown since the check is cut at the limit
    if len(data) > max_file_mb * 2**20:
        raise MeshError(f"file is over the {max_file_mb:.0f} MB limit")
    return data


def parse_mesh(data: bytes, suffix: str, *, max_faces: int = 5_000_000) -> trimesh.Trimesh:
    """Geometry from a mesh file's bytes (``suffix``: its format, e.g. ``.obj``), checked as :func:`validate`."""
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix.lower().lstrip("."), force="mesh", process=False,
                              skip_materials=True)
    except Exception as exc:  # trimesh raises many types for malformed files
        raise MeshError(f"could not parse {suffix} file: {type(exc).__name__}: {exc}".strip()) from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError("file holds no triangle geometry")
    return validate(loaded, max_faces=max_faces)


def validate(mesh: trimesh.Trimesh, *, max_faces: int = 5_000_000) -> trimesh.Trimesh:
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    if len(f) == 0 or len(v) == 0:
        raise MeshError("mesh has no triangles")
    if len(f) > max_faces:
        raise MeshError(f"mesh has {len(f):,} faces, over the {max_faces:,} limit")
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise MeshError(f"{int(bad.sum())} of {len(v)} vertices have NaN or infinite coordinates")
    if f.min() < 0 or f.max() >= len(v):
        raise MeshError("face indices point outside the vertex list")
    big = float(np.abs(v).max())
    if big > MAX_COORDINATE:
        raise MeshError(f"coordinates reach {big:.3g}, beyond {MAX_COORDINATE:.0e}: too large to normalise reliably")
    extent = np.ptp(v[np.unique(f)], axis=0)
    if extent.max() <= 1e-9:
        raise MeshError("mesh is degenerate (all vertices at one point)")
    return mesh


def normalize_to_unit_sphere(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Centre on the bounding-box centre and scale the farthest vertex to radius 1.

    Returns (normalised copy, centre, scale) with ``normalised = (v - centre) * scale``.
    """
    v = np.asarray(mesh.vertices, dtype=np.float64)
    used = v[np.unique(mesh.faces)]
    center = (used.min(0) + used.max(0)) / 2
    radius = np.linalg.norm(used - center, axis=1).max()
    if not np.isfinite(radius) or radius <= 0:
        raise MeshError(f"cannot normalise: the bounding radius is {radius}")
    scale = 1.0 / radius
    out = trimesh.Trimesh((v - center) * scale, np.asarray(mesh.faces), process=False)
    out.remove_unreferenced_vertices()
    return out, center, float(scale)
