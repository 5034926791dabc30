"""Phase 11 on several GPUs (or CPU processes): PyTorch's DistributedDataParallel under torchrun.

    torchrun --nproc-per-node 4 -m sdfnets.deepsdf.distributed --scale full --out runs/ddp

Shapes are sharded across ranks (rank r owns shapes r, r + W, r + 2W, ...) with their SDF
samples and their latents; the decoder is replicated and DDP all-reduces its gradients. The
global batch of a step does not depend on the number of ranks: an epoch is one seeded
permutation of all shapes, and each shape's points in a step come from a generator seeded by
(seed, step, shape). Each rank computes the loss of the batch's shapes it owns; the all-reduced
(averaged) decoder gradient is scaled by W so that it equals the single-process one. Latents get gradients
only on their owner, and every rank steps its own Adam on its own rows: the same elementwise update
a single process does. So a run on W ranks equals the run on one, up to the order of floating-
point sums (``tests/test_distributed.py`` checks 2 gloo processes against 1).

Checkpoints gather every latent and both Adam states in shape order, so a run resumes exactly on
any number of ranks. The points of a step are drawn on the host per shape (a seeded generator
each), which keeps runs comparable across world sizes at some cost in speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from ..data.bank import SDFBank
from ..field import clamped_l1
from ..io import load_checkpoint, save_checkpoint
from .model import make_decoder


def _point_indices(seed: int, step: int, shape_ids: torch.Tensor, num_points: int, total: int,
                   device) -> torch.Tensor:
    """[len(shape_ids), num_points] sample indices, a function of (seed, step, shape) only."""
    rows = []
    for s in shape_ids.tolist():
        g = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + step * 10_007 + s)
        rows.append(torch.randint(total, (num_points,), generator=g))
    return torch.stack(rows).to(device) if rows else torch.zeros(0, num_points, dtype=torch.long, device=device)


def global_batch(seed: int, step: int, n: int, per_step: int) -> torch.Tensor:
    """The shapes of global step ``step`` (epochs are seeded permutations, padded to full batches)."""
    per_epoch = math.ceil(n / per_step)
    e, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + e)
    perm = torch.randperm(n, generator=g)
    perm = torch.cat([perm, perm[: (-n) % per_step]])
    return perm[k * per_step:(k + 1) * per_step]


class ShardedTrainer:
    """The decoder (DDP) and this rank's latents over this rank's shapes."""

    def __init__(self, cfg, data: torch.Tensor, *, rank: int = 0, world: int = 1, device=None,
                 latents: torch.Tensor | None = None):
        dc = self.dc = cfg.deepsdf
        self.cfg, self.rank, self.world = cfg, rank, world
        self.device = torch.device(device or "cpu")
        self.n = data.shape[0]
        self.owned = torch.arange(rank, self.n, world)  # global shape ids of this rank
        self.bank = SDFBank(data[self.owned].to(self.device))
        torch.manual_seed(cfg.seed)  # the same decoder initialisation and latent draw on every rank
        decoder = make_decoder(dc).to(self.device)
        all_latents = torch.randn(self.n, dc.latent_dim) * dc.latent_init_std if latents is None else latents
        self.latents = torch.nn.Parameter(all_latents[self.owned].clone().to(self.device))
        self.decoder = DDP(decoder) if world > 1 else decoder
        self.opt = torch.optim.Adam([{"params": self.decoder.parameters(), "lr": dc.lr_decoder},
                                     {"params": [self.latents], "lr": dc.lr_latent}])
        self.step = 0

    def run(self, steps: int) -> float:
        dc, total = self.dc, self.bank.data.shape[1]
        last = 0.0
        for _ in range(steps):
            batch = global_batch(self.cfg.seed, self.step, self.n, dc.shapes_per_step)
            mine = batch[batch % self.world == self.rank]
            local = (mine // self.world).to(self.device)  # rows of this rank's bank and latents
            idx = _point_indices(self.cfg.seed, self.step, mine, dc.points_per_shape, total, self.device)
            pts, sdf = self.bank.gather(local, idx)
            pred = self.decoder(self.latents[local][:, None, :], pts)
            per_shape = clamped_l1(pred, sdf, dc.clamp).mean(dim=1)
            reg = dc.latent_reg * self.latents[local].pow(2).sum(-1)
            # sum over this rank's shapes / global batch size: the latents' gradients are then the
            # single-process ones; DDP averages the decoder's over ranks, so they are scaled by W below
            loss = (per_shape + reg).sum() / len(batch)
            if len(mine) == 0:  # keep DDP's collective in step even with no local shapes
                loss = loss + 0.0 * sum(p.sum() for p in self.decoder.parameters())
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.world > 1:
                for q in self.module.parameters():
                    q.grad.mul_(self.world)
            self.opt.step()
            self.step += 1
            last = float(per_shape.detach().sum()) / len(batch)
        return last

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's rows [n_r, D] of a per-shape tensor -> every shape's rows, in shape order."""
        if self.world == 1:
            return rows.detach().cpu().clone()
        size = math.ceil(self.n / self.world)
        pad = torch.zeros(size, rows.shape[1], device=self.device)
        pad[: len(self.owned)] = rows.detach()
        parts = [torch.zeros_like(pad) for _ in range(self.world)]
        dist.all_gather(parts, pad)
        out = torch.zeros(self.n, rows.shape[1])
        for r, part in enumerate(parts):
            ids = torch.arange(r, self.n, self.world)
            out[ids] = part[: len(ids)].cpu()
        return out

    @property
    def module(self):
        return self.decoder.module if isinstance(self.decoder, DDP) else self.decoder

    def checkpoint(self) -> dict:
        """Everything, gathered in shape order: decoder, latents and both Adam states."""
        st = self.opt.state
        lat = st.get(self.latents, {})
        return {"decoder": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
                "latents": self.gather(self.latents), "step": self.step, "config": self.cfg.to_dict(),
                "world": self.world,
                "adam_decoder": [{k: v.detach().cpu().clone() for k, v in st[q].items()}
                                 for q in self.module.parameters()] if st else None,
                "adam_latents": {"step": lat["step"].detach().cpu().clone(), "exp_avg": self.gather(lat["exp_avg"]),
                                 "exp_avg_sq": self.gather(lat["exp_avg_sq"])} if lat else None}

    def load(self, ck: dict) -> None:
        """Resume from a checkpoint written by any number of ranks."""
        self.module.load_state_dict(ck["decoder"])
        self.step = ck["step"]
        if ck.get("adam_decoder"):
            for q, s in zip(self.module.parameters(), ck["adam_decoder"]):
                self.opt.state[q] = {k: v.to(self.device) if v.dim() else v.clone() for k, v in s.items()}
        if ck.get("adam_latents"):
            a = ck["adam_latents"]
            self.opt.state[self.latents] = {"step": a["step"].clone(), "exp_avg": a["exp_avg"][self.owned].to(self.device),
                                            "exp_avg_sq": a["exp_avg_sq"][self.owned].to(self.device)}


