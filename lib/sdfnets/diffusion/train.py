"""The denoising trainer of every diffusion model: x0-prediction with an MSE loss, K in
[min_views, max_views] conditioning views per batch (or no condition at all), condition and pose
dropout, AdamW with a linear warm-up, an exponential moving average of the loss as its log.

Every step has the same shapes: the view tokens are padded to ``max_views`` with an attention mask,
so on a GPU the whole step (forward, backward, AdamW) is captured once as a CUDA graph and replayed,
with only the batch's random draws outside it (a small model's eager step is bound by launching
~1,500 kernels); AdamW is PyTorch's fused kernel on a GPU, and ``compile=True`` passes each
transformer block through ``torch.compile`` before capture (regional compilation: the layers share
one compiled block, so it is compiled once), which fuses the normalisations, modulations, gates and
activations between the matrix products (worth it for the weight DiT's large blocks; the benchmarks in
``bench/`` say where the compilation pays). Under torchrun
(``world`` > 1) the model is wrapped in DistributedDataParallel: every rank draws the same global
batch and computes the loss of its rows ``rank::world``; the averaged gradient is scaled by
``world`` so that the update equals the single-process one (``tests/test_distributed.py``). The
trainer follows :mod:`sdfnets.train.loop`' protocol.

Settings are read by name from a config section with ``timesteps``, ``steps``, ``batch``, ``lr``,
``min_views``, ``max_views``, ``cond_dropout`` and ``pose_dropout``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import cudagraphs, devices
from ..train import schedules
from .ddim import CosineDDIM
from .dit import Block


class DenoisingTrainer:
    """Train ``model`` to predict ``targets`` [N, D] (already normalised) from their noisy versions.

    With views, ``model(x_t, t, features, pose_emb, drop, pad)`` (a :class:`~.dit.ViewDenoiser`)
    sees ``features`` [N, V, F] of random views of each target and their pose embeddings
    ``pose_emb`` [V, P]; without, ``model(x_t, t)``. ``params`` is the module whose parameters are
    trained (the DiT inside the wrapper)."""

    def __init__(self, model: nn.Module, params: nn.Module, targets: torch.Tensor, settings, *, seed: int,
                 features: torch.Tensor | None = None, pose_emb: torch.Tensor | None = None, device=None,
                 cuda_graph: bool = True, compile: bool = False, rank: int = 0, world: int = 1):
        s = self.s = settings
        self.device = device = devices.default_device(device)
        cuda = device.type == "cuda"
        if compile and cuda:
            for m in model.modules():
                if isinstance(m, Block):
                    m.compile(dynamic=False)
        self.model, self.params, self.z = model, params, targets
        self.features, self.pose_emb = features, pose_emb
        self.rank, self.world = rank, world
        self.graphed = cuda_graph and cuda and world == 1
        self.opt = torch.optim.AdamW(params.parameters(), lr=torch.tensor(s.lr, device=device) if self.graphed else s.lr,
                                     weight_decay=0.0, capturable=self.graphed, fused=True if cuda else None)
        self.sched = CosineDDIM(s.timesteps).to(device)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.kgen = torch.Generator().manual_seed(seed)  # the batch's view count, drawn on the host: no sync
        self.step, self.total = 0, s.steps
        self.warmup = min(500, s.steps // 10)
        self.ema = torch.zeros((), device=device)
        b = s.batch
        self.n = targets.shape[0]
        self.v = features.shape[1] if features is not None else 0
        self.kmax = min(s.max_views, self.v)
        k = self.kmax
        self.static = {"ids": torch.zeros(b, dtype=torch.long, device=device),
                       "vids": torch.arange(k, device=device).expand(b, k).contiguous(),
                       "pad": torch.zeros(b, k, dtype=torch.bool, device=device),
                       "t": torch.zeros(b, dtype=torch.long, device=device),
                       "noise": torch.zeros(b, *targets.shape[1:], device=device),
                       "drop": torch.zeros(b, dtype=torch.bool, device=device),
                       "pose_keep": torch.ones(b, 1, 1, device=device)}
        self.amp = dict(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda", cache_enabled=False)
        self.graph = None

    def _train_step(self) -> torch.Tensor:
        st, rows, b = self.static, slice(self.rank, None, self.world), self.s.batch
        self.opt.zero_grad(set_to_none=False)  # gradients keep their memory (a CUDA graph needs fixed addresses)
        ids, t = st["ids"][rows], st["t"][rows]
        x0 = self.z[ids]
        with torch.autocast(**self.amp):
            x_t = self.sched.add_noise(x0, st["noise"][rows], t)
            if self.features is None:
                pred = self.model(x_t, t)
            else:
                vids = st["vids"][rows]
                pred = self.model(x_t, t, self.features[ids[:, None], vids],
                                  self.pose_emb[vids] * st["pose_keep"][rows], st["drop"][rows], st["pad"][rows])
        loss = F.mse_loss(pred.float(), x0, reduction="sum") / (b * x0[0].numel())  # this rank's share of the mean
        loss.backward()
        if self.world > 1:
            for q in self.params.parameters():
                q.grad.mul_(self.world)  # DDP averaged over ranks; the batch mean is their sum
            loss = loss.detach().clone()
            torch.distributed.all_reduce(loss)
        self.opt.step()
        return loss.detach()

    def _draw(self) -> None:
        s, st, b, dev, g = self.s, self.static, self.s.batch, self.device, self.gen
        k = int(torch.randint(s.min_views, self.kmax + 1, (1,), generator=self.kgen)) if self.v else 0
        st["ids"].copy_(torch.randint(self.n, (b,), generator=g, device=dev))
        if self.v:
            st["vids"].copy_(torch.rand(b, self.v, generator=g, device=dev).argsort(dim=1)[:, :self.kmax])
            st["pad"].copy_(torch.arange(self.kmax, device=dev)[None].expand(b, self.kmax) >= k)
        st["t"].copy_(torch.randint(s.timesteps, (b,), generator=g, device=dev))
        st["noise"].copy_(torch.randn(b, *self.z.shape[1:], generator=g, device=dev))
        if s.cond_dropout > 0:
            st["drop"].copy_(torch.rand(b, generator=g, device=dev) < s.cond_dropout)
        if s.pose_dropout > 0:
            st["pose_keep"].copy_((torch.rand(b, 1, 1, generator=g, device=dev) >= s.pose_dropout).float())

    def run(self, steps: int) -> None:
        if self.graphed and self.graph is None:
            schedules.tensor_lrs(self.opt, self.device)
            self.graph, self._graph_loss = cudagraphs.capture_step(self._train_step, list(self.params.parameters()),
                                                             self.opt, warmup=3)
        for _ in range(steps):
            schedules.set_lr(self.opt, [self.s.lr * schedules.linear_warmup(self.step, self.warmup)])
            self._draw()
            if self.graph is not None:
                self.graph.replay()
                loss = self._graph_loss
            else:
                loss = self._train_step()
            self.ema = loss.clone() if self.step == 0 else 0.99 * self.ema + 0.01 * loss
            self.step += 1

    def loss(self) -> float:
        """The loss' moving average (one host sync)."""
        return float(self.ema)

    def state(self) -> dict:
        return {"dit": self.params.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
                "ema": self.ema, "generator": self.gen.get_state(), "kgenerator": self.kgen.get_state()}

    def load_state(self, ck: dict) -> None:
        self.params.load_state_dict(ck["dit"])
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"].cpu())
        self.kgen.set_state(ck["kgenerator"].cpu())
        self.step, self.ema = ck["step"], ck["ema"].to(self.device)
