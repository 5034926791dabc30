"""Training the latent diffusion transformer and sampling latents from views (notebook ``12``).

Load-or-train as in phase 11: a run lives in ``checkpoints/runs/dit/<name>-<key>/``; ``last.pt``
every ``checkpoint_every`` steps, an interrupted run resumes to the same result; ``final.pt``
holds the model, the latent normalisation, the encoder's name and the resolved config.
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

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import paths
from ..io import atomic_write_bytes
from .diffusion import CosineDDIM, LatentDiT, pose_embedding


@dataclass
class ImageToLatent:
    """A trained latent diffusion model with what it needs to run: normalisation and encoder name."""

    dit: LatentDiT
    mean: torch.Tensor  # [latent] latent normalisation: z_n = (z - mean) / std
    std: torch.Tensor  # [] one scalar
    encoder: str
    config: dict
    history: list = field(default_factory=list)  # (step, loss EMA)
    seconds: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def schedule(self) -> CosineDDIM:
        return CosineDDIM(self.config["timesteps"])

    @torch.no_grad()
    def sample(self, features: torch.Tensor, poses: torch.Tensor, *, seed: int = 0, steps: int | None = None,
               guidance: float | None = None, encoder: str | None = None, graphed: bool = True) -> torch.Tensor:
        """Latents [B, latent] from view features [B, K, F] and camera poses [B, K, 4, 4]. On a GPU
        the DDIM loop is replayed as a CUDA graph unless ``graphed=False``."""
        if encoder is not None and encoder != self.encoder:
            raise ValueError(f"this model was trained on {self.encoder!r} features, not {encoder!r}")
        cfg, dev = self.config, self.device
        steps = steps or cfg["sample_steps"]
        guidance = cfg["guidance"] if guidance is None else guidance
        features, poses = features.to(dev).float(), poses.to(dev).float()
        if features.shape[-1] != self.dit.feature_dim:
            raise ValueError(f"features have {features.shape[-1]} dims; the model expects {self.dit.feature_dim}")
        self.dit.eval()
        tokens = self.dit.view_tokens(features, pose_embedding(poses, self.dit.pose_dim))
        g = torch.Generator(device=dev).manual_seed(seed)
        x = torch.randn(features.shape[0], self.dit.latent_dim, generator=g, device=dev)
        if dev.type == "cuda" and guidance == 1.0 and graphed:
            return self._graphed_loop(x, tokens, steps) * self.std.to(dev) + self.mean.to(dev)
        sched = self.schedule
        for t in sched.timesteps(steps):
            tt = torch.full((x.shape[0],), t, device=dev, dtype=torch.long)
            x0 = self.dit(x, tt, tokens)
            if guidance != 1.0:
                x0_u = self.dit(x, tt, self.dit.null_view.expand(x.shape[0], 1, -1))
                x0 = x0_u + guidance * (x0 - x0_u)
            x = sched.step(x0, t, x, steps)
        return x * self.std.to(dev) + self.mean.to(dev)

    def _graphed_loop(self, x: torch.Tensor, tokens: torch.Tensor, steps: int) -> torch.Tensor:
        """The DDIM loop as one CUDA graph per input shape, captured on first use: a 50-step
        sample is ~3,000 small kernels, which an eager loop launches one by one."""
        cache = self.__dict__.setdefault("_graphs", {})
        key = (tuple(x.shape), tuple(tokens.shape), steps)
        if key not in cache:
            sched = self.schedule
            static_x, static_tok = x.clone(), tokens.clone()

            def loop():
                y = static_x
                for t in sched.timesteps(steps):
                    tt = torch.full((y.shape[0],), t, device=y.device, dtype=torch.long)
                    y = sched.step(self.dit(y, tt, static_tok), t, y, steps)
                return y

            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loop()  # warm-up before capture
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = loop()
            cache[key] = (graph, static_x, static_tok, out)
        graph, static_x, static_tok, out = cache[key]
        static_x.copy_(x)
        static_tok.copy_(tokens)
        graph.replay()
        return out.clone()


def _key(cfg, latents: torch.Tensor, features_name: str, tag: str) -> str:
    body = {"diffusion": dataclasses.asdict(cfg.diffusion), "seed": cfg.seed, "tag": tag, "encoder": features_name,
            "latents": hashlib.sha256(latents.detach().cpu().float().numpy().tobytes()).hexdigest()[:16]}
    for k in ("mesh_resolution", "eval_views", "test_shapes", "pilot_shapes", "guidance", "sample_steps"):
        body["diffusion"].pop(k)  # evaluation-only settings
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]


def _save(path: Path, **state) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def train_dit(cfg, latents: torch.Tensor, features: torch.Tensor, poses: torch.Tensor, *, encoder: str,
              tag: str = "full", device=None, max_steps: int | None = None, progress: bool = True,
              checkpoint_every: int = 2500, cuda_graph: bool = True, rank: int = 0, world: int = 1) -> ImageToLatent:
    """Load-or-train the model mapping views of shape i (``features[i]`` [V, F], ``poses`` [V, 4, 4])
    to its latent ``latents[i]``.

    Every step has the same shapes: K in [min_views, max_views] views are drawn per batch and the
    view tokens are padded to ``max_views`` with an attention mask. The model is small, so an eager
    step is bound by launching ~1,500 kernels; on a GPU the whole step (forward, backward, AdamW)
    is captured once as a CUDA graph and replayed, with only the batch's random draws outside it.

    Under torchrun (``world`` > 1, process group initialised) the model is wrapped in
    DistributedDataParallel: every rank draws the same global batch and computes the loss of its
    rows ``rank::world``; the averaged gradient is scaled by ``world`` so that the update equals the
    single-process one (``tests/test_distributed.py``). The CUDA graph is used on one rank only.
    Rank 0 writes the checkpoints."""
    dc = cfg.diffusion
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    run_dir = paths.runs_dir() / "dit" / f"{tag}-{_key(cfg, latents, encoder, tag)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "final.pt").exists():
        return load_run(run_dir / "final.pt", device)
    latents, features = latents.to(device).float(), features.to(device).float()
    pose_emb = pose_embedding(poses.to(device).float(), dc.pose_dim)  # [V, pose_dim]
    mean = latents.mean(0)
    std = (latents - mean).std().clamp_min(1e-8)
    z = (latents - mean) / std
    n, v = features.shape[:2]
    kmax = min(dc.max_views, v)
    graphed = cuda_graph and device.type == "cuda" and world == 1
    torch.manual_seed(cfg.seed)
    dit = LatentDiT(latents.shape[1], features.shape[2], dc.d_model, dc.num_layers, dc.num_heads, dc.pose_dim).to(device)
    model = _Denoise(dit)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
    rows = slice(rank, None, world)
    opt = torch.optim.AdamW(dit.parameters(), lr=torch.tensor(dc.lr, device=device) if graphed else dc.lr,
                            weight_decay=0.0, capturable=graphed, foreach=True if graphed else None)
    sched = CosineDDIM(dc.timesteps)
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    kgen = torch.Generator().manual_seed(cfg.seed)  # the batch's view count, drawn on the host: no sync
    step, history, seconds = 0, [], 0.0
    ema = torch.zeros((), device=device)
    b = dc.batch
    static = {"ids": torch.zeros(b, dtype=torch.long, device=device),
              "vids": torch.arange(kmax, device=device).expand(b, kmax).contiguous(),
              "pad": torch.zeros(b, kmax, dtype=torch.bool, device=device),
              "t": torch.zeros(b, dtype=torch.long, device=device), "noise": torch.zeros(b, z.shape[1], device=device),
              "drop": torch.zeros(b, dtype=torch.bool, device=device), "pose_keep": torch.ones(b, 1, 1, device=device)}
    amp = dict(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda", cache_enabled=False)

    def train_step() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)  # gradients keep their memory (a CUDA graph needs fixed addresses)
        ids, t = static["ids"][rows], static["t"][rows]
        x0 = z[ids]
        with torch.autocast(**amp):
            pred = model(sched.add_noise(x0, static["noise"][rows], t), t, features[ids[:, None], static["vids"][rows]],
                         pose_emb[static["vids"][rows]] * static["pose_keep"][rows], static["drop"][rows],
                         static["pad"][rows])
        loss = F.mse_loss(pred.float(), x0, reduction="sum") / (b * x0.shape[1])  # this rank's share of the mean
        loss.backward()
        if world > 1:
            for q in dit.parameters():
                q.grad.mul_(world)  # DDP averaged over ranks; the batch mean is their sum
            loss = loss.detach().clone()
            torch.distributed.all_reduce(loss)
        opt.step()
        return loss.detach()

    def draw() -> None:
        k = int(torch.randint(dc.min_views, kmax + 1, (1,), generator=kgen))
        static["ids"].copy_(torch.randint(n, (b,), generator=gen, device=device))
        static["vids"].copy_(torch.rand(b, v, generator=gen, device=device).argsort(dim=1)[:, :kmax])
        static["pad"].copy_(torch.arange(kmax, device=device)[None].expand(b, kmax) >= k)
        static["t"].copy_(torch.randint(dc.timesteps, (b,), generator=gen, device=device))
        static["noise"].copy_(torch.randn(b, z.shape[1], generator=gen, device=device))
        if dc.cond_dropout > 0:
            static["drop"].copy_(torch.rand(b, generator=gen, device=device) < dc.cond_dropout)
        if dc.pose_dropout > 0:
            static["pose_keep"].copy_((torch.rand(b, 1, 1, generator=gen, device=device) >= dc.pose_dropout).float())

    if (run_dir / "last.pt").exists():
        ck = torch.load(run_dir / "last.pt", map_location=device, weights_only=False)
        dit.load_state_dict(ck["dit"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"].cpu())
        kgen.set_state(ck["kgenerator"])
        step, history, seconds, ema = ck["step"], ck["history"], ck["seconds"], ck["ema"].to(device)
    graph = None
    if graphed:  # warm up on a side stream, capture, then put weights and optimizer state back
        saved_model = {k: t.detach().clone() for k, t in dit.state_dict().items()}
        saved_opt = {id(p): {k: t.clone() for k, t in st.items()} for p, st in opt.state.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                train_step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_loss = train_step()
        with torch.no_grad():
            for k, t in dit.state_dict().items():
                t.copy_(saved_model[k])
            for p, st in opt.state.items():
                for k, t in st.items():
                    t.copy_(saved_opt[id(p)][k]) if id(p) in saved_opt else t.zero_()
    stop = dc.steps if max_steps is None else min(dc.steps, max_steps)
    warmup = min(500, dc.steps // 10)
    t0 = time.perf_counter()

    def state():
        return dict(dit=dit.state_dict(), mean=mean, std=std, encoder=encoder, config=dataclasses.asdict(dc),
                    history=history, seconds=seconds + time.perf_counter() - t0, step=step, ema=ema,
                    generator=gen.get_state(), kgenerator=kgen.get_state(), optimizer=opt.state_dict())

    with tqdm(total=dc.steps, initial=step, desc=f"latent DiT ({tag})", unit="step", disable=not progress) as bar:
        while step < stop:
            lr = dc.lr * min(1.0, (step + 1) / max(warmup, 1))
            for grp in opt.param_groups:
                grp["lr"].fill_(lr) if torch.is_tensor(grp["lr"]) else grp.__setitem__("lr", lr)
            draw()
            if graph is not None:
                graph.replay()
                loss = static_loss
            else:
                loss = train_step()
            ema = loss.clone() if step == 0 else 0.99 * ema + 0.01 * loss
            step += 1
            if step % 100 == 0 or step == stop:
                history.append((step, float(ema)))  # one host sync per 100 steps
                bar.update(100 if step % 100 == 0 else step % 100)
                bar.set_postfix(ema=f"{history[-1][1]:.2e}")
            if step % checkpoint_every == 0 and step < dc.steps and rank == 0:
                _save(run_dir / "last.pt", **state())
    s = state()
    if rank == 0 and step >= dc.steps:
        s.pop("optimizer")
        _save(run_dir / "final.pt", **s)
        (run_dir / "last.pt").unlink(missing_ok=True)
    elif rank == 0:
        _save(run_dir / "last.pt", **s)
    return ImageToLatent(dit.eval(), mean, std, encoder, s["config"], history, s["seconds"])


class _Denoise(torch.nn.Module):
    """The training forward in one module (what DDP wraps): view tokens, the "no image" token for
    dropped rows, the DiT."""

    def __init__(self, dit: LatentDiT):
        super().__init__()
        self.dit = dit

    def forward(self, x_t, t, features, pose_emb, drop, pad):
        tokens = self.dit.view_tokens(features, pose_emb)
        tokens = torch.where(drop[:, None, None], self.dit.null_view.to(tokens.dtype).expand_as(tokens), tokens)
        return self.dit(x_t, t, tokens, pad)


def load_run(path: Path, device="cpu") -> ImageToLatent:
    ck = torch.load(path, map_location=device, weights_only=False)
    c = ck["config"]
    w = ck["dit"]
    dit = LatentDiT(w["out.weight"].shape[0], w["view_in.weight"].shape[1] - c["pose_dim"], c["d_model"],
                    c["num_layers"], c["num_heads"], c["pose_dim"]).to(device)
    dit.load_state_dict(w)
    return ImageToLatent(dit.eval(), ck["mean"], ck["std"], ck["encoder"], c, ck["history"], ck["seconds"])


def random_views(num: int, k: int, num_views: int, seed: int = 0) -> torch.Tensor:
    """[num, k] distinct view indices per row, seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(num, num_views, generator=g).argsort(dim=1)[:, :k]


