"""Phase 11 training (notebook ``11_deepsdf``): the decoder and the latents, optimised jointly.

Both recipes share one loop. All SDF samples live on the device as one tensor [N, P, 4]; each
step draws ``shapes_per_step`` shapes (an epoch is one permutation of the shapes) and
``points_per_shape`` random samples of each, with no host work and no host synchronisation
except every ``log_every`` steps. ``thesis`` runs it eagerly in float32 with 4 shapes x 8,192
points; ``fast`` uses a large batch, bf16 and fused Adam, computed either by ``torch.compile``
(``kernels="inductor"``) or by the hand-fused step of :mod:`.fused` (``kernels="triton"``, Hopper
GPUs; the whole step replayed as one CUDA graph; elsewhere its float32 PyTorch reference).

Load-or-train: a run lives in ``checkpoints/runs/deepsdf/<dataset>-<config hash>/``; a finished
run is loaded, an interrupted one resumes from ``last.pt`` (random-generator state included, so
the result is the same as an uninterrupted run), and every checkpoint holds the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import paths
from ..config import Config, DeepSDFConfig
from ..io import atomic_write_bytes
from . import fused
from .model import Decoder


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class SDFBank:
    """Every shape's SDF samples as one device tensor [N, P, 4] (xyz, sdf)."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    @classmethod
    def from_dataset(cls, dataset, indices=None, device=None, max_points: int | None = None) -> "SDFBank":
        indices = range(len(dataset)) if indices is None else indices
        rows = []
        for i in indices:
            s = dataset.sdf(i)
            pts, sdf = s["points"], s["sdf"]
            if max_points:
                pts, sdf = pts[:max_points], sdf[:max_points]
            rows.append(np.concatenate([pts, sdf[:, None]], axis=1))
        return cls(torch.from_numpy(np.stack(rows)).to(device or default_device()))

    @property
    def num_shapes(self) -> int:
        return self.data.shape[0]

    @classmethod
    def synthetic(cls, n: int, p: int, device=None, seed: int = 0) -> "SDFBank":
        """Spheres of radii 0.3 to 0.8 sampled uniformly in the cube (for throughput benchmarks)."""
        g = torch.Generator(device=device).manual_seed(seed)
        pts = torch.rand(n, p, 3, device=device, generator=g) * 2 - 1
        radii = torch.linspace(0.3, 0.8, n, device=device)[:, None, None]
        return cls(torch.cat([pts, pts.norm(dim=-1, keepdim=True) - radii], dim=-1))

    def gather(self, shape_ids: torch.Tensor, point_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.data[shape_ids[:, None], point_idx]  # [B, S, 4]
        return rows[..., :3], rows[..., 3]

    def fixed_subsets(self, num_points: int, seed: int = 0, chunk: int = 16):
        """Every shape in chunks: (rows, points, sdf), the same random subset of each shape's
        samples for a given seed (how per-shape errors are measured)."""
        dev = self.data.device
        g = torch.Generator(device=dev)
        g.manual_seed(seed)
        for s in range(0, self.num_shapes, chunk):
            ids = torch.arange(s, min(s + chunk, self.num_shapes), device=dev)
            idx = torch.randint(self.data.shape[1], (len(ids), num_points), generator=g, device=dev)
            yield (ids, *self.gather(ids, idx))


def make_decoder(cfg: DeepSDFConfig) -> Decoder:
    return Decoder(cfg.latent_dim, cfg.hidden, cfg.num_layers, cfg.skip_layer, cfg.pe_bands, cfg.input_align)


def clamped_l1(pred: torch.Tensor, target: torch.Tensor, clamp: float) -> torch.Tensor:
    return (pred.clamp(-clamp, clamp) - target.clamp(-clamp, clamp)).abs()


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


def run_key(cfg: Config, dataset, indices=None) -> str:
    train_keys = {k: v for k, v in dataclasses.asdict(cfg.deepsdf).items()
                  if k not in ("mesh_resolution", "eval_shapes", "recon_steps", "recon_shapes")  # evaluation-only settings
                  and k not in ("kernels", "cuda_graph")}  # how the same step is computed, not which step
    body = json.dumps({"deepsdf": train_keys, "seed": cfg.seed, "indices": list(map(int, indices or [])),
                       "data": str(Path(dataset.root).relative_to(paths.data_dir()))
                       if str(dataset.root).startswith(str(paths.data_dir())) else str(dataset.root)},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:10]


def steps_for(cfg: DeepSDFConfig, num_shapes: int) -> tuple[int, int]:
    per_epoch = math.ceil(num_shapes / cfg.shapes_per_step)
    return per_epoch, per_epoch * cfg.epochs


def _save(path: Path, **state) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


class Trainer:
    """The training step of both recipes over a device-resident :class:`SDFBank`."""

    def __init__(self, cfg: Config, bank: SDFBank, device=None):
        dc = self.dc = cfg.deepsdf
        self.cfg, self.bank = cfg, bank
        self.device = device = torch.device(device) if device else bank.data.device
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
        self.running = torch.zeros((), device=device)
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
        self.running += l_sdf.detach()

    def _capture(self, ids, pts, sdf) -> None:
        """Record one step as a CUDA graph: warm up on a side stream, capture, then put the
        parameters, the optimizer state and the running loss back as they were."""
        for g in self.opt.param_groups:  # a resumed run's optimizer state may hold float rates
            if not torch.is_tensor(g["lr"]):
                g["lr"] = torch.tensor(float(g["lr"]), device=self.device)
        self._static = [ids.clone(), pts.clone(), sdf.clone()]
        params = [*self.decoder.parameters(), self.latents]
        saved = [p.detach().clone() for p in params]
        saved_opt = {p: {k: v.clone() for k, v in st.items()} for p, st in self.opt.state.items()}
        running = self.running.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self._step(*self._static)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step(*self._static)
        with torch.no_grad():
            for p, v in zip(params, saved):
                p.copy_(v)
            for p, st in self.opt.state.items():
                for k, v in st.items():
                    v.copy_(saved_opt[p][k]) if p in saved_opt else v.zero_()
            self.running.copy_(running)

    def run(self, steps: int) -> None:
        """Take ``steps`` optimisation steps; no host synchronisation."""
        dc, P = self.dc, self.bank.data.shape[1]
        for _ in range(steps):
            ids = self._shapes()
            idx = torch.randint(P, (len(ids), dc.points_per_shape), generator=self.gen, device=self.device)
            if dc.lr_schedule == "cosine":
                f = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * self.step / self.total))
                for g, lr in zip(self.opt.param_groups, (dc.lr_decoder, dc.lr_latent)):
                    g["lr"].fill_(lr * f) if torch.is_tensor(g["lr"]) else g.__setitem__("lr", lr * f)
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
    device = torch.device(device) if device else default_device()
    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    key = run_key(cfg, dataset, indices if len(indices) != len(dataset) else None)
    run_dir = run_dir or paths.runs_dir() / "deepsdf" / f"{Path(dataset.root).name}-{key}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "final.pt").exists():
        ck = torch.load(run_dir / "final.pt", map_location=device, weights_only=False)
        decoder = make_decoder(dc).to(device)
        decoder.load_state_dict(ck["decoder"])
        return TrainResult(run_dir, decoder, ck["latents"], ck["history"], ck["seconds"], ck["step"],
                           ck.get("points_per_second", 0.0))
    tr = Trainer(cfg, SDFBank.from_dataset(dataset, indices, device), device)
    history, seconds = [], 0.0
    if (run_dir / "last.pt").exists():
        ck = torch.load(run_dir / "last.pt", map_location=device, weights_only=False)
        tr.load_state(ck)
        history, seconds = ck["history"], ck["seconds"]
    resumed_from = tr.step
    stop = tr.total if max_steps is None else min(tr.total, max_steps)
    t0 = time.perf_counter()

    def save(name: str, pps: float) -> None:
        state = tr.state()
        if name == "final.pt":  # a finished run needs no optimizer state: keeps the file small
            state.pop("optimizer")
        _save(run_dir / name, **state, history=history, seconds=seconds + time.perf_counter() - t0,
              config=cfg.to_dict(), indices=indices, dataset=str(dataset.root), points_per_second=pps)

    with tqdm(total=tr.total, initial=tr.step, desc=f"deepsdf ({dc.recipe})", unit="step",
              disable=not progress) as bar:
        while tr.step < stop:
            chunk = min(log_every - tr.step % log_every, stop - tr.step)
            before = tr.step
            tr.run(chunk)
            value = float(tr.running) / (tr.step - before)  # the one host sync per log interval
            tr.running.zero_()
            history.append((tr.step, value))
            bar.update(tr.step - before)
            bar.set_postfix(l1=f"{value:.5f}")
            if tr.step % dc.checkpoint_every < log_every and tr.step < stop:
                save("last.pt", 0.0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    pps = tr.points_per_step * (tr.step - resumed_from) / max(elapsed, 1e-9)
    done = tr.step >= tr.total
    save("final.pt" if done else "last.pt", pps)
    if done:
        (run_dir / "last.pt").unlink(missing_ok=True)
    return TrainResult(run_dir, tr.decoder, tr.latents.detach(), history, seconds + elapsed, tr.step, pps,
                       resumed_from)
