"""Training of the pixel-aligned SDF network (:mod:`.pixelsdf`): K random views of a batch of training shapes
per step, phase 11's clamped L1 on their SDF samples; runs resume through :mod:`sdfnets.train.loop`."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import cudagraphs
from ..config import Config, run_settings
from ..field import clamped_l1
from ..train import loop
from . import augment
from .pixelsdf import PixelSDF, views_tensor


class Trainer:
    """Phase-free training of :class:`PixelSDF`: each step, ``batch`` training shapes, K in [1, max_views] of
    their views (one K per step) and ``points`` of their SDF samples; clamped L1."""

    def __init__(self, cfg: Config, dataset, ids, device):
        pc = cfg.pixel
        self.cfg, self.device = pc, torch.device(device)
        self.ids = [int(i) for i in ids]
        # one shape at a time: at full scale the renders are 5.6 GB of uint8, 30 GB as float32
        store = torch.float16 if self.device.type == "cuda" else torch.float32
        views, poses = [], []
        for i in self.ids:
            r = dataset.renders(i)
            views.append(views_tensor(torch.as_tensor(r["images"]), pc.image_size).to(self.device, store))
            poses.append(torch.as_tensor(r["poses"]).float())
        self.yfov = float(dataset.renders(self.ids[0])["yfov"])
        self.views = torch.stack(views)
        self.poses = torch.stack(poses).to(self.device)
        # bf16 autocast on a GPU (the loss and the optimiser in float32)
        self.autocast = torch.autocast("cuda", torch.bfloat16, enabled=self.device.type == "cuda")
        sdf = [dataset.sdf(i) for i in self.ids]
        self.points = torch.as_tensor(np.stack([s["points"] for s in sdf])).float().to(self.device)
        self.sdf = torch.as_tensor(np.stack([s["sdf"] for s in sdf])).float().to(self.device)
        torch.manual_seed(cfg.seed)
        self.model = PixelSDF.from_settings(dataclasses.asdict(pc), self.yfov).to(self.device)
        # on a GPU each step is replayed as a CUDA graph, one per number of views K (:meth:`_graphed`)
        self.graphed = pc.cuda_graph and self.device.type == "cuda"
        self.graphs: dict[int, tuple] = {}
        self.opt = torch.optim.Adam(self.model.parameters(), lr=pc.lr, capturable=self.graphed)
        self.gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        self.step, self.total = 0, pc.steps
        self._loss = torch.zeros((), device=self.device)
        self._count = 0

    def _batch(self):
        pc, g = self.cfg, self.gen
        s = torch.randint(len(self.ids), (pc.batch,), generator=g)
        k = int(torch.randint(1, pc.max_views + 1, (1,), generator=g))
        v = torch.stack([torch.randperm(self.views.shape[1], generator=g)[:k] for _ in range(pc.batch)])
        p = torch.randint(self.points.shape[1], (pc.batch, pc.points), generator=g)
        s, v, p = s.to(self.device), v.to(self.device), p.to(self.device)
        views, poses = self.views[s[:, None], v].float(), self.poses[s[:, None], v]
        if pc.augment or pc.pose_jitter:  # photo-like views, roughly known cameras (.augment)
            views = augment.photo_like(views, g, pc.augment)
            poses = augment.jitter_poses(poses, g, pc.pose_jitter)
        shown = torch.ones(pc.batch, device=self.device)  # whose coordinates the network is given
        if pc.world_dropout:
            shown = (torch.rand(pc.batch, generator=g) >= pc.world_dropout).float().to(self.device)
        return views, poses, self.points[s[:, None], p], self.sdf[s[:, None], p], shown

    def _step(self, views, poses, pts, target, shown) -> None:
        """Forward, backward and the optimiser on one batch; the loss added to the running sum."""
        with self.autocast:
            pred = self.model(self.model.encode(views), poses, pts, shown=shown)
        loss = clamped_l1(pred.float(), target, self.cfg.clamp).mean()
        self.opt.zero_grad(set_to_none=not self.graphed)  # a graph keeps its gradient buffers
        loss.backward()
        self.opt.step()
        self._loss += loss.detach()

    def _graphed(self, batch) -> None:
        """:meth:`_step` replayed as a CUDA graph captured for this batch's K (the batch's draws and the
        augmentation stay outside it); the first step of each K captures (:func:`sdfnets.cudagraphs.capture_step`)."""
        k = batch[0].shape[1]
        if k not in self.graphs:
            static = [x.clone() for x in batch]
            graph, _ = cudagraphs.capture_step(lambda: self._step(*static), list(self.model.parameters()), self.opt,
                                               keep=(self._loss,))
            self.graphs[k] = (graph, static)
        graph, static = self.graphs[k]
        for s, x in zip(static, batch):
            s.copy_(x)
        graph.replay()

    def run(self, n: int) -> None:
        self.model.train()
        for _ in range(n):
            batch = self._batch()
            if self.graphed:
                self._graphed(batch)
            else:
                self._step(*batch)
            self._count += 1
            self.step += 1

    def loss(self) -> float:
        value = float(self._loss) / max(self._count, 1)
        self._loss.zero_()
        self._count = 0
        return value

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
                "generator": self.gen.get_state()}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.gen.set_state(state["generator"])


def train(cfg: Config, dataset, ids, *, device=None, progress: bool = True, max_steps: int | None = None):
    """Load the finished run of ``cfg.pixel`` on the shapes ``ids`` of ``dataset``, or train (resuming) it;
    returns (model, run)."""
    from ..devices import default_device

    device = default_device(device)
    body = {"pixel": run_settings(cfg.pixel), "seed": cfg.seed, "data": loop.data_name(dataset),
            "ids": [int(i) for i in ids]}
    run_dir = loop.run_dir("pixelsdf", "pixelsdf", body)
    holder = {}

    def make():
        holder["trainer"] = Trainer(cfg, dataset, ids, device)
        return holder["trainer"]

    r = loop.load_or_train(make, run_dir, desc="pixel-aligned SDF", checkpoint_every=cfg.pixel.checkpoint_every,
                           log_every=max(1, min(100, cfg.pixel.steps // 20)),
                           progress=progress, max_steps=max_steps, device=device, extra={"config": cfg.to_dict()})
    yfov = float(dataset.renders(int(ids[0]))["yfov"])
    model = PixelSDF.from_settings(dataclasses.asdict(cfg.pixel), yfov).to(device)
    model.load_state_dict(r.state["model"])
    return model.eval(), r
