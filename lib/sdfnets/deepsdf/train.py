"""Phase 11 training (notebook ``11_deepsdf``): the decoder and the latents, optimised jointly.

Both recipes share one step. All SDF samples live on the device as one tensor [N, P, 4]; each
step draws ``shapes_per_step`` shapes (an epoch is one permutation of the shapes) and
``points_per_shape`` random samples of each, with no host work and no host synchronisation
except every ``log_every`` steps. ``thesis`` runs it eagerly in float32 with 4 shapes x 8,192
points; ``fast`` uses a large batch, bf16 and fused Adam, computed either by ``torch.compile``
(``kernels="inductor"``) or by the hand-fused step of :mod:`.fused` (``kernels="triton"``, Hopper
GPUs; the whole step replayed as one CUDA graph; elsewhere its float32 PyTorch reference).

Load-or-train (:mod:`sdfnets.train.loop`): a run lives in ``checkpoints/runs/deepsdf/<dataset>-<key>/``;
a finished run is loaded, an interrupted one resumes to the same result as an uninterrupted run,
and every checkpoint holds the resolved config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import cudagraphs, devices
from ..config import Config, DeepSDFConfig, run_settings
from ..data.bank import SDFBank
from ..field import clamped_l1
from ..train import loop, schedules
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


def run_body(cfg: Config, dataset, indices=None) -> dict:
    """What defines a phase-11 run (its key): training settings, seed, shapes, dataset."""
    return {"deepsdf": run_settings(cfg.deepsdf), "seed": cfg.seed, "indices": list(map(int, indices or [])),
            "data": loop.data_name(dataset)}


def steps_for(cfg: DeepSDFConfig, num_shapes: int) -> tuple[int, int]:
    per_epoch = math.ceil(num_shapes / cfg.shapes_per_step)
    return per_epoch, per_epoch * cfg.epochs


def batch_table(seed: int, epoch: int, n: int, per_step: int, device=None) -> torch.Tensor:
    """[steps per epoch, per_step] shapes of every step of ``epoch``, the same on any number of ranks.

    Position j of a batch draws from shard ``j mod min(n, per_step)``, the shapes s with
    s = j (mod per_step); each shard is walked in a random order seeded by (seed, epoch) and
    wrapped around where it is shorter than the epoch, so every shape is seen once per epoch (a
    few twice). The shard of a position fixes which rank owns its shape (s mod W, W dividing
    per_step), so each rank's share of every batch has a fixed size, as a CUDA graph needs."""
    device = torch.device(device or "cpu")
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + epoch)
    shard = torch.arange(n, device=device) % per_step
    order = torch.argsort(shard * 2.0 + torch.rand(n, generator=g, device=device, dtype=torch.float64))
    sizes = torch.bincount(shard, minlength=per_step)
    start = torch.cumsum(sizes, 0) - sizes
    per_epoch = math.ceil(n / per_step)
    j = torch.arange(per_step, device=device) % min(n, per_step)
    k = torch.arange(per_epoch, device=device)[:, None]
    return order[start[j] + k % sizes[j]]


def positions_of(rank: int, world: int, n: int, per_step: int) -> list[int]:
    """The batch positions whose shapes rank ``rank`` of ``world`` owns (shape s lives on rank s mod W)."""
    if per_step % world:
        raise ValueError(f"shapes_per_step ({per_step}) must be a multiple of the number of ranks ({world})")
    return [j for j in range(per_step) if (j % min(n, per_step)) % world == rank]


def gather_rows(rows: torch.Tensor, n: int, rank: int, world: int) -> torch.Tensor:
    """This rank's rows of a per-shape tensor (shapes rank, rank + W, ...) -> every shape's rows, in
    shape order, on every rank (one all-gather)."""
    if world == 1:
        return rows.detach().clone()
    import torch.distributed as dist

    size = math.ceil(n / world)
    pad = rows.new_zeros(size, *rows.shape[1:])
    pad[: len(rows)] = rows.detach()
    parts = [torch.zeros_like(pad) for _ in range(world)]
    dist.all_gather(parts, pad)
    out = rows.new_zeros(n, *rows.shape[1:])
    for r, part in enumerate(parts):
        out[r::world] = part[: len(range(r, n, world))]
    return out


