"""Training per-shape networks (notebooks ``02``-``05``): all N networks as one batched model.

Each step draws ``points_per_shape`` samples of every shape and takes one Adam step for all
networks at once; the loss is the *sum* over networks of each one's mean clamped-L1 error, so
every network gets exactly the gradient it would get alone (and Adam's per-element state keeps
them independent): training N networks batched equals training them one by one, which
``tests/test_weightspace.py`` checks and ``bench/`` times.

Load-or-train (:mod:`sdfnets.train.loop`): a run lives in ``checkpoints/runs/weightspace/<name>-<key>/``,
an interrupted run resumes from ``last.pt`` to the same result, and the finished run is a
weight dataset (:class:`WeightSet`, one safetensors file).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import devices
from ..data.bank import SDFBank
from ..field import clamped_l1
from ..io import atomic_target
from ..train import loop, schedules
from .nets import NetSpec, Params, flatten, forward, init_params, repeat, unflatten


@dataclass
class WeightSet:
    """A weight dataset: row i is the flat weight vector of shape ``obj_idx[i]``'s network."""

    spec: NetSpec
    weights: torch.Tensor  # [N, num_params]
    init: torch.Tensor  # [N, num_params]: where each network started (the anchor, or its random init)
    obj_idx: list[int]
    uids: list[str]
    loss: np.ndarray  # [N] final per-shape clamped-L1 SDF error (fixed 32,768 samples)
    meta: dict
    path: Path | None = None  # the safetensors file it was loaded from or saved to

    @property
    def params(self) -> Params:
        return unflatten(self.spec, self.weights)

    @property
    def offsets(self) -> dict[str, tuple[int, int]]:
        return self.spec.offsets()

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"spec": dataclasses.asdict(self.spec), "offsets": self.offsets, "obj_idx": self.obj_idx,
                "uids": self.uids, **self.meta}
        with atomic_target(path) as tmp:
            save_file({"weights": self.weights.float().contiguous().cpu(),
                       "init": self.init.float().contiguous().cpu(),
                       "loss": torch.as_tensor(self.loss, dtype=torch.float32)},
                      str(tmp), metadata={"format": "sdfnets-weightset-v1", "meta": json.dumps(meta)})
        self.path = path
        return path

    @classmethod
    def load(cls, path: Path | str, device="cpu") -> "WeightSet":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["meta"])
        t = load_file(str(path), device=str(device))
        spec = NetSpec(**meta.pop("spec"))
        meta.pop("offsets")
        return cls(spec, t["weights"], t["init"], meta.pop("obj_idx"), meta.pop("uids"), t["loss"].cpu().numpy(), meta,
                   Path(path))


def sdf_loss(spec: NetSpec, params: Params, pts: torch.Tensor, sdf: torch.Tensor, clamp: float) -> torch.Tensor:
    """Per-network training loss [N]: mean |f(x) - clamp(sdf)|. Unlike phase 11's clamped L1 the
    prediction is not clamped: a warm start whose field is > clamp everywhere near a thin shape
    would otherwise get no gradient at all (seen on the real corpus: a network stuck at its start)."""
    return (forward(spec, params, pts) - sdf.clamp(-clamp, clamp)).abs().mean(dim=1)


