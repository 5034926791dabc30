"""Release weights of phase 12 (notebook ``12_image_to_latent``): the latent diffusion transformer
and the project's own image encoder in one safetensors file, next to the DeepSDF release it was
trained against.

To stay within the repository's size budget the DiT's matrices are stored as int8 with one
float16 scale per output row (symmetric, weight-only quantisation: 11.4 M parameters in about
11 MiB instead of 22 MiB in float16); vectors and the encoder are float16. Notebook 12 measures
what this costs: the released model's latents against the float32 model's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .diffusion import LatentDiT
from .encoders import ViewNetEncoder
from .train import ImageToLatent

FORMAT = "sdfnets-image2mesh-v1"


def quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8: w ~ q * scale[:, None]."""
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8), scale.half()


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale.float()[:, None]


def export(model: ImageToLatent, encoder: ViewNetEncoder, out: Path, *, deepsdf: str, metrics: dict | None = None,
           card: str = "") -> Path:
    tensors = {}
    for k, v in model.dit.state_dict().items():
        v = v.detach().cpu().float()
        if v.dim() == 2 and v.shape[0] > 1 and v.shape[1] > 1:
            tensors[f"dit.{k}.q"], tensors[f"dit.{k}.scale"] = quantize(v)
        else:
            tensors[f"dit.{k}"] = v.half()
    enc_tensors, enc_meta = encoder.state()
    tensors.update({f"encoder.{k}": v.half() for k, v in enc_tensors.items()})
    tensors["mean"], tensors["std"] = model.mean.detach().cpu().float(), model.std.detach().cpu().float().reshape(1)
    meta = {"format": FORMAT, "config": json.dumps(model.config), "encoder": json.dumps(enc_meta),
            "deepsdf": deepsdf, "metrics": json.dumps(metrics or {}), "dit_encoder_name": model.encoder}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out), metadata=meta)
    if card:
        out.with_suffix(".md").write_text(card)
    return out


def load(path: Path | str, device="cpu") -> tuple[ImageToLatent, ViewNetEncoder, dict]:
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata()
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not an image-to-mesh release ({FORMAT})")
    cfg, enc_meta = json.loads(raw["config"]), json.loads(raw["encoder"])
    t = load_file(str(path))
    state = {}
    for k, v in t.items():
        if k.startswith("dit.") and k.endswith(".q"):
            state[k[4:-2]] = dequantize(v, t[k[:-2] + ".scale"])
        elif k.startswith("dit.") and not k.endswith(".scale"):
            state[k[4:]] = v.float()
    dit = LatentDiT(state["out.weight"].shape[0], state["view_in.weight"].shape[1] - cfg["pose_dim"], cfg["d_model"],
                    cfg["num_layers"], cfg["num_heads"], cfg["pose_dim"])
    dit.load_state_dict(state)
    model = ImageToLatent(dit.to(device).eval(), t["mean"], t["std"][0], raw["dit_encoder_name"], cfg)
    encoder = ViewNetEncoder.from_state({k[8:]: v for k, v in t.items() if k.startswith("encoder.")}, enc_meta, device)
    if encoder.name != model.encoder:
        raise ValueError(f"{path}: the DiT was trained on {model.encoder!r} features but the file holds {encoder.name!r}")
    meta = {"deepsdf": raw["deepsdf"], "metrics": json.loads(raw["metrics"]), "config": cfg, "encoder": enc_meta}
    return model, encoder, meta
