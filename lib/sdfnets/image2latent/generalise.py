"""How far image -> mesh holds on objects no model saw (notebook ``16``): one evaluation for every
way of getting a latent from views, beside three references on the same shapes.

- ``diffusion``: the phase-12 DiT's sample from K views (``known`` poses: the renders' cameras;
  ``default`` poses: the CLI's guess for a user without camera data);
- ``refined``: that sample moved through the frozen decoder until its silhouettes match the views
  (:mod:`.refine`), at the same poses the DiT was given;
- ``best of S``: S samples (seeds), the one whose silhouettes agree best with the views;
- references: ``retrieval`` (the training shape whose mean view feature is nearest; today's
  baseline), ``oracle retrieval`` (the training shape whose surface is nearest by Chamfer: the best
  any retrieval could do) and ``fitted`` (DeepSDF's test-time reconstruction from the shape's own
  SDF samples: the decoder's ceiling).

Every row carries the mesh metrics of :func:`sdfnets.metrics.mesh_metrics` and the connected parts of
:func:`sdfnets.metrics.components` (``mesh_and_metrics`` computes both).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from .. import devices, metrics, paths
from ..data.cameras import default_poses
from ..data.splits import random_views
from ..deepsdf import evaluate as ev
from . import refine as rf


@dataclass
class Parts:
    """What image -> mesh needs: the decoder, the training latents (row i = shape ``train_ids[i]``),
    the DiT, the encoder; ``source`` says whether they are the release or this scale's runs."""

    decoder: torch.nn.Module
    latents: torch.Tensor
    model: object
    encoder: object
    source: str
    key: str = ""  # what identifies these parts in a kept result (the release file's hash; "" for runs)


def parts_for(cfg, dataset, train_ids, device=None) -> Parts:
    """The released pipeline when it was trained on exactly these shapes of this corpus (full scale; a pair of
    releases that do not belong together is refused, :func:`.release.load_pair`), otherwise notebook 11's and
    12's runs of the scale (load-or-train)."""
    from . import release

    device = devices.default_device(device)
    path = paths.RELEASE_DIR / release.DEFAULT_NAME
    if path.is_file():
        model, enc, meta, decoder, latents, dmeta = release.load_pair(path, device)
        if dmeta.get("uids") == [dataset.uid_of(i) for i in train_ids]:
            decoder.eval()
            return Parts(decoder, latents, model, enc, f"release {path.name}",
                         hashlib.sha256(path.read_bytes()).hexdigest()[:16])
    from . import encoders
    from .train import phase12

    enc, feats, poses = encoders.encoder_and_features(cfg, dataset, train_ids)
    run, model = phase12(cfg, dataset, train_ids, feats, poses, enc.name)
    return Parts(run.decoder.eval(), run.latents, model, enc, "runs of this scale")


def oracle_rows(dataset, query_ids, train_ids, points: int = 2048, seed: int = 0, device=None) -> np.ndarray:
    """For each query shape, the row of ``train_ids`` whose true surface is nearest (PointFlow's
    Chamfer of ``points`` surface samples each): the best any retrieval could return. On ``device``,
    by default the GPU where there is one (every query against every training shape is a large
    batch of point-cloud distances)."""
    rng = np.random.default_rng(seed)
    device = devices.default_device(device)

    def cloud(i):
        s = dataset.sdf(int(i))["surface_points"]
        return torch.as_tensor(s[rng.choice(len(s), min(points, len(s)), replace=False)]).float()

    q = torch.stack([cloud(i) for i in query_ids])
    t = torch.stack([cloud(i) for i in train_ids])
    return metrics.chamfer_pointflow(q.to(device), t.to(device)).argmin(1).cpu().numpy()


@dataclass(frozen=True)
class Condition:
    views: int
    poses: str  # "known" | "default"

    @property
    def name(self) -> str:
        return f"{self.views} view{'s' if self.views > 1 else ''}, {self.poses} poses"


