"""Phases 2-10 (notebooks ``06``-``08``): diffusion over the weight vectors of the per-shape networks.

The targets are phase 1's ReLU+PE (or phase 1.5's SIREN) weight vectors, standardised per dimension
(the write-up's recipe) or by one global scale (phase 8's ablation); the model is
:class:`~sdfnets.diffusion.dit.WeightDiT`, trained by the shared
:class:`~sdfnets.diffusion.train.DenoisingTrainer` and sampled by the shared DDIM sampler. Views
arrive as precomputed image features (the feature cache of phase 12's encoder), so this package
needs no image encoder of its own.

Load-or-train (:mod:`sdfnets.runs`): a run lives in ``checkpoints/runs/weightdit/<tag>-<key>/``;
``final.pt`` holds the model, the standardisation, the network spec and the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import runs
from ..data.splits import random_views
from ..diffusion import ddim
from ..diffusion.dit import ViewDenoiser, WeightDiT
from ..diffusion.dit import sample as dit_sample
from ..diffusion.train import DenoisingTrainer, view_loss_profile
from ..io import load_checkpoint
from ..layers import pose_embedding
from .fit import WeightSet
from .nets import NetSpec

STANDARDISE = ("per_dim", "global")


@dataclass
class Standardiser:
    """z = (w - mean) / std. ``per_dim``: every dimension its own std over the training vectors (a
    dimension that never changes gets std 1, i.e. z = 0); ``global``: one scalar for all."""

    mean: torch.Tensor  # [D]
    std: torch.Tensor  # [D] or []

    @classmethod
    def fit(cls, w: torch.Tensor, mode: str = "per_dim") -> "Standardiser":
        if mode not in STANDARDISE:
            raise ValueError(f"unknown standardisation {mode!r}; choose one of {', '.join(STANDARDISE)}")
        w = w.double()
        mean = w.mean(0)
        if mode == "per_dim":
            std = w.std(0)
            std = torch.where(std > 1e-8, std, torch.ones_like(std))
        else:
            std = (w - mean).std()
        return cls(mean.float(), std.float())

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return (w - self.mean.to(w.device)) / self.std.to(w.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z.device) + self.mean.to(z.device)


@dataclass
class WeightGenerator:
    """A trained weight diffusion model with what it needs to run."""

    dit: WeightDiT
    norm: Standardiser
    spec: NetSpec
    config: dict
    encoder: str | None = None  # the features it was trained on (None: unconditional)
    history: list = field(default_factory=list)  # (step, loss EMA)
    seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def schedule(self) -> ddim.CosineDDIM:
        return ddim.CosineDDIM(self.config["timesteps"])  # on the host: the sampler reads it as floats

    @torch.no_grad()
    def sample(self, features: torch.Tensor | None = None, poses: torch.Tensor | None = None, *, num: int | None = None,
               seed: int = 0, steps: int | None = None, guidance: float | None = None,
               graphed: bool = True) -> torch.Tensor:
        """Weight vectors [B, D]: from view features [B, K, F] and poses [B, K, 4, 4], or ``num``
        unconditional samples."""
        cfg, dev = self.config, self.device
        steps = steps or cfg["sample_steps"]
        guidance = cfg["guidance"] if guidance is None else guidance
        self.dit.eval()
        if features is None:
            if self.dit.feature_dim:
                raise ValueError("this model is image-conditioned: pass features and poses")
            tokens, b = None, num
        else:
            if not self.dit.feature_dim:
                raise ValueError("this model is unconditional: pass num, not features")
            features, poses = features.to(dev).float(), poses.to(dev).float()
            tokens, b = self.dit.view_tokens(features, pose_embedding(poses, self.dit.pose_dim)), features.shape[0]
        x = torch.randn(b, self.dit.dim, generator=torch.Generator(device=dev).manual_seed(seed), device=dev)
        z = dit_sample(self.dit, x, self.schedule, steps, tokens, guidance=guidance,
                       graphs=self.__dict__.setdefault("_graphs", {}) if graphed else None)
        return self.norm.inverse(z)

    def predict(self, features: torch.Tensor, poses: torch.Tensor, shape_ids, k: int, seed: int = 0,
                batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights of shapes ``shape_ids`` (rows of ``features`` [N, V, F]) from ``k`` random views
        each: (weights [M, D] on the CPU, views [M, k])."""
        ids = torch.as_tensor(list(shape_ids), dtype=torch.long)
        vids = random_views(len(ids), k, features.shape[1], seed)
        out = []
        for s in range(0, len(ids), batch):
            f = features[ids[s:s + batch, None], vids[s:s + batch]]
            out.append(self.sample(f, poses[vids[s:s + batch]], seed=seed + s).cpu())
        return torch.cat(out), vids

    def loss_profile(self, weights: torch.Tensor, timesteps, *, features: torch.Tensor | None = None,
                     poses: torch.Tensor | None = None, k: int = 1, seed: int = 0) -> np.ndarray:
        """The training loss (standardised x0-MSE) at each timestep on ``weights`` [N, D], row i
        conditioned on ``k`` seeded random views of its shape (``features`` [N, V, F])."""
        pose_emb = None if poses is None else pose_embedding(poses.to(self.device).float(), self.dit.pose_dim)
        return view_loss_profile(self.dit, self.norm(weights.to(self.device).float()), self.schedule, timesteps,
                                 features=features, pose_emb=pose_emb, k=k, seed=seed)


EVAL_ONLY = ("guidance", "sample_steps", "eval_views", "test_shapes", "attractor_k", "samples", "cloud_points",
             "profile_timesteps", "profile_rows", "mesh_resolution")


def _key(cfg, weights: torch.Tensor, encoder: str | None, tag: str) -> dict:
    body = {"weightdiff": dataclasses.asdict(cfg.weightdiff), "seed": cfg.seed, "tag": tag, "encoder": encoder,
            "weights": hashlib.sha256(weights.detach().cpu().float().numpy().tobytes()).hexdigest()[:16]}
    for k in EVAL_ONLY:
        body["weightdiff"].pop(k)
    return body


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
    device = runs.default_device(device)
    rows = torch.as_tensor(list(rows), dtype=torch.long)
    weights = ws.weights[rows.to(ws.weights.device)].to(device).float()
    norm = Standardiser.fit(weights, wd.standardise)
    cond = wd.conditioned
    run_dir = runs.run_dir("weightdit", tag, _key(cfg, weights, encoder if cond else None, tag))

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

    r = runs.load_or_train(make_trainer, run_dir, desc=f"weight DiT ({tag})", log_every=100,
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
    return WeightGenerator(dit.to(device).eval(), Standardiser(ck["mean"], ck["std"]), spec, c, ck["encoder"],
                           history, seconds)


def load_run(path: Path, device="cpu") -> WeightGenerator:
    """A finished run's ``final.pt``."""
    ck = load_checkpoint(path, device)
    return _generator(ck, ck["history"], ck["seconds"], device)
