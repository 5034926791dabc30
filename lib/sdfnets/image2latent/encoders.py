"""Phase 12's frozen image encoders (notebook ``12_image_to_latent``): one interface, two encoders.

- ``dinov2-base``: the thesis' choice, transformers' DINOv2 (768-dim CLS token, ImageNet
  normalisation, 224 x 224 input), loaded from a local folder or the Hugging Face cache. Without
  weights and without network it stops with a message saying how to provide them.
- ``viewnet``: the project's own small CNN (1.8 M parameters at the full preset), trained by
  multi-view contrastive learning on the corpus' training renders: two views of one shape are
  positives, every other shape in the batch a negative (InfoNCE, SimCLR's loss). It needs no
  download, so it is what runs on machines without network; its weights ship in ``checkpoints/``.

Every encoder has a ``name``; feature caches and every model trained on features record it, and
loading a model with a different encoder is an error, never a silent switch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from .. import paths
from ..devices import default_device
from ..io import atomic_target

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EncoderUnavailable(RuntimeError):
    pass


def to_float_images(images, size: int, device) -> torch.Tensor:
    """uint8 [B, H, W, 3] (array or tensor) -> float [B, 3, size, size] in [0, 1] (antialiased resize)."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).to(device)
    x = x.permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


# ---------------------------------------------------------------------------------------------
# The project's own encoder


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8 if cout >= 8 else 1, cout),
                         nn.SiLU())


class ViewNet(nn.Module):
    """Five stride-2 stages (width w, 2w, 4w, 8w, 8w; a second 3x3 conv in the first four),
    global average pooling, a linear map to ``dim`` features."""

    def __init__(self, width: int = 32, dim: int = 256, image_size: int = 128):
        super().__init__()
        w = width
        chans = [w, 2 * w, 4 * w, 8 * w]
        layers, cin = [], 3
        for c in chans:
            layers += [_block(cin, c, 2), _block(c, c, 1)]
            cin = c
        layers.append(_block(cin, 8 * w, 2))
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(8 * w, dim)
        self.dim, self.image_size, self.width = dim, image_size, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float images [B, 3, S, S] in [0, 1] -> features [B, dim]."""
        return self.fc(self.body(x - 0.5).mean(dim=(2, 3)))


class ViewNetEncoder:
    """The frozen :class:`ViewNet` behind the encoder interface."""

    def __init__(self, net: ViewNet, key: str):
        self.net = net.eval()
        self.name, self.key, self.dim, self.image_size = "viewnet", key, net.dim, net.image_size

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def encode(self, images, batch: int = 512) -> torch.Tensor:
        out = []
        for i in range(0, len(images), batch):
            out.append(self.net(to_float_images(images[i:i + batch], self.image_size, self.device)).float())
        return torch.cat(out)

    def state(self) -> tuple[dict, dict]:
        meta = {"name": self.name, "key": self.key, "width": self.net.width, "dim": self.dim,
                "image_size": self.image_size}
        return {k: v.detach().cpu() for k, v in self.net.state_dict().items()}, meta

    @classmethod
    def from_state(cls, tensors: dict, meta: dict, device="cpu") -> "ViewNetEncoder":
        net = ViewNet(int(meta["width"]), int(meta["dim"]), int(meta["image_size"]))
        net.load_state_dict({k: v.float() for k, v in tensors.items()})
        return cls(net.to(device), meta["key"])


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild photometric and geometric jitter: brightness/contrast +-10 %, scale 0.9-1.1, shift +-5 %."""
    b = x.shape[0]
    dev = x.device
    r = lambda *s: torch.rand(*s, generator=gen, device=dev)  # noqa: E731
    x = (x - 0.5) * (0.9 + 0.2 * r(b, 1, 1, 1)) + 0.5 + 0.1 * (r(b, 1, 1, 1) - 0.5)
    s = 0.9 + 0.2 * r(b)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = 0.1 * (r(b, 2) - 0.5)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - 1, grid, align_corners=False, padding_mode="zeros") + 1  # pad with white