def view_inputs(dataset, feats, cam_poses, ids, cond: Condition, seed: int = 0):
    """Per shape: the chosen views' features [M, K, F], the poses the model is told [M, K, 4, 4]
    (the true ones or the CLI's default ones), the images [M, K, H, W, 3] and the view indices [M, K]."""
    vids = random_views(len(ids), cond.views, feats.shape[1], seed)
    f = feats[torch.as_tensor(list(ids))[:, None], vids]
    if cond.poses == "known":
        told = cam_poses[vids]
    elif cond.poses == "default":
        told = torch.as_tensor(default_poses(cond.views)).float()[None].expand(len(ids), -1, -1, -1)
    else:
        raise ValueError(f"poses must be 'known' or 'default', not {cond.poses!r}")
    images = np.stack([dataset.renders(int(i))["images"][vids[j].numpy()] for j, i in enumerate(ids)])
    return f, told, images, vids


def sample_latents(model, f, told, seed: int = 0, batch: int = 256) -> torch.Tensor:
    return torch.cat([model.sample(f[s:s + batch], told[s:s + batch], seed=seed + s).cpu()
                      for s in range(0, len(f), batch)])


def refine_all(parts: Parts, z: torch.Tensor, images, told, yfov: float, cfg: rf.RefineConfig, progress: bool = True):
    """Every latent ``z`` [M, D] refined against its views (``images`` [M, K, H, W, 3], ``told`` poses)."""
    return rf.refine(parts.decoder, z, images, told.numpy(), yfov, cfg, latent_scale=float(parts.latents.std()),
                     progress=progress)[0].cpu()


def best_of_all(parts: Parts, f, told, images, yfov: float, samples: int, seed: int = 0) -> torch.Tensor:
    """Per shape, the best of ``samples`` DiT samples by silhouette IoU against its views."""
    cands = torch.stack([sample_latents(parts.model, f, told, seed=seed + 1000 * s) for s in range(samples)], 1)
    picks = [rf.best_of(parts.decoder, cands[j], images[j], told[j], yfov)[0] for j in range(len(cands))]
    return cands[torch.arange(len(cands)), torch.as_tensor(picks)]


def measure(parts: Parts, z: torch.Tensor, dataset, ids, resolution: int) -> dict:
    """Mesh metrics and parts of each latent's mesh against its shape: the summary and the rows."""
    return metrics.summary_of(ev.mesh_and_metrics(parts.decoder, z, dataset, ids, resolution, progress=False)[1])


def with_estimated_poses(parts: Parts, f, told, images, yfov: float, cfg: rf.RefineConfig, seed: int = 0,
                         progress: bool = True):
    """For views of unknown direction: the DiT's sample at the told (default) poses gives a first shape;
    each view's pose is then searched by that shape's silhouettes (:func:`.refine.estimate_poses`), the
    DiT samples again at the found poses, and the latent is refined there. -> (latents [M, D], poses)."""
    from tqdm import tqdm

    z0 = sample_latents(parts.model, f, told, seed=seed)
    grid = dict(res=min(24, cfg.res), samples=min(32, cfg.samples))  # never finer than the refinement's silhouettes
    est = torch.stack([torch.as_tensor(rf.estimate_poses(parts.decoder, z0[j], images[j], yfov, **grid)[0]).float()
                       for j in tqdm(range(len(z0)), desc="pose search", unit="shape", disable=not progress)])
    z1 = sample_latents(parts.model, f, est, seed=seed)
    return refine_all(parts, z1, images, est, yfov, cfg, progress=progress), est


def view_angle_error(found: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    """Degrees between the found and the true viewing directions (camera positions seen from the origin)."""
    a = torch.nn.functional.normalize(found[..., :3, 3].float(), dim=-1)
    b = torch.nn.functional.normalize(true[..., :3, 3].float(), dim=-1)
    return torch.rad2deg(torch.arccos((a * b).sum(-1).clamp(-1, 1))).numpy()