def train(cfg, data: torch.Tensor, steps: int, *, rank: int = 0, world: int = 1, device=None,
          resume: dict | None = None) -> tuple[dict, float]:
    """Train ``steps`` global steps on ``data`` [N, P, 4] (every rank passes the whole array and
    keeps its shard). ``resume``: a checkpoint from any world size (the run continues exactly).
    Returns (the gathered checkpoint, seconds)."""
    tr = ShardedTrainer(cfg, data, rank=rank, world=world, device=device,
                        latents=None if resume is None else resume["latents"])
    if resume is not None:
        tr.load(resume)
    t0 = time.perf_counter()
    tr.run(steps)
    if tr.device.type == "cuda":
        torch.cuda.synchronize()
    return tr.checkpoint(), time.perf_counter() - t0


def main(argv=None) -> None:  # pragma: no cover - exercised by the gloo test through torchrun's environment
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--steps", type=int, default=None, help="global steps (default: the config's epochs)")
    ap.add_argument("--out", default=None, help="write the gathered checkpoint here (rank 0)")
    ap.add_argument("--resume", default=None)
    ap.add_argument("--synthetic", type=int, default=0, help="N synthetic shapes (spheres) instead of the dataset, "
                                                             "for throughput measurements")
    ap.add_argument("--shapes-per-step", type=int, default=None)
    args = ap.parse_args(argv)
    from .. import config
    from ..data import load_or_build
    from ..data.splits import train_test_ids

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available()
    if world > 1:
        os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
        dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    cfg = config.resolve(args.scale, deepsdf={"shapes_per_step": args.shapes_per_step} if args.shapes_per_step else {})
    if args.synthetic:
        g = torch.Generator().manual_seed(0)
        pts = torch.rand(args.synthetic, cfg.data.num_points, 3, generator=g) * 2 - 1
        data = torch.cat([pts, pts.norm(dim=-1, keepdim=True) - 0.5], dim=-1)
    else:
        ds = load_or_build(cfg.data)
        data = SDFBank.from_dataset(ds, train_test_ids(ds)[0], "cpu").data
    steps = args.steps or math.ceil(len(data) / cfg.deepsdf.shapes_per_step) * cfg.deepsdf.epochs
    resume = load_checkpoint(args.resume) if args.resume else None
    ck, seconds = train(cfg, data, steps, rank=rank, world=world, device=device, resume=resume)
    pps = steps * cfg.deepsdf.shapes_per_step * cfg.deepsdf.points_per_shape / seconds
    if rank == 0:
        print(f"{world} rank(s): {steps} steps in {seconds:.1f} s, {pps / 1e6:.2f} M point-samples/s")
        print("RESULT " + json.dumps({"world": world, "steps": steps, "seconds": seconds, "points_per_second": pps}))
        if args.out:
            save_checkpoint(Path(args.out), **ck, seconds=seconds, points_per_second=pps)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    main()
