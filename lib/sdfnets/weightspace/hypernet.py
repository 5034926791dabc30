"""Phases 3 and 4 (notebook ``14``): a per-layer hypernetwork that writes whole ReLU+PE decoders from
a per-shape code, and a VAE over those codes for unconditional generation.

Phase 3. Every training shape owns a code z (auto-decoded, as DeepSDF's latents: the codes and the
hypernetwork are optimised together, so no shape encoder is needed and the comparison with phase
11 stays clean). A shared trunk (z -> hidden -> hidden, SiLU) feeds one linear head per parameter
tensor of the decoder; each head writes that tensor's *residual from the anchor*, initialised to
zero, so every shape starts as the anchor (phase 1's warm start) and the generated weights live in
the same family as phase 1's. Training is in function space: the SDF loss of the decoder with the
generated weights on the shape's own samples (phase 1's loss), plus an L2 prior on the codes.

Phase 4. A VAE compresses the codes (z -> mu, log sigma^2 of a smaller latent -> z); a diffusion
model (the shared denoising trainer, unconditional) learns the VAE's latent means; samples go
latent -> code -> weights -> mesh, and are measured with the same set metrics as phase 2.

Load-or-train (:mod:`sdfnets.train.loop`): ``checkpoints/runs/hypernet/<name>-<key>/final.pt``.
"""

from __future__ import annotations

import dataclasses
import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from .. import devices
from ..data.bank import SDFBank
from ..train import loop, schedules
from .fit import sdf_loss
from .nets import NetSpec, unflatten


