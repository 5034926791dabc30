"""Release weights of the pixel-aligned SDF network (:mod:`.pixelsdf`): one safetensors file of float16 tensors
(about 0.6 MB) whose metadata holds the ``pixel`` config section, the renders' field of view and what was
measured; and a model card beside it."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..io import atomic_target
from .pixelsdf import PixelSDF

FORMAT = "sdfnets-pixelsdf-v1"
DEFAULT_NAME = "pixelsdf-sweethome3d.safetensors"


def export(model: PixelSDF, pixel: dict, out: Path, *, corpus: str, train_shapes: int, metrics: dict | None = None,
           card: str | None = None) -> Path:
    """Write ``model`` (float16) with its ``pixel`` config section and the model card ``card`` beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "pixel": json.dumps(pixel), "yfov": repr(float(model.yfov)), "corpus": corpus,
            "train_shapes": str(train_shapes), "metrics": json.dumps(metrics or {})}
    with atomic_target(out) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    if card is not None:
        with atomic_target(out.with_suffix(".md")) as tmp:
            Path(tmp).write_text(card)
    return out


def load(path: Path | str, device="cpu") -> tuple[PixelSDF, dict]:
    """The released network (float32, eval mode) on ``device`` and its metadata (``pixel``: the config section)."""
    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
    pixel = json.loads(meta["pixel"])
    model = PixelSDF.from_settings(pixel, float(meta["yfov"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    meta = meta | {"pixel": pixel, "metrics": json.loads(meta.get("metrics", "{}"))}
    return model.to(device).eval(), meta


def model_card(pixel: dict, *, parameters: int, corpus: str, train_shapes: int, measured: str) -> str:
    return (f"# {DEFAULT_NAME.removesuffix('.safetensors')}\n\n"
            f"Pixel-aligned SDF network (`sdfnets.multiview.pixelsdf`, {parameters:,} parameters, float16), trained "
            f"from scratch on the renders and SDF samples of the {train_shapes} training shapes of the `{corpus}` "
            f"corpus (the split of notebook 16: the same shapes as the phase-11/12 release). Nothing pretrained.\n\n"
            f"Config (`pixel` section): {pixel}.\n\n{measured}\n")