def view_pairs(bank: torch.Tensor, b: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch from ``bank`` [N, V, S, S, 3]: ``b`` random shapes, two different views of each,
    augmented. -> (shape rows [b], float images [2b, 3, size, size]: first views, then second views)."""
    n, v = bank.shape[:2]
    dev = bank.device
    shapes = torch.randperm(n, generator=gen, device=dev)[:b]
    v1 = torch.randint(v, (b,), generator=gen, device=dev)
    v2 = (v1 + 1 + torch.randint(v - 1, (b,), generator=gen, device=dev)) % v  # a different view
    x = torch.cat([bank[shapes, v1], bank[shapes, v2]])
    return shapes, _augment(to_float_images(x, size, dev), gen)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent: rows of ``a`` and ``b`` are positive pairs, everything else negatives."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    n = a.shape[0]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def render_bank(dataset, indices, size: int, device=None, workers: int = 8, progress: bool = True) -> torch.Tensor:
    """Every view of shapes ``indices`` as uint8 [N, V, size, size, 3] on ``device``, resized once
    (the compressed render files are read by ``workers`` threads)."""
    from concurrent.futures import ThreadPoolExecutor

    device = default_device(device)
    indices = [int(i) for i in indices]
    with ThreadPoolExecutor(workers) as pool:
        loaded = pool.map(lambda i: dataset.renders(i)["images"], indices)
        rows = [(to_float_images(imgs, size, device) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
                for imgs in tqdm(loaded, total=len(indices), desc="renders", unit="shape", disable=not progress)]
    return torch.stack(rows)


def train_viewnet(cfg, dataset, indices, *, device=None, progress: bool = True, bank=None) -> ViewNetEncoder:
    """Load-or-train the project's encoder on the renders of shapes ``indices`` (the train split);
    ``bank``: those renders already loaded by :func:`render_bank` at the encoder's size."""
    ec = cfg.encoder
    device = default_device(device)
    indices = [int(i) for i in indices]
    # named as when these settings lived in the phase-12 section: the keys (and the released encoder's) stay
    body = {f"encoder_{k}": v for k, v in dataclasses.asdict(ec).items() if k != "name"}
    body.update(seed=cfg.seed, indices=indices, data=str(Path(dataset.root).name))
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
    path = paths.runs_dir() / "encoders" / f"viewnet-{key}.safetensors"
    if not path.exists():
        released = released_encoder(key, device)
        if released is not None:
            return released
        _fit_viewnet(cfg, dataset, indices, key, path, device, progress, bank)
    return load_encoder(path, device)


def _fit_viewnet(cfg, dataset, indices, key: str, path: Path, device, progress: bool, bank) -> None:
    ec = cfg.encoder
    torch.manual_seed(cfg.seed)
    net = ViewNet(ec.width, ec.dim, ec.image_size).to(device)
    head = nn.Sequential(nn.Linear(ec.dim, ec.dim), nn.ReLU(), nn.Linear(ec.dim, 128)).to(device)
    opt = torch.optim.AdamW([*net.parameters(), *head.parameters()], lr=ec.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, ec.lr, total_steps=ec.steps, pct_start=0.05)
    bank = render_bank(dataset, indices, ec.image_size, device) if bank is None else bank.to(device)
    b = min(ec.batch, bank.shape[0])
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    history = []
    for step in tqdm(range(ec.steps), desc="viewnet (contrastive)", unit="step", disable=not progress):
        _, x = view_pairs(bank, b, ec.image_size, gen)
        with amp:
            h = head(net(x)).float()
        loss = info_nce(h[:b], h[b:], ec.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == ec.steps - 1:
            history.append((step, float(loss.detach())))
    enc = ViewNetEncoder(net, key)
    tensors, meta = enc.state()
    meta["history"] = history
    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta)})


