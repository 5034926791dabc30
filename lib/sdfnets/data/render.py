"""Multi-view renders: Fibonacci-sphere cameras, gray-blue material, headlight + rim light.

pyrender through EGL, headless: NVIDIA's EGL on a GPU node, Mesa's (llvmpipe) on a CPU
machine. The platform variables are set here, before pyrender or OpenGL are imported;
``PYOPENGL_PLATFORM=osmesa`` in the environment still wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "true")  # pyglet 2 otherwise wants X libraries

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from .cameras import GALLERY_DIRECTION, UP, fov_for_unit_sphere, look_at  # noqa: E402

BASE_COLOR = (0.55, 0.62, 0.75, 1.0)  # gray-blue
BACKGROUND = (1.0, 1.0, 1.0, 1.0)


FOREGROUND_BELOW = 245  # a pixel with any channel below this is the object's (anti-aliased edges included)


def foreground(images, threshold: int = FOREGROUND_BELOW):
    """The object's pixels [..., H, W] of uint8 views [..., H, W, 3] rendered on :data:`BACKGROUND` (numpy or
    torch): any channel below ``threshold``, so anti-aliased edges count as object."""
    return (images[..., :3] < threshold).any(-1)


class Renderer:
    """One offscreen GL context, reused for every shape and view."""

    def __init__(self, image_size: int = 224, distance: float = 2.5):
        import pyrender

        self._pyrender = pyrender
        self.image_size = image_size
        self.distance = distance
        self.yfov = fov_for_unit_sphere(distance)
        self.scene = pyrender.Scene(bg_color=BACKGROUND, ambient_light=(0.25, 0.25, 0.25))
        self.material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=BASE_COLOR, metallicFactor=0.05, roughnessFactor=0.65)
        cam = pyrender.PerspectiveCamera(yfov=self.yfov, aspectRatio=1.0, znear=0.05, zfar=10.0)
        self.cam_node = self.scene.add(cam)
        self.head_node = self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=2.5))
        self.rim_node = self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.5))
        self.mesh_node = None
        try:
            self.gl = pyrender.OffscreenRenderer(image_size, image_size)
        except Exception as exc:
            raise RuntimeError(
                f"could not open a headless OpenGL context ({type(exc).__name__}: {exc}). "
                "Install EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgles2) "
                "or set PYOPENGL_PLATFORM=osmesa with libosmesa6 installed.") from exc

    def set_mesh(self, mesh: trimesh.Trimesh) -> None:
        if self.mesh_node is not None:
            self.scene.remove_node(self.mesh_node)
        pm = self._pyrender.Mesh.from_trimesh(mesh, material=self.material, smooth=True)
        self.mesh_node = self.scene.add(pm)

    def render(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 [H, W, 3] and a foreground mask [H, W] for one camera pose."""
        self.scene.set_pose(self.cam_node, pose)
        self.scene.set_pose(self.head_node, pose)
        eye = pose[:3, 3]
        self.scene.set_pose(self.rim_node, look_at(-eye + UP * np.linalg.norm(eye)))
        color, depth = self.gl.render(self.scene)
        return color, depth > 0

    def render_views(self, mesh: trimesh.Trimesh, poses: np.ndarray) -> dict[str, np.ndarray]:
        self.set_mesh(mesh)
        out = [self.render(p) for p in poses]
        return {
            "images": np.stack([c for c, _ in out]).astype(np.uint8),
            "masks": np.stack([m for _, m in out]),
            "poses": poses.astype(np.float32),
            "yfov": np.float32(self.yfov),
        }

    def close(self) -> None:
        self.gl.delete()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def thumbnails(meshes, image_size: int = 128, direction: np.ndarray = GALLERY_DIRECTION) -> list[np.ndarray]:
    """One render per mesh from the gallery direction; a blank image where a mesh is None."""
    pose = look_at(direction / np.linalg.norm(direction) * 2.5)[None]
    blank = np.full((image_size, image_size, 3), 255, np.uint8)
    with Renderer(image_size) as r:
        return [blank if m is None or len(m.faces) == 0 else r.render_views(m, pose)["images"][0] for m in meshes]