class Trainer:
    """The training step of both recipes over a device-resident :class:`SDFBank`, on one device or
    as rank ``rank`` of ``world`` (a process group initialised, e.g. by torchrun).

    Ranks split the shapes (rank r owns shapes r, r + W, ...: ``bank`` holds just those, and so do
    the latents), replicate the decoder, and take the same global batch (:func:`batch_table`; the
    point draws come from one generator that every rank advances alike), each computing the loss
    of the positions it owns. The decoder's gradients live in one flat buffer, summed over ranks by
    one all-reduce per step; each rank's Adam then updates the decoder alike and its own latent
    rows elementwise, as one process does. So W ranks equal one up to the order of floating-point
    sums, and a single GPU is simply W = 1. With the hand-fused step on a GPU the forward and
    backward are one CUDA graph on any W; at W = 1 the optimiser step is in the graph too."""

    def __init__(self, cfg: Config, bank: SDFBank, device=None, *, rank: int = 0, world: int = 1,
                 num_shapes: int | None = None):
        dc = self.dc = cfg.deepsdf
        self.cfg, self.bank, self.rank, self.world = cfg, bank, rank, world
        self.device = device = devices.default_device(device or bank.data.device)
        n = self.n = bank.num_shapes if num_shapes is None else num_shapes
        self.owned = torch.arange(rank, n, world)
        if len(self.owned) != bank.num_shapes:
            raise ValueError(f"rank {rank} of {world} owns {len(self.owned)} of {n} shapes; its bank holds {bank.num_shapes}")
        self.positions = torch.tensor(positions_of(rank, world, n, dc.shapes_per_step), device=device)
        self.share = len(self.positions) / dc.shapes_per_step  # this rank's part of the global mean
        torch.manual_seed(cfg.seed)
        self.decoder = make_decoder(dc).to(device)
        every = torch.randn(n, dc.latent_dim, device=device) * dc.latent_init_std  # one draw, any W
        self.latents = torch.nn.Parameter(every[self.owned.to(device)].clone())
        self.fast = dc.recipe == "fast"
        cuda = device.type == "cuda"
        hand_fused = self.fast and dc.kernels == "triton"
        if dc.kernels not in ("inductor", "triton"):
            raise ValueError(f"unknown kernels {dc.kernels!r}: inductor or triton")
        # the hand-fused step is replayed as a CUDA graph (only the batch's draws run outside it)
        self.graphed = hand_fused and cuda and dc.cuda_graph
        self.flat = None
        if world > 1:  # the decoder's gradients as views of one buffer: one all-reduce per step
            params = list(self.decoder.parameters())
            self.flat = torch.zeros(sum(q.numel() for q in params), device=device)
            for q, view in zip(params, self.flat.split([q.numel() for q in params])):
                q.grad = view.view_as(q)
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
        self.running = loop.RunningMean(device)
        self._table_epoch, self._table = -1, None

    @property
    def points_per_step(self) -> int:
        return self.dc.shapes_per_step * self.dc.points_per_shape

    def _rows(self) -> torch.Tensor:
        """This rank's rows (of its bank and latents) in the current global batch."""
        e, k = divmod(self.step, self.per_epoch)
        if e != self._table_epoch:  # each epoch's order comes from its own seed: resumable
            self._table = batch_table(self.cfg.seed, e, self.n, self.dc.shapes_per_step, self.device)
            self._table_epoch = e
        return self._table[k, self.positions] // self.world

    def _forward_backward(self, rows, pts, sdf) -> None:
        dc = self.dc
        with self.autocast:
            loss, l_sdf = self.loss_fn(self.decoder, self.latents[rows], pts, sdf, dc.clamp, dc.latent_reg)
        self.opt.zero_grad(set_to_none=not (self.graphed or self.flat is not None))  # keep graph / flat memory
        (loss * self.share).backward()
        self.running.sum += l_sdf.detach() * self.share

    def _step(self, rows, pts, sdf) -> None:
        self._forward_backward(rows, pts, sdf)
        self._reduce_and_update()

    def _reduce_and_update(self) -> None:
        if self.flat is not None:
            import torch.distributed as dist

            dist.all_reduce(self.flat)
        self.opt.step()

    def _capture(self, rows, pts, sdf) -> None:
        schedules.tensor_lrs(self.opt, self.device)  # a resumed run's optimizer state may hold float rates
        self._static = [rows.clone(), pts.clone(), sdf.clone()]
        body = self._step if self.flat is None else self._forward_backward  # collectives stay outside
        self.graph, _ = cudagraphs.capture_step(lambda: body(*self._static),
                                          [*self.decoder.parameters(), self.latents], self.opt, keep=(self.running.sum,))

    def run(self, steps: int) -> None:
        """Take ``steps`` optimisation steps; no host synchronisation."""
        dc, P = self.dc, self.bank.data.shape[1]
        for _ in range(steps):
            rows = self._rows()
            # every rank draws the whole batch's points (one generator, advanced alike) and keeps its rows
            idx = torch.randint(P, (dc.shapes_per_step, dc.points_per_shape), generator=self.gen,
                                device=self.device)[self.positions]
            if dc.lr_schedule == "cosine":
                f = schedules.cosine(self.step, self.total)
                schedules.set_lr(self.opt, (dc.lr_decoder * f, dc.lr_latent * f))
            pts, sdf = self.bank.gather(rows, idx)
            if self.graphed:
                if self.graph is None:
                    self._capture(rows, pts, sdf)
                for buf, new in zip(self._static, (rows, pts, sdf)):
                    buf.copy_(new)
                self.graph.replay()
                if self.flat is not None:
                    self._reduce_and_update()
            else:
                self._step(rows, pts, sdf)
            self.step += 1
        self.running.count += steps

    def loss(self) -> float:
        """Mean SDF clamped-L1 over the global batches since the last call (one host sync)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(self.running.sum)
        return self.running.read()

    def state(self) -> dict:
        """Everything in shape order (on several ranks: gathered, a collective every rank calls), so
        that a run resumes exactly on any number of ranks."""
        opt = self.opt.state_dict()
        k = len(opt["param_groups"][0]["params"])  # the latents' index in the optimiser state
        if k in opt["state"]:
            opt["state"][k] = {name: gather_rows(v, self.n, self.rank, self.world) if v.dim() else v.clone()
                               for name, v in opt["state"][k].items()}
        return {"decoder": self.decoder.state_dict(), "latents": gather_rows(self.latents, self.n, self.rank, self.world),
                "optimizer": opt, "generator": self.gen.get_state(), "step": self.step}

    def load_state(self, ck: dict) -> None:
        """Resume from :meth:`state` of a run on any number of ranks."""
        owned = self.owned.to(ck["latents"].device)
        self.decoder.load_state_dict(ck["decoder"])
        with torch.no_grad():
            self.latents.copy_(ck["latents"][owned])
        opt = ck["optimizer"]
        k = len(opt["param_groups"][0]["params"])
        if k in opt["state"]:
            opt = {**opt, "state": {**opt["state"], k: {name: v[owned.to(v.device)] if v.dim() else v
                                                        for name, v in opt["state"][k].items()}}}
        self.opt.load_state_dict(opt)
        if self.flat is not None:  # loading replaced nothing of the gradients, but be explicit
            for q, view in zip(self.decoder.parameters(), self.flat.split([q.numel() for q in self.decoder.parameters()])):
                q.grad = view.view_as(q)
        self.gen.set_state(ck["generator"].cpu())
        self.step = ck["step"]


def train(cfg: Config, dataset, indices=None, *, device=None, max_steps: int | None = None, log_every: int = 100,
          progress: bool = True, run_dir: Path | None = None, rank: int = 0, world: int = 1) -> TrainResult:
    """Load the finished run of ``cfg`` on the shapes ``indices`` of ``dataset`` (default: all),
    or train (resuming) it. Latent ``i`` belongs to shape ``indices[i]``.

    Under torchrun pass ``rank`` / ``world`` (process group initialised): each rank loads only the
    SDF samples of its shapes, rank 0 writes the checkpoints; the run and its key are those of the
    same run on one device. ``max_steps`` stops early and leaves ``last.pt`` behind, as an
    interruption would.
    """
    dc = cfg.deepsdf
    device = devices.default_device(device)
    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    body = run_body(cfg, dataset, indices if len(indices) != len(dataset) else None)
    run_dir = run_dir or loop.run_dir("deepsdf", Path(dataset.root).name, body)

    def make_trainer() -> Trainer:
        bank = SDFBank.from_dataset(dataset, indices[rank::world], device)
        return Trainer(cfg, bank, device, rank=rank, world=world, num_shapes=len(indices))

    r = loop.load_or_train(make_trainer, run_dir, desc=f"deepsdf ({dc.recipe})", log_every=log_every,
                           checkpoint_every=dc.checkpoint_every, max_steps=max_steps, progress=progress and rank == 0,
                           device=device, write=rank == 0,
                           extra={"config": cfg.to_dict(), "indices": indices, "dataset": str(dataset.root)})
    decoder = make_decoder(dc).to(device)
    decoder.load_state_dict(r.state["decoder"])
    pps = r.steps_per_second * dc.shapes_per_step * dc.points_per_shape
    return TrainResult(r.run_dir, decoder, r.state["latents"], r.history, r.seconds, r.steps, pps, r.resumed_from)
