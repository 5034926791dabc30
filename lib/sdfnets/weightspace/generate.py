"""Phases 2-10 (notebooks ``06``-``08``): diffusion over the weight vectors of the per-shape networks.

The targets are phase 1's ReLU+PE (or phase 1.5's SIREN) weight vectors, standardised per dimension
(the write-up's recipe) or by one global scale (phase 8's ablation); the model is
:class:`~sdfnets.diffusion.dit.WeightDiT`, trained by the shared
:class:`~sdfnets.diffusion.train.DenoisingTrainer` and run through the shared wrapper
:class:`~sdfnets.diffusion.sampler.DiffusionModel`. Views
arrive as precomputed image features (the feature cache of phase 12's encoder), so this package
needs no image encoder of its own.

Load-or-train (:mod:`sdfnets.train.loop`): a run lives in ``checkpoints/runs/weightdit/<tag>-<key>/``;
``final.pt`` holds the model, the standardisation, the network spec and the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import devices
from ..config import run_settings
from ..diffusion.dit import ViewDenoiser, WeightDiT
from ..diffusion.sampler import DiffusionModel, Standardiser
from ..diffusion.train import DenoisingTrainer
from ..io import load_checkpoint
from ..layers import pose_embedding
from ..train import loop
from .fit import WeightSet
from .nets import NetSpec


@dataclass
class WeightGenerator(DiffusionModel):
    """A trained weight diffusion model: the shared wrapper plus the network spec its vectors decode with."""

    spec: NetSpec | None = None


def _key(cfg, weights: torch.Tensor, encoder: str | None, tag: str) -> dict:
    return {"weightdiff": run_settings(cfg.weightdiff), "seed": cfg.seed, "tag": tag, "encoder": encoder,
            "weights": hashlib.sha256(weights.detach().cpu().float().numpy().tobytes()).hexdigest()[:16]}


def train_weight_dit(cfg, ws: WeightSet, rows, *, features: torch.Tensor | None = None,
                     poses: torch.Tensor | None = None, encoder: str | None = None, tag: str = "weights",
                     device=None, max_steps: int | None = None, progress: bool = True,
                     cuda_graph: bool = True) -> WeightGenerator:
    """Load-or-train the diffusion model of the weight vectors ``ws.weights[rows]``; conditioned
    (``cfg.weightdiff.conditioned``) on ``features`` [len(rows), V, F] of each row's shape from
    cameras ``poses`` [V, 4, 4], produced by the encoder named ``encoder``."""
    wd = cfg.weightdiff
    if wd.family != ws.spec.family:
        raise ValueError(f"the config asks for {wd.family} weights; this weight set holds {ws.spec.family} networks")
    if wd.conditioned and (features is None or poses is None or encoder is None):
        raise ValueError("an image-conditioned weight DiT needs features, poses and the encoder's name")
    device = devices.default_device(device)
    rows = torch.as_tensor(list(rows), dtype=torch.long)
    weights = ws.weights[rows.to(ws.weights.device)].to(device).float()
    norm = Standardiser.fit(weights, wd.standardise)
    cond = wd.conditioned
    run_dir = loop.run_dir("weightdit", tag, _key(cfg, weights, encoder if cond else None, tag))

    def make_trainer() -> DenoisingTrainer:
        torch.manual_seed(cfg.seed)
        dit = WeightDiT(ws.spec.num_params, wd.tokens, features.shape[2] if cond else 0, wd.d_model, wd.num_layers,
                        wd.num_heads, wd.pose_dim).to(device)
        if not cond:
            return DenoisingTrainer(dit, dit, norm(weights), wd, seed=cfg.seed, device=device, cuda_graph=cuda_graph,
                                    compile=cuda_graph)
        return DenoisingTrainer(ViewDenoiser(dit), dit, norm(weights), wd, seed=cfg.seed,
                                features=features.to(device).float(),
                                pose_emb=pose_embedding(poses.to(device).float(), wd.pose_dim), device=device,
                                cuda_graph=cuda_graph, compile=cuda_graph)

    r = loop.load_or_train(make_trainer, run_dir, desc=f"weight DiT ({tag})", log_every=100,
                           checkpoint_every=wd.checkpoint_every, max_steps=max_steps, progress=progress, device=device,
                           extra={"mean": norm.mean, "std": norm.std, "spec": dataclasses.asdict(ws.spec),
                                  "encoder": encoder if cond else None, "config": dataclasses.asdict(wd),
                                  "feature_dim": features.shape[2] if cond else 0})
    return _generator(r.state, r.history, r.seconds, device)


def _generator(ck: dict, history, seconds, device) -> WeightGenerator:
    c, spec = ck["config"], NetSpec(**ck["spec"])
    dit = WeightDiT(spec.num_params, c["tokens"], ck["feature_dim"], c["d_model"], c["num_layers"], c["num_heads"],
                    c["pose_dim"])
    dit.load_state_dict(ck["dit"])
    return WeightGenerator(dit.to(device).eval(), Standardiser(ck["mean"], ck["std"]), c, ck["encoder"], history, seconds,
                           spec=spec)


def load_run(path: Path, device="cpu") -> WeightGenerator:
    """A finished run's ``final.pt``."""
    ck = load_checkpoint(path, device)
    return _generator(ck, ck["history"], ck["seconds"], device)