class HyperNet(nn.Module):
    """Code [B, code_dim] -> weight vectors [B, D] = anchor + per-tensor linear heads of a shared trunk."""

    def __init__(self, spec: NetSpec, anchor: torch.Tensor, code_dim: int = 64, hidden: int = 256):
        super().__init__()
        self.spec, self.code_dim = spec, code_dim
        self.register_buffer("anchor", anchor.detach().float().clone())
        self.trunk = nn.Sequential(nn.Linear(code_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.heads = nn.ModuleDict()
        for name, (a, b) in spec.offsets().items():
            head = nn.Linear(hidden, b - a)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            self.heads[name.replace(".", "_")] = head

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.trunk(z)
        return self.anchor + torch.cat([self.heads[k.replace(".", "_")](h) for k in self.spec.offsets()], dim=1)


class HyperTrainer:
    """Adam on the hypernetwork and the codes together: ``batch`` shapes x ``points`` samples per step."""

    def __init__(self, net: HyperNet, bank: SDFBank, *, steps: int, batch: int, points: int, lr: float, code_lr: float,
                 code_reg: float, clamp: float, seed: int):
        self.net, self.bank, self.device = net, bank, bank.data.device
        n = bank.num_shapes
        g = torch.Generator().manual_seed(seed)
        self.codes = nn.Parameter((torch.randn(n, net.code_dim, generator=g) * 0.01).to(self.device))
        self.opt = torch.optim.Adam([{"params": net.parameters(), "lr": lr}, {"params": [self.codes], "lr": code_lr}])
        self.lrs = (lr, code_lr)
        self.total, self.batch, self.points, self.reg, self.clamp = steps, min(batch, n), points, code_reg, clamp
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.step = 0
        self.running = loop.RunningMean(self.device)

    def run(self, steps: int) -> None:
        spec, n, p_all = self.net.spec, self.bank.num_shapes, self.bank.data.shape[1]
        for _ in range(steps):
            f = schedules.cosine(self.step, self.total)
            schedules.set_lr(self.opt, [lr * f for lr in self.lrs])
            ids = torch.randperm(n, generator=self.gen, device=self.device)[: self.batch]
            idx = torch.randint(p_all, (len(ids), self.points), generator=self.gen, device=self.device)
            pts, sdf = self.bank.gather(ids, idx)
            z = self.codes[ids]
            fit = sdf_loss(spec, unflatten(spec, self.net(z)), pts, sdf, self.clamp).mean()
            loop.update(self.opt, fit + self.reg * z.pow(2).sum(1).mean(), self.running, logged=fit)
            self.step += 1

    def loss(self) -> float:
        return self.running.read()

    def state(self) -> dict:
        return {"net": self.net.state_dict(), "codes": self.codes.detach().clone(), "optimizer": self.opt.state_dict(),
                "generator": self.gen.get_state(), "step": self.step}

    def load_state(self, ck: dict) -> None:
        self.net.load_state_dict(ck["net"])
        with torch.no_grad():
            self.codes.copy_(ck["codes"])
        self.opt.load_state_dict(ck["optimizer"])
        self.gen.set_state(ck["generator"].cpu())
        self.step = ck["step"]


@dataclasses.dataclass
class HyperRun:
    net: HyperNet
    codes: torch.Tensor  # [N, code_dim], row i <-> shape ids[i]
    ids: list[int]
    history: list
    seconds: float

    @torch.no_grad()
    def weights(self, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Generated weight vectors [N, D] of ``codes`` (default: the training shapes' codes)."""
        z = self.codes if codes is None else codes
        dev = self.net.anchor.device
        return torch.cat([self.net(z[s:s + 256].to(dev)) for s in range(0, len(z), 256)])


def _hash(*xs) -> str:
    return hashlib.sha256(repr(xs).encode()).hexdigest()[:16]


def train_hypernet(cfg, dataset, ids, anchor: torch.Tensor, *, device=None, progress: bool = True) -> HyperRun:
    """Load-or-train the phase-3 hypernetwork on shapes ``ids`` (settings ``cfg.hypernet``), writing
    ReLU+PE decoders (``cfg.weightspace`` sizes) as residuals from ``anchor`` [D]."""
    hc, wc = cfg.hypernet, cfg.weightspace
    device = devices.default_device(device)
    ids = [int(i) for i in ids]
    spec = NetSpec.from_config(wc, "relu_pe")
    body = {"hypernet": dataclasses.asdict(hc), "seed": cfg.seed, "ids": ids, "data": loop.data_name(dataset),
            "spec": dataclasses.asdict(spec), "anchor": _hash(anchor.cpu().numpy().tobytes()), "clamp": wc.clamp}
    bank = SDFBank.from_dataset(dataset, ids, device)

    def make_trainer() -> HyperTrainer:
        torch.manual_seed(cfg.seed)
        net = HyperNet(spec, anchor.to(device), hc.code_dim, hc.hidden).to(device)
        return HyperTrainer(net, bank, steps=hc.steps, batch=hc.batch, points=hc.points, lr=hc.lr, code_lr=hc.code_lr,
                            code_reg=hc.code_reg, clamp=wc.clamp, seed=cfg.seed)

    r = loop.load_or_train(make_trainer, loop.run_dir("hypernet", "phase3", body), desc="hypernetwork (phase 3)",
                           log_every=50, checkpoint_every=hc.checkpoint_every, progress=progress, device=device)
    net = HyperNet(spec, anchor.to(device), hc.code_dim, hc.hidden).to(device)
    net.load_state_dict(r.state["net"])
    return HyperRun(net.eval(), r.state["codes"].to(device), ids, r.history, r.seconds)


# ---------------------------------------------------------------------------------------------
# Phase 4: a VAE over the codes


class CodeVAE(nn.Module):
    def __init__(self, dim: int, latent: int = 16, hidden: int = 256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        self.latent_dim = latent

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen, device=mu.device)
        return self.dec(z), mu, logvar


def train_vae(cfg, codes: torch.Tensor, *, device=None) -> tuple[CodeVAE, list, torch.Tensor, torch.Tensor]:
    """The phase-4 VAE over ``codes`` [N, C], standardised per dimension first (cached by content):
    (vae, history of (step, loss), the codes' mean, std)."""
    hc = cfg.hypernet
    device = devices.default_device(device)
    x = codes.to(device).float()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mean) / std
    torch.manual_seed(cfg.seed)
    vae = CodeVAE(x.shape[1], hc.vae_latent, hc.vae_hidden).to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=hc.vae_lr)
    g = torch.Generator(device=device).manual_seed(cfg.seed)
    history = []
    for step in range(hc.vae_steps):
        rec, mu, logvar = vae(x, g)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        loss = F.mse_loss(rec, x, reduction="none").sum(1).mean() + hc.vae_beta * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == hc.vae_steps - 1:
            history.append((step, float(loss.detach())))
    return vae.eval(), history, mean, std


def train_code_diffusion(cfg, latents: torch.Tensor, *, tag: str = "phase4", device=None, progress: bool = True):
    """Load-or-train the unconditional diffusion model of the VAE's latent means [N, L] (normalised
    by their mean and one scale): the shared trainer and a one-token :class:`WeightDiT`. Returns
    (dit, mean, std, history, seconds)."""
    from ..diffusion.dit import WeightDiT
    from ..diffusion.train import DenoisingTrainer

    hc = cfg.hypernet
    device = devices.default_device(device)
    x = latents.to(device).float()
    mean, std = x.mean(0), (x - x.mean(0)).std().clamp_min(1e-8)
    s = dataclasses.replace(cfg.weightdiff, conditioned=False, steps=hc.dit_steps, batch=min(256, 8 * len(x)),
                            lr=cfg.weightdiff.lr if hc.dit_d_model > 64 else 1e-3, cond_dropout=0.0, pose_dropout=0.0)
    body = {"settings": dataclasses.asdict(s), "model": [hc.dit_d_model, hc.dit_layers, hc.dit_heads], "seed": cfg.seed,
            "latents": _hash(x.cpu().numpy().tobytes())}

    def make_trainer() -> DenoisingTrainer:
        torch.manual_seed(cfg.seed)
        dit = WeightDiT(x.shape[1], 1, 0, hc.dit_d_model, hc.dit_layers, hc.dit_heads).to(device)
        return DenoisingTrainer(dit, dit, (x - mean) / std, s, seed=cfg.seed, device=device)

    r = loop.load_or_train(make_trainer, loop.run_dir("hypernet", tag, body), desc=f"code diffusion ({tag})",
                           log_every=100, checkpoint_every=10**9, progress=progress, device=device,
                           extra={"mean": mean, "std": std})
    dit = WeightDiT(x.shape[1], 1, 0, hc.dit_d_model, hc.dit_layers, hc.dit_heads).to(device)
    dit.load_state_dict(r.state["dit"])
    return dit.eval(), mean, std, r.history, r.seconds


@torch.no_grad()
def sample_codes(dit, mean: torch.Tensor, std: torch.Tensor, num: int, *, timesteps: int = 500, steps: int = 50,
                 seed: int = 0) -> torch.Tensor:
    """``num`` unconditional samples [num, L] of the code diffusion model (DDIM)."""
    from ..diffusion import ddim
    from ..diffusion.dit import sample

    dev = mean.device
    x = torch.randn(num, dit.dim, generator=torch.Generator(device=dev).manual_seed(seed), device=dev)
    return sample(dit, x, ddim.CosineDDIM(timesteps), steps) * std + mean