class BatchedFit:
    """Adam on N networks at once over a device-resident :class:`SDFBank` (row i <-> network i)."""

    def __init__(self, spec: NetSpec, params: Params, bank: SDFBank, *, lr: float, steps: int,
                 points_per_shape: int, clamp: float = 0.1, seed: int = 0):
        self.spec, self.bank, self.clamp = spec, bank, clamp
        self.device = bank.data.device
        self.params = {k: v.detach().to(self.device).clone().requires_grad_() for k, v in params.items()}
        self.lr, self.total, self.points = lr, steps, points_per_shape
        self.opt = torch.optim.Adam(list(self.params.values()), lr=lr, fused=self.device.type == "cuda")
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed)
        self.step = 0
        self.running = loop.RunningMean(self.device)

    def run(self, steps: int) -> None:
        """``steps`` Adam steps of every network. On a GPU the float32 matrix products use TF32
        tensor cores (restored afterwards)."""
        before = torch.get_float32_matmul_precision()
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")
        try:
            self._run(steps)
        finally:
            torch.set_float32_matmul_precision(before)
        self.running.count += steps

    def loss(self) -> float:
        """Mean loss over networks of the steps since the last call (one host sync)."""
        return self.running.read()

    def _run(self, steps: int) -> None:
        n, p_all = self.bank.data.shape[:2]
        ids = torch.arange(n, device=self.device)
        for _ in range(steps):
            schedules.set_lr(self.opt, [self.lr * schedules.cosine(self.step, self.total)])
            idx = torch.randint(p_all, (n, self.points), generator=self.gen, device=self.device)
            pts, sdf = self.bank.gather(ids, idx)
            per_net = sdf_loss(self.spec, self.params, pts, sdf, self.clamp)
            self.opt.zero_grad(set_to_none=True)
            per_net.sum().backward()
            self.opt.step()
            self.running.sum += per_net.detach().mean()
            self.step += 1

    def state(self) -> dict:
        return {"params": {k: v.detach().clone() for k, v in self.params.items()}, "optimizer": self.opt.state_dict(),
                "generator": self.gen.get_state(), "step": self.step}

    def load_state(self, ck: dict) -> None:
        with torch.no_grad():
            for k, v in ck["params"].items():
                self.params[k].copy_(v)
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"].cpu())
        self.step = ck["step"]


@torch.no_grad()
def per_shape_loss(spec: NetSpec, params: Params, bank: SDFBank, num_points: int = 32_768, clamp: float = 0.1,
                   seed: int = 0, chunk: int = 64) -> np.ndarray:
    """Clamped-L1 SDF error of each network on a fixed random subset of its shape's samples (the
    measure phase 11 reports, so the two phases compare)."""
    out = []
    for ids, pts, sdf in bank.fixed_subsets(num_points, seed, chunk):
        sub = {k: v[ids.to(v.device)].to(pts.device) for k, v in params.items()}
        out.append(clamped_l1(forward(spec, sub, pts), sdf, clamp).mean(dim=1).cpu())
    return torch.cat(out).numpy()


def fit(spec: NetSpec, init: Params, bank: SDFBank, *, lr: float, steps: int, points_per_shape: int,
        clamp: float = 0.1, seed: int = 0, run_dir: Path | None = None, checkpoint_every: int = 500,
        log_every: int = 50, progress: bool = True, desc: str = "fit",
        max_steps: int | None = None) -> tuple[Params, list, float]:
    """Train the networks ``init`` (one per bank row) for ``steps`` steps; returns (params,
    history of (step, mean loss), seconds). With ``run_dir``, ``last.pt`` is written every
    ``checkpoint_every`` steps and a rerun resumes from it; ``max_steps`` stops early and leaves
    ``last.pt`` behind, as an interruption would."""
    r = loop.load_or_train(lambda: BatchedFit(spec, init, bank, lr=lr, steps=steps, points_per_shape=points_per_shape,
                                              clamp=clamp, seed=seed),
                           run_dir, desc=desc, log_every=log_every, checkpoint_every=checkpoint_every,
                           max_steps=max_steps, progress=progress, keep_final=False)
    return {k: v.detach() for k, v in r.state["params"].items()}, r.history, r.seconds


# ---------------------------------------------------------------------------------------------
# Load-or-train: the anchor and the weight datasets


def anchor_index(wc, dataset) -> int:
    """obj_idx of the anchor shape: ``anchor_uid``, else the first shape of category "table"."""
    if wc.anchor_uid:
        return dataset.index_of(wc.anchor_uid)
    for i, c in enumerate(dataset.categories):
        if c.lower() == "table":
            return i
    raise ValueError("no anchor: set weightspace.anchor_uid (the corpus has no category 'table')")


