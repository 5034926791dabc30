"""Phase 11 training (notebook ``11_deepsdf``): the decoder and the latents, optimised jointly.

Both recipes share one step. All SDF samples live on the device as one tensor [N, P, 4]; each
step draws ``shapes_per_step`` shapes (an epoch is one permutation of the shapes) and
``points_per_shape`` random samples of each, with no host work and no host synchronisation
except every ``log_every`` steps. ``thesis`` runs it eagerly in float32 with 4 shapes x 8,192
points; ``fast`` uses a large batch, bf16 and fused Adam, computed either by ``torch.compile``
(``kernels="inductor"``) or by the hand-fused step of :mod:`.fused` (``kernels="triton"``, Hopper
GPUs; the whole step replayed as one CUDA graph; elsewhere its float32 PyTorch reference).

Load-or-train (:mod:`sdfnets.runs`): a run lives in ``checkpoints/runs/deepsdf/<dataset>-<key>/``;
a finished run is loaded, an interrupted one resumes to the same result as an uninterrupted run,
and every checkpoint holds the resolved config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import runs
from ..config import Config, DeepSDFConfig
from ..data.bank import SDFBank
from ..field import clamped_l1
from . import fused
from .model import Decoder, make_decoder


def _loss(decoder, z, pts, sdf, clamp: float, latent_reg: float):
    pred = decoder(z[:, None, :], pts)
    l_sdf = clamped_l1(pred.float(), sdf, clamp).mean()
    return l_sdf + latent_reg * z.float().pow(2).sum(-1).mean(), l_sdf


def _fused_loss(decoder, z, pts, sdf, clamp: float, latent_reg: float):
    pred = fused.decoder_sdf(decoder, z, pts)
    l_sdf = clamped_l1(pred, sdf, clamp).mean()
    return l_sdf + latent_reg * z.float().pow(2).sum(-1).mean(), l_sdf


@dataclass
class TrainResult:
    run_dir: Path
    decoder: Decoder
    latents: torch.Tensor  # [N, latent_dim]
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, SDF clamped-L1)
    seconds: float = 0.0
    steps: int = 0
    points_per_second: float = 0.0
    resumed_from: int = 0


EVAL_ONLY = ("mesh_resolution", "eval_shapes", "recon_steps", "recon_shapes")  # evaluation settings
HOW_COMPUTED = ("kernels", "cuda_graph")  # how the same step is computed, not which step


def run_body(cfg: Config, dataset, indices=None) -> dict:
    """What defines a phase-11 run (its key): training settings, seed, shapes, dataset."""
    train_keys = {k: v for k, v in dataclasses.asdict(cfg.deepsdf).items() if k not in EVAL_ONLY + HOW_COMPUTED}
    return {"deepsdf": train_keys, "seed": cfg.seed, "indices": list(map(int, indices or [])),
            "data": runs.data_name(dataset)}


def steps_for(cfg: DeepSDFConfig, num_shapes: int) -> tuple[int, int]:
    per_epoch = math.ceil(num_shapes / cfg.shapes_per_step)
    return per_epoch, per_epoch * cfg.epochs


class Trainer:
    """The training step of both recipes over a device-resident :class:`SDFBank`."""

    def __init__(self, cfg: Config, bank: SDFBank, device=None):
        dc = self.dc = cfg.deepsdf
        self.cfg, self.bank = cfg, bank
        self.device = device = runs.default_device(device or bank.data.device)
        n = self.n = bank.num_shapes
        torch.manual_seed(cfg.seed)
        self.decoder = make_decoder(dc).to(device)
        self.latents = torch.nn.Parameter(torch.randn(n, dc.latent_dim, device=device) * dc.latent_init_std)
        self.fast = dc.recipe == "fast"
        cuda = device.type == "cuda"
        hand_fused = self.fast and dc.kernels == "triton"
        if dc.kernels not in ("inductor", "triton"):
            raise ValueError(f"unknown kernels {dc.kernels!r}: inductor or triton")
        # the hand-fused step is replayed as one CUDA graph (only the batch's draws run outside it)
        self.graphed = hand_fused and cuda and dc.cuda_graph
        lr = (lambda v: torch.tensor(v, device=device)) if self.graphed else float  # noqa: E731
        self.opt = torch.optim.Adam([{"params": self.decoder.parameters(), "lr": lr(dc.lr_decoder)},
                                     {"params": [self.latents], "lr": lr(dc.lr_latent)}], fused=cuda,
                                    capturable=self.graphed)
        self.graph = None
        self.per_epoch, self.total = steps_for(dc, n)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(cfg.seed)
        self.step = 0
        if hand_fused:  # its own bf16 kernels on a GPU, the float32 reference elsewhere
            self.loss_fn = _fused_loss
        elif self.fast and cuda and dc.compile:
            self.loss_fn = torch.compile(_loss, mode=None if dc.compile_mode == "default" else dc.compile_mode)
        else:
            self.loss_fn = _loss
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.fast and cuda and not hand_fused)
        self.running = runs.RunningMean(device)
        self._perm_epoch, self._perm = -1, None

    @property
    def points_per_step(self) -> int:
        return self.dc.shapes_per_step * self.dc.points_per_shape

    def _shapes(self) -> torch.Tensor:
        e, k = divmod(self.step, self.per_epoch)
        if e != self._perm_epoch:  # each epoch's permutation comes from its own seed: resumable
            pg = torch.Generator(device=self.device)
            pg.manual_seed(self.cfg.seed * 1_000_003 + e)
            perm = torch.randperm(self.n, generator=pg, device=self.device)
            self._perm = torch.cat([perm, perm[: (-self.n) % self.dc.shapes_per_step]])
            self._perm_epoch = e
        b = self.dc.shapes_per_step
        return self._perm[k * b:(k + 1) * b]

    def _step(self, ids, pts, sdf) -> None:
        dc = self.dc
        with self.autocast:
            loss, l_sdf = self.loss_fn(self.decoder, self.latents[ids], pts, sdf, dc.clamp, dc.latent_reg)
        self.opt.zero_grad(set_to_none=not self.graphed)  # a graph needs the gradients' memory kept
        loss.backward()
        self.opt.step()
        self.running.sum += l_sdf.detach()

    def _capture(self, ids, pts, sdf) -> None:
        runs.tensor_lrs(self.opt, self.device)  # a resumed run's optimizer state may hold float rates
        self._static = [ids.clone(), pts.clone(), sdf.clone()]
        self.graph, _ = runs.capture_step(lambda: self._step(*self._static),
                                          [*self.decoder.parameters(), self.latents], self.opt, keep=(self.running.sum,))

    def run(self, steps: int) -> None:
        """Take ``steps`` optimisation steps; no host synchronisation."""
        dc, P = self.dc, self.bank.data.shape[1]
        for _ in range(steps):
            ids = self._shapes()
            idx = torch.randint(P, (len(ids), dc.points_per_shape), generator=self.gen, device=self.device)
            if dc.lr_schedule == "cosine":
                f = runs.cosine(self.step, self.total)
                runs.set_lr(self.opt, (dc.lr_decoder * f, dc.lr_latent * f))
            pts, sdf = self.bank.gather(ids, idx)
            if self.graphed:
                if self.graph is None:
                    self._capture(ids, pts, sdf)
                for buf, new in zip(self._static, (ids, pts, sdf)):
                    buf.copy_(new)
                self.graph.replay()
            else:
                self._step(ids, pts, sdf)
            self.step += 1
        self.running.count += steps

    def loss(self) -> float:
        """Mean SDF clamped-L1 of the steps since the last call (one host sync)."""
        return self.running.read()

    def state(self) -> dict:
        return {"decoder": self.decoder.state_dict(), "latents": self.latents.detach().clone(),
                "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(), "step": self.step}

    def load_state(self, ck: dict) -> None:
        self.decoder.load_state_dict(ck["decoder"])
        with torch.no_grad():
            self.latents.copy_(ck["latents"])
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"].cpu())
        self.step = ck["step"]


def train(cfg: Config, dataset, indices=None, *, device=None, max_steps: int | None = None, log_every: int = 100,
          progress: bool = True, run_dir: Path | None = None) -> TrainResult:
    """Load the finished run of ``cfg`` on the shapes ``indices`` of ``dataset`` (default: all),
    or train (resuming) it. Latent ``i`` belongs to shape ``indices[i]``.

    ``max_steps`` stops early and leaves ``last.pt`` behind, as an interruption would.
    """
    dc = cfg.deepsdf
    device = runs.default_device(device)
    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    body = run_body(cfg, dataset, indices if len(indices) != len(dataset) else None)
    run_dir = run_dir or runs.run_dir("deepsdf", Path(dataset.root).name, body)
    r = runs.load_or_train(lambda: Trainer(cfg, SDFBank.from_dataset(dataset, indices, device), device), run_dir,
                           desc=f"deepsdf ({dc.recipe})", log_every=log_every, checkpoint_every=dc.checkpoint_every,
                           max_steps=max_steps, progress=progress, device=device,
                           extra={"config": cfg.to_dict(), "indices": indices, "dataset": str(dataset.root)})
    decoder = make_decoder(dc).to(device)
    decoder.load_state_dict(r.state["decoder"])
    pps = r.steps_per_second * dc.shapes_per_step * dc.points_per_shape
    return TrainResult(r.run_dir, decoder, r.state["latents"], r.history, r.seconds, r.steps, pps, r.resumed_from)
