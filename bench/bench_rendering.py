"""Rendering: the project's renderer (one GL context and scene, the camera moved per view)
against the common naive loop (a new scene and offscreen renderer per image), 224 x 224."""

from __future__ import annotations

import numpy as np
from harness import timed, write_result

from sdfnets.data import cameras, meshes, procedural, render


def _naive(mesh, poses, size):
    import pyrender

    out = []
    for pose in poses:
        scene = pyrender.Scene(bg_color=render.BACKGROUND, ambient_light=(0.25, 0.25, 0.25))
        mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=render.BASE_COLOR)
        scene.add(pyrender.Mesh.from_trimesh(mesh, material=mat, smooth=True))
        scene.add(pyrender.PerspectiveCamera(yfov=cameras.fov_for_unit_sphere(2.5)), pose=pose)
        scene.add(pyrender.DirectionalLight(intensity=2.5), pose=pose)
        r = pyrender.OffscreenRenderer(size, size)
        out.append(r.render(scene)[0])
        r.delete()
    return np.stack(out)


def _project(renderer, shapes, poses):
    return [renderer.render_views(m, poses)["images"] for m in shapes]


def run(quick: bool = False) -> dict:
    n_shapes, n_views, size, res = (1, 4, 64, 40) if quick else (4, 64, 224, 112)
    shapes = [meshes.normalize_to_unit_sphere(procedural.generate(i, 0, res)[0])[0] for i in range(n_shapes)]
    poses = cameras.camera_poses(n_views)
    with render.Renderer(size) as r:
        t_proj, _ = timed(_project, r, shapes, poses, repeat=1 if quick else 3)
    t_base = sum(timed(_naive, m, poses, size)[0] for m in shapes)
    n = n_shapes * n_views
    path = write_result("rendering", unit="images/s", project=n / t_proj, baseline=n / t_base,
                        project_label="sdfnets.data.render.Renderer (one context, camera moved)",
                        baseline_label="new pyrender scene + OffscreenRenderer per image",
                        sizes={"shapes": n_shapes, "views": n_views, "image_size": size,
                               "mean_faces": float(np.mean([len(m.faces) for m in shapes]))})
    return {"path": str(path), "ratio": t_base / t_proj}