def predict(model: ImageToLatent, features: torch.Tensor, poses: torch.Tensor, shape_ids, k: int, seed: int = 0,
            batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents of shapes ``shape_ids`` from ``k`` random views each: (latents [M, D], views [M, k])."""
    ids = torch.as_tensor(list(shape_ids), dtype=torch.long)
    vids = random_views(len(ids), k, features.shape[1], seed)
    out = []
    for s in range(0, len(ids), batch):
        f = features[ids[s:s + batch, None], vids[s:s + batch]]
        out.append(model.sample(f, poses[vids[s:s + batch]], seed=seed + s).cpu())
    return torch.cat(out), vids


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


def recall(pred: torch.Tensor, latents: torch.Tensor, true_rows) -> dict:
    """Per prediction: cosine to its true latent, the true latent's rank among all ``latents``
    (1 = nearest by cosine), and the margin cos(true) - max cos(any other)."""
    sims = _normalise(pred) @ _normalise(latents).T  # [M, N]
    rows = torch.as_tensor(list(true_rows))
    cos_true = sims[torch.arange(len(rows)), rows]
    rank = (sims > cos_true[:, None]).sum(1) + 1
    others = sims.clone()
    others[torch.arange(len(rows)), rows] = -math.inf
    return {"cos": cos_true.numpy(), "rank": rank.numpy(), "margin": (cos_true - others.max(1).values).numpy()}


def nearest_rows(pred: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """Index of the nearest (cosine) row of ``latents`` for every prediction."""
    return (_normalise(pred) @ _normalise(latents).T).argmax(1)


def retrieve(features: torch.Tensor, query_ids, views: torch.Tensor, train_ids) -> torch.Tensor:
    """The nearest-neighbour baseline: for each query shape, the training shape whose mean view
    feature is nearest (cosine) to the mean feature of the query's given views. -> rows of train_ids."""
    q = features[torch.as_tensor(list(query_ids))[:, None], views].mean(1)
    bank = features[torch.as_tensor(list(train_ids))].mean(1)
    return (_normalise(q) @ _normalise(bank).T).argmax(1)
