"""Release weights of phase 11 (notebook ``11_deepsdf``): the decoder and the latents in fp16
safetensors, with the resolved config, the latent <-> shape mapping and the measured metrics in
the file's metadata and in a model card beside it."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

from ..config import DeepSDFConfig
from .model import Decoder
from .train import make_decoder


def export(run_dir: Path, out: Path, *, dataset=None, uids: list[str] | None = None, metrics: dict | None = None,
           card: str = "") -> Path:
    """Write ``out`` (.safetensors) and ``out`` with suffix .md (the model card) from a finished run."""
    ck = torch.load(Path(run_dir) / "final.pt", map_location="cpu", weights_only=False)
    tensors = {f"decoder.{k}": v.half().contiguous() for k, v in ck["decoder"].items()}
    tensors["latents"] = ck["latents"].half().contiguous()
    if uids is None:
        uids = [dataset.uid_of(i) for i in ck["indices"]] if dataset is not None else []
    else:
        uids = [uids[i] for i in ck["indices"]]
    meta = {"config": json.dumps(ck["config"]), "indices": json.dumps(ck["indices"]), "uids": json.dumps(uids),
            "metrics": json.dumps(metrics or {}), "steps": str(ck["step"]), "format": "sdfnets-deepsdf-v1"}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=meta)
    if card:
        out.with_suffix(".md").write_text(card)
    return out


def load(path: Path | str, device="cpu") -> tuple[Decoder, torch.Tensor, dict]:
    """(decoder in float32, latents [N, D], metadata with config, indices, uids and metrics)."""
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata()
    meta = {k: json.loads(v) if k in ("config", "indices", "uids", "metrics") else v for k, v in raw.items()}
    cfg = DeepSDFConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"]["deepsdf"].items()})
    tensors = load_file(str(path), device=str(device))
    decoder = make_decoder(cfg).to(device)
    decoder.load_state_dict({k[len("decoder."):]: v.float() for k, v in tensors.items() if k.startswith("decoder.")})
    return decoder, tensors["latents"].float(), meta
