"""Release weights of the pixel-aligned SDF network (:mod:`.pixelsdf`): one safetensors file whose matrices and
kernels are int8 with a float16 scale per output row (:mod:`sdfnets.quantize`; the rest float16, about 0.3 MB),
whose metadata holds the ``pixel`` config section, the renders' field of view and what was measured; and a model
card beside it.

Two are released, one per way of reading the views (``bench/results/views-gpu.json``): :data:`DEFAULT_NAME` gives
each point its own coordinates beside the views' features, a prior that carries 1 and 2 views;
:data:`VIEWS_NAME` reads the views alone from maps at half their size, with more F from 8 views and out of
distribution and far more meshes in one part from :data:`MANY_VIEWS` views up. ``sdfnets image2mesh`` takes the
second from that many views on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..io import atomic_target
from ..quantize import dequantize, quantize
from .pixelsdf import PixelSDF

FORMAT = "sdfnets-pixelsdf-v2"  # v1: every tensor float16 (still read)
FORMATS = ("sdfnets-pixelsdf-v1", FORMAT)
DEFAULT_NAME = "pixelsdf-sweethome3d.safetensors"
VIEWS_NAME = "pixelsdf-views-sweethome3d.safetensors"
MANY_VIEWS = 4  # from this many views on, image2mesh reads them with the VIEWS_NAME network
VIEWS_ALONE = {"stride": 2, "world": False}  # the VIEWS_NAME network's pixel settings over the scale's preset


def export(model: PixelSDF, pixel: dict, out: Path, *, corpus: str, train_shapes: int, metrics: dict | None = None,
           card: str | None = None) -> Path:
    """Write ``model`` (int8 matrices and kernels, the rest float16) with its ``pixel`` config section and the
    model card ``card`` beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu", torch.float32)
        if v.dim() >= 2:
            tensors[f"{k}.q"], tensors[f"{k}.scale"] = quantize(v)
        else:
            tensors[k] = v.half()
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
    if meta.get("format") not in FORMATS:
        raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
    pixel = json.loads(meta["pixel"])
    model = PixelSDF.from_settings(pixel, float(meta["yfov"]))
    stored = load_file(str(path))
    state = {k: v.float() for k, v in stored.items() if not k.endswith((".q", ".scale"))}
    state |= {k[:-2]: dequantize(v, stored[k[:-2] + ".scale"]) for k, v in stored.items() if k.endswith(".q")}
    model.load_state_dict(state)
    meta = meta | {"pixel": pixel, "metrics": json.loads(meta.get("metrics", "{}"))}
    return model.to(device).eval(), meta


def model_card(pixel: dict, *, parameters: int, corpus: str, train_shapes: int, measured: str,
               name: str = DEFAULT_NAME) -> str:
    return (f"# {name.removesuffix('.safetensors')}\n\n"
            f"Pixel-aligned SDF network (`sdfnets.multiview.pixelsdf`, {parameters:,} parameters; matrices and kernels "
            f"int8 with a scale per row, the rest float16), trained "
            f"from scratch on the renders and SDF samples of the {train_shapes} training shapes of the `{corpus}` "
            f"corpus (the split of notebook 16: the same shapes as the phase-11/12 release). Nothing pretrained.\n\n"
            f"Config (`pixel` section): {pixel}.\n\n{measured}\n")
