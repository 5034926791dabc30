"""Latency of the default image -> mesh method, the released pixel-aligned SDF network (from 4 views, the one
that reads the views alone): 4 views at 128³
(the issue's latency goal: 0.5 s on one GPU, 30 s on 2 CPU cores). The project evaluates the network coarse
to fine (:func:`sdfnets.field.sdf_grid_sparse`, bf16 on a GPU) and cleans the grid; the baseline evaluates it
in float32 on every point of the grid. Median of 5 calls after a warm-up (the dense baseline runs twice on a
CPU). Inputs: the committed example views (examples/armchair). Also recorded: phase 12's diffusion pipeline on
the same views and grid, for context."""

from __future__ import annotations

import numpy as np
import torch
from harness import timed, write_result

from sdfnets import paths
from sdfnets.app.image2mesh import load_image, pipeline
from sdfnets.data.cameras import default_poses
from sdfnets.field import grid_to_mesh, sdf_grid
from sdfnets.multiview.pixelsdf import views_tensor


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    res = 64 if quick else 128
    repeat = 1 if quick else 5
    images = [load_image(p) for p in sorted((paths.REPO_ROOT / "examples" / "armchair").glob("view_*.png"))]
    pipe = pipeline("pixel", device=device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def project():
        m = pipe(images, resolution=res)
        sync()
        return m

    @torch.no_grad()
    def baseline():
        model, meta = pipe.network(len(images))  # the network the pipeline reads this many views with
        maps = model.encode(views_tensor(torch.as_tensor(np.stack(images)), meta["pixel"]["image_size"])[None]
                            .to(device))
        told = torch.as_tensor(default_poses(len(images))).float()[None].to(device)
        m = grid_to_mesh(sdf_grid(lambda p: model(maps, told, p[None])[0], res, device=device))
        sync()
        return m

    t_project, m = timed(project, repeat=repeat)
    t_baseline, m0 = timed(baseline, repeat=repeat if cuda or quick else 2)
    diffusion = pipeline("diffusion", device=device)
    t_diffusion = timed(lambda: (diffusion(images, resolution=res), sync()), repeat=repeat)[0]
    path = write_result("pixel_image2mesh_latency", unit="seconds per mesh", project=t_project, baseline=t_baseline,
                        higher_is_better=False,
                        project_label=f"released pixel-aligned network, coarse-to-fine grid, cleaned, {res}^3",
                        baseline_label=f"same network in float32 on every point of the {res}^3 grid",
                        sizes={"resolution": res, "views": len(images), "faces": int(len(m.faces)),
                               "faces_baseline": int(len(m0.faces))},
                        extra={"stages_s": m.metadata["timings"], "diffusion_pipeline_s": t_diffusion,
                               "target_s": 0.5 if cuda else 30.0, "threads": torch.get_num_threads()})
    return {"path": str(path), "ratio": t_baseline / t_project}
