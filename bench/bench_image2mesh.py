"""Phase 12 latency: one image -> mesh with the released pipeline (project encoder, 50 DDIM steps
of the latent DiT, DeepSDF decoder, marching cubes), at 256^3 on a GPU and 128^3 on a CPU. The
project evaluates the decoder coarse to fine (:func:`sdfnets.field.sdf_grid_sparse`; bf16
and a CUDA-graph DDIM loop on a GPU) and runs marching cubes near the surface only; the baseline
decodes every grid point and runs marching cubes on the whole grid. Median of 5 runs after a
warm-up (the dense baseline runs once on a CPU); the input is a render of a procedural shape.
Also recorded: the call with ``--refine`` (silhouette refinement of the latent) at 128^3, the
resolution the latency goal names, and the plain call at 128^3 on a GPU."""

from __future__ import annotations

import numpy as np
import torch
from harness import timed, write_result

from sdfnets.data import procedural, render
from sdfnets.field import grid_to_mesh, sdf_grid
from sdfnets.app.image2mesh import ImageToMesh
from sdfnets.data.cameras import default_poses


def run(quick: bool = False) -> dict:
    cuda = torch.cuda.is_available()
    res = 64 if quick else (256 if cuda else 128)
    repeat = 1 if quick else 5  # quick checks the harness: one call each, no warm-up (on a loaded 2-core
    # machine, twelve calls of the full-size release took over 6 minutes)
    pipe = ImageToMesh(device="cuda" if cuda else "cpu")
    mesh, _, _ = procedural.generate(0, resolution=96)
    image = render.thumbnails([mesh], 224)[0]

    def project():
        m = pipe([image], resolution=res)
        if cuda:
            torch.cuda.synchronize()
        return m

    def baseline():
        z = pipe.latent([image])
        m = grid_to_mesh(sdf_grid(pipe.decoder.field(z), res, device=pipe.decoder.device))  # float32, every point, whole grid
        if cuda:
            torch.cuda.synchronize()
        return m

    t_project, m = timed(project, repeat=repeat)
    feats = pipe.encoder.encode(np.stack([image]))[None]
    poses = torch.as_tensor(default_poses(1), dtype=torch.float32)[None]
    z_fast, z_eager = (pipe.model.sample(feats, poses, graphed=g) for g in (True, False))
    agreement = float(torch.nn.functional.cosine_similarity(z_fast, z_eager).item())
    t_baseline, m0 = timed(baseline, repeat=repeat if cuda or quick else 1)  # dense 128^3 on 2 cores: ~70 s
    at = 64 if quick else 128

    def refined():
        m = pipe([image], resolution=at, refine=True)
        if cuda:
            torch.cuda.synchronize()
        return m

    t_refined, m_refined = timed(refined, repeat=repeat)
    t_128 = timed(lambda: (pipe([image], resolution=at), cuda and torch.cuda.synchronize()), repeat=repeat)[0]
    path = write_result("image2mesh_latency", unit="seconds per mesh", project=t_project, baseline=t_baseline,
                        higher_is_better=False,
                        project_label=f"released pipeline, coarse-to-fine decoder evaluation, {res}^3",
                        baseline_label=f"same pipeline, decoder on every point of the {res}^3 grid",
                        sizes={"resolution": res, "images": 1, "ddim_steps": pipe.model.config["sample_steps"],
                               "faces": int(len(m.faces)), "faces_baseline": int(len(m0.faces))},
                        extra={"stages_s": m.metadata["timings"], "graphed_vs_eager_latent_cosine": agreement,
                               f"plain_{at}_s": t_128, f"refined_{at}_s": t_refined,
                               "refined_stages_s": m_refined.metadata["timings"],
                               "target_s": 0.3 if cuda else 15.0,
                               "threads": torch.get_num_threads()})
    return {"path": str(path), "ratio": t_baseline / t_project}