def _spec_key(wc) -> dict:
    return {k: getattr(wc, k) for k in ("hidden", "num_layers", "pe_bands", "omega0", "clamp", "points_per_shape")}


def train_anchor(cfg, dataset, family: str = "relu_pe", *, device=None, progress: bool = True) -> WeightSet:
    """Phase 0: the anchor decoder of ``family`` on the anchor shape (random init, seed ``cfg.seed``)."""
    wc = cfg.weightspace
    spec = NetSpec.from_config(wc, family)
    i = anchor_index(wc, dataset)
    lr = wc.anchor_lr if family == "relu_pe" else wc.siren_lr
    body = {"what": "anchor", "family": family, **_spec_key(wc), "steps": wc.anchor_steps, "lr": lr,
            "seed": cfg.seed, "obj_idx": i, "data": loop.data_name(dataset)}
    return _load_or_fit(spec, dataset, [i], init_params(spec, 1, seed=cfg.seed), body, lr=lr, steps=wc.anchor_steps,
                        wc=wc, seed=cfg.seed, device=device, progress=progress, desc=f"anchor ({family})",
                        meta={"init_kind": "random", "role": "anchor"})


def train_weight_set(cfg, dataset, indices, family: str = "relu_pe", init: str = "anchor", *, device=None,
                     progress: bool = True) -> WeightSet:
    """Phase 1: one network of ``family`` per shape in ``indices``, trained batched, starting from
    the anchor (``init="anchor"``: every network the same start) or from independent random
    initialisations (``init="random"``)."""
    wc = cfg.weightspace
    spec = NetSpec.from_config(wc, family)
    indices = [int(i) for i in indices]
    lr = wc.lr if family == "relu_pe" else wc.siren_lr
    if init == "anchor":
        anchor = train_anchor(cfg, dataset, family, device=device, progress=progress)
        start = repeat(anchor.params, len(indices))
        extra = {"anchor_uid": anchor.uids[0]}
    elif init == "random":
        start = init_params(spec, len(indices), seed=cfg.seed + 1)
        extra = {}
    else:
        raise ValueError(f"init must be 'anchor' or 'random', not {init!r}")
    body = {"what": "weights", "family": family, "init": init, **_spec_key(wc), "steps": wc.steps, "lr": lr,
            "anchor_steps": wc.anchor_steps if init == "anchor" else None, "anchor_lr": wc.anchor_lr,
            "seed": cfg.seed, "indices": indices, "data": loop.data_name(dataset), **extra}
    return _load_or_fit(spec, dataset, indices, start, body, lr=lr, steps=wc.steps, wc=wc, seed=cfg.seed,
                        device=device, progress=progress, desc=f"{family} x {len(indices)} ({init} init)",
                        meta={"init_kind": init, "role": "per-shape", **extra})


def _load_or_fit(spec, dataset, indices, start: Params, body: dict, *, lr, steps, wc, seed, device, progress, desc,
                 meta) -> WeightSet:
    device = devices.default_device(device)
    run_dir = loop.run_dir("weightspace", f"{Path(dataset.root).name}-{body['what']}", body)
    final = run_dir / "weights.safetensors"
    if final.exists():
        return WeightSet.load(final, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    bank = SDFBank.from_dataset(dataset, indices, device)
    params, history, seconds = fit(spec, start, bank, lr=lr, steps=steps, points_per_shape=wc.points_per_shape,
                                   clamp=wc.clamp, seed=seed, run_dir=run_dir, checkpoint_every=wc.checkpoint_every,
                                   progress=progress, desc=desc)
    loss = per_shape_loss(spec, params, bank, clamp=wc.clamp)
    ws = WeightSet(spec, flatten(spec, params), flatten(spec, {k: v.to(device) for k, v in start.items()}),
                   indices, [dataset.uid_of(i) for i in indices], loss,
                   {**meta, "config": body, "seconds": seconds, "history": history, "steps": steps})
    ws.save(final)
    return ws
