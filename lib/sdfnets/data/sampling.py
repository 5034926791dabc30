"""SDF samples per shape, the DeepSDF way.

Half of the points sit near the surface (uniform surface samples plus Gaussian noise at two
scales, as DeepSDF and mesh_to_sdf do), half are uniform in the cube [-1, 1]^3. Distances are
exact point-to-triangle distances; the sign comes from the fast winding number
(point-cloud-utils wraps libigl), which stays right on meshes with small defects where
ray-parity or normal-based signs flip. Negative inside.
"""

from __future__ import annotations

import numpy as np
import point_cloud_utils as pcu
import trimesh

VERSION = 2  # bump when sampled values change: built datasets are keyed by it


def surface_samples(mesh: trimesh.Trimesh, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` area-uniform surface points and their face normals."""
    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.faces, np.int32)
    fid, bc = pcu.sample_mesh_random(v, f, n, random_seed=int(rng.integers(2**31 - 1)))
    fid, bc = np.atleast_1d(fid), np.reshape(bc, (-1, 3))  # pcu squeezes a single sample
    points = pcu.interpolate_barycentric_coords(f, fid, bc, v)
    return points, np.asarray(mesh.face_normals)[fid]


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Exact distance to the closest triangle, signed by the fast winding number.

    libigl's fast-winding-number mode (which point-cloud-utils calls) returns (1 - 2|w|) * d
    rather than +-d, a few per mille short away from the surface; so only its sign is used, and
    the distance is measured to the closest point it reports.
    """
    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.faces, np.int32)
    p = np.ascontiguousarray(points, np.float64)
    s, fid, bc = pcu.signed_distance_to_mesh(p, v, f)
    closest = pcu.interpolate_barycentric_coords(f, fid, bc, v)
    return np.sign(s) * np.linalg.norm(p - closest, axis=1)


def sample_sdf(mesh: trimesh.Trimesh, num_points: int, *, near_surface_fraction: float = 0.5,
               noise_stds: tuple[float, float] = (0.05, 0.0158), num_surface_points: int = 30_000,
               seed: int = 0) -> dict[str, np.ndarray]:
    """Sample a (unit-sphere normalised, watertight) mesh's SDF.

    Returns float32 arrays: ``points`` [num_points, 3], ``sdf`` [num_points], ``is_near``
    [num_points] (bool), and ``surface_points`` / ``surface_normals`` [num_surface_points, 3].
    """
    rng = np.random.default_rng(seed)
    n_near = int(round(num_points * near_surface_fraction))
    n_uniform = num_points - n_near
    near, _ = surface_samples(mesh, n_near, rng)
    stds = np.where(np.arange(n_near) % 2 == 0, noise_stds[0], noise_stds[1])
    near = near + rng.normal(size=near.shape) * stds[:, None]
    uniform = rng.uniform(-1.0, 1.0, size=(n_uniform, 3))
    points = np.concatenate([near, uniform])
    sdf = signed_distance(mesh, points)
    surf, normals = surface_samples(mesh, num_surface_points, rng)
    return {
        "points": points.astype(np.float32),
        "sdf": sdf.astype(np.float32),
        "is_near": np.arange(num_points) < n_near,
        "surface_points": surf.astype(np.float32),
        "surface_normals": normals.astype(np.float32),
    }


def sdf_slice(mesh: trimesh.Trimesh, axis: int = 2, offset: float = 0.0, resolution: int = 128,
              extent: float = 1.0) -> np.ndarray:
    """Exact SDF on the plane ``coordinate[axis] = offset``, a [resolution, resolution] grid.

    Rows run along the first remaining axis, columns along the second (x, y for axis=2).
    """
    u = np.linspace(-extent, extent, resolution)
    a, b = np.meshgrid(u, u, indexing="ij")
    pts = np.zeros((resolution * resolution, 3))
    rest = [i for i in range(3) if i != axis]
    pts[:, rest[0]], pts[:, rest[1]], pts[:, axis] = a.ravel(), b.ravel(), offset
    return signed_distance(mesh, pts).reshape(resolution, resolution)