def released_encoder(key: str, device="cpu") -> ViewNetEncoder | None:
    """The encoder of key ``key`` from an image-to-mesh release under ``checkpoints/`` (the same
    training run, its weights rounded to float16: the key says so), or None."""
    from safetensors import safe_open

    for path in sorted(paths.RELEASE_DIR.glob("image2mesh-*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata().get("encoder", "{}"))
        if meta.get("key") == key:
            t = load_file(str(path))
            enc = ViewNetEncoder.from_state({k[8:]: v for k, v in t.items() if k.startswith("encoder.")},
                                            {**meta, "key": f"{key}-fp16"}, device)
            enc.history = []
            return enc
    return None


def load_encoder(path: Path | str, device="cpu") -> ViewNetEncoder:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["meta"])
    enc = ViewNetEncoder.from_state(load_file(str(path)), meta, device)
    enc.history = meta.get("history", [])
    return enc


# ---------------------------------------------------------------------------------------------
# DINOv2 (transformers)


class Dinov2Encoder:
    """transformers' DINOv2, frozen: the 768-dim CLS token of ImageNet-normalised 224 x 224 images."""

    def __init__(self, source: str | Path = "facebook/dinov2-base", device="cpu"):
        try:
            from transformers import AutoModel
        except ImportError as exc:  # pragma: no cover - transformers is a dependency
            raise EncoderUnavailable("the dinov2 encoder needs `transformers` (pip install transformers)") from exc
        local = Path(source).expanduser()
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        try:
            self.model = AutoModel.from_pretrained(str(local) if local.exists() else str(source),
                                                   local_files_only=local.exists() or offline).eval().to(device)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailable(
                f"DINOv2 weights {str(source)!r} are neither a local folder nor in the Hugging Face cache, and "
                "they cannot be downloaded here. On a machine with network run "
                "`huggingface-cli download facebook/dinov2-base --local-dir dinov2-base`, copy that folder over and "
                "pass its path (--encoder-path), or use the project's own encoder (`viewnet`), which ships in "
                f"checkpoints/. ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
        self.name, self.key = "dinov2-base", str(source)
        self.dim = int(self.model.config.hidden_size)
        self.image_size = 224

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, images, batch: int = 128) -> torch.Tensor:
        mean = torch.tensor(IMAGENET_MEAN, device=self.device)[:, None, None]
        std = torch.tensor(IMAGENET_STD, device=self.device)[:, None, None]
        out = []
        for i in range(0, len(images), batch):
            x = (to_float_images(images[i:i + batch], self.image_size, self.device) - mean) / std
            out.append(self.model(pixel_values=x).last_hidden_state[:, 0].float())
        return torch.cat(out)


def get_encoder(cfg, dataset=None, indices=None, *, device=None, dinov2_source: str = "facebook/dinov2-base",
                bank=None):
    """The encoder ``cfg.encoder.name`` names (``viewnet`` is trained on first use, on
    ``bank`` when given: the renders of ``indices`` from :func:`render_bank`)."""
    name = cfg.encoder.name
    if name == "viewnet":
        return train_viewnet(cfg, dataset, indices, device=device, bank=bank)
    if name == "dinov2-base":
        return Dinov2Encoder(dinov2_source, device or "cpu")
    raise ValueError(f"unknown encoder {name!r}; viewnet or dinov2-base")


def encoder_and_features(cfg, dataset, train_ids) -> tuple[object, torch.Tensor, torch.Tensor]:
    """Notebook 12's encoder (:func:`get_encoder`, trained on the renders of ``train_ids``) and every
    (shape, view)'s features with the camera poses (:func:`feature_cache`); a ``viewnet`` reads the
    renders once, into one bank (:func:`render_bank`) for both."""
    bank = render_bank(dataset, range(len(dataset)), cfg.encoder.image_size) if cfg.encoder.name == "viewnet" else None
    enc = get_encoder(cfg, dataset, train_ids, bank=None if bank is None else bank[train_ids])
    feats, poses = feature_cache(enc, dataset, bank=bank)
    return enc, feats, poses


def feature_cache(encoder, dataset, *, progress: bool = True, bank=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of every (shape, view) [N, V, D] and the camera poses [V, 4, 4], cached per
    encoder under ``checkpoints/runs/features/`` (the encoder's name and key in the file).
    ``bank``: every shape's renders from :func:`render_bank` (read from disk otherwise)."""
    path = paths.runs_dir() / "features" / f"{encoder.name}-{encoder.key[-10:].replace('/', '_')}-{Path(dataset.root).name}.safetensors"
    if path.exists():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
        if meta["encoder"] != encoder.name or meta["encoder_key"] != encoder.key:
            raise ValueError(f"{path} holds features of {meta['encoder']} ({meta['encoder_key']}), not {encoder.name}")
        t = load_file(str(path))
        return t["features"], t["poses"]
    feats = []
    for i in tqdm(range(len(dataset)), desc=f"features ({encoder.name})", unit="shape", disable=not progress):
        feats.append(encoder.encode(bank[i] if bank is not None else dataset.renders(i)["images"]).cpu())
    poses = torch.from_numpy(dataset.renders(0)["poses"])  # every shape is rendered from the same cameras
    out = {"features": torch.stack(feats).contiguous(), "poses": poses.float().contiguous()}
    with atomic_target(path) as tmp:
        save_file(out, str(tmp), metadata={"encoder": encoder.name, "encoder_key": encoder.key})
    return out["features"], out["poses"]
