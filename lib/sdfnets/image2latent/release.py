"""Release weights of phase 12 (notebook ``12_image_to_latent``): the latent diffusion transformer
and the project's own image encoder in one safetensors file, next to the DeepSDF release it was
trained against.

The file names the DeepSDF release whose latent space the DiT predicts, with that file's SHA-256
and config; :func:`check_deepsdf` refuses a DeepSDF file that is not the one (re-exporting the
decoder from another run would otherwise decode in the wrong latent space without a word).

To stay within the repository's size budget the DiT's matrices are stored as int8 with one
float16 scale per output row (symmetric, weight-only quantisation: 11.4 M parameters in about
11 MiB instead of 22 MiB in float16); vectors and the encoder are float16. Notebook 12 measures
what this costs: the released model's latents against the float32 model's.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..diffusion.dit import LatentDiT
from ..diffusion.sampler import Standardiser
from ..io import OutsideRoot, inside, sha256_file
from ..quantize import dequantize, quantize
from .encoders import ViewNetEncoder
from .model import ImageToLatent

FORMAT = "sdfnets-image2mesh-v1"
DEFAULT_NAME = "image2mesh-sweethome3d.safetensors"


class ReleaseMismatch(ValueError):
    """A release and the release it depends on do not belong together."""


def deepsdf_path(path: Path, meta: dict) -> Path:
    """The DeepSDF release an image-to-mesh release names: a file beside it, never a path elsewhere."""
    try:
        return inside(Path(path).parent, meta["deepsdf"])
    except OutsideRoot as exc:
        raise ReleaseMismatch(f"{path}: its DeepSDF release {meta['deepsdf']!r} is not a file beside it") from exc


def deepsdf_link(deepsdf: Path) -> dict:
    """What an image-to-mesh release records of the DeepSDF release it was trained against."""
    deepsdf = Path(deepsdf)
    with safe_open(str(deepsdf), framework="pt") as f:
        config = json.loads(f.metadata()["config"])["deepsdf"]
    return {"deepsdf": deepsdf.name, "deepsdf_sha256": sha256_file(deepsdf), "deepsdf_config": json.dumps(config)}


def check_deepsdf(meta: dict, deepsdf: Path) -> None:
    """Raise :class:`ReleaseMismatch` unless ``deepsdf`` is the file the release was trained against."""
    deepsdf = Path(deepsdf)
    if not deepsdf.is_file():
        raise FileNotFoundError(f"the image-to-mesh release needs its DeepSDF release {deepsdf}, which is missing")
    want = meta.get("deepsdf_sha256")
    if not want:
        raise ReleaseMismatch("this image-to-mesh release does not record which DeepSDF release it belongs to; "
                              "re-export it (notebook 12) so that it names the decoder by hash")
    got = sha256_file(deepsdf)
    if got != want:
        raise ReleaseMismatch(f"{deepsdf.name} is not the DeepSDF release this image-to-mesh model was trained "
                              f"against (SHA-256 {got[:12]}..., expected {want[:12]}...): its latents would decode "
                              "as other shapes. Use the matching pair of releases, or retrain notebook 12 on this one")


def load_pair(path: Path | str, device="cpu"):
    """The image-to-mesh release ``path`` and the DeepSDF release it names, checked to belong together
    (:func:`check_deepsdf`): ``(model, encoder, meta, decoder, latents, deepsdf_meta)``. Where notebook 11 has
    re-exported the DeepSDF release and 12 not yet the image-to-mesh one, the pair is refused: the DiT's latents
    would be decoded by another decoder, which gives other shapes."""
    from ..deepsdf import release as deepsdf_release

    path = Path(path)
    model, encoder, meta = load(path, device)
    deepsdf = deepsdf_path(path, meta)
    check_deepsdf(meta, deepsdf)
    decoder, latents, dmeta = deepsdf_release.load(deepsdf, device)
    return model, encoder, meta, decoder, latents, dmeta


def export(model: ImageToLatent, encoder: ViewNetEncoder, out: Path, *, deepsdf: Path, metrics: dict | None = None,
           card: str = "") -> Path:
    """Write the release ``out``; ``deepsdf`` is the DeepSDF release file the model was trained against."""
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
            **deepsdf_link(deepsdf), "metrics": json.dumps(metrics or {}), "dit_encoder_name": model.encoder}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out), metadata=meta)
    if card:
        out.with_suffix(".md").write_text(card)
    return out


def _check_sizes(path, cfg: dict) -> None:
    """The DiT's sizes a release states, checked before anything is built from them."""
    sizes = {k: cfg.get(k) for k in ("d_model", "num_layers", "num_heads", "pose_dim", "timesteps", "sample_steps")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100_000 for v in sizes.values()) \
            or sizes["d_model"] % sizes["num_heads"] or sizes["num_layers"] > 256 or sizes["d_model"] > 16_384:
        raise ValueError(f"{path}: the model sizes it states are not a model this version builds ({sizes})")


def load(path: Path | str, device="cpu") -> tuple[ImageToLatent, ViewNetEncoder, dict]:
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata()
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not an image-to-mesh release ({FORMAT})")
    cfg, enc_meta = json.loads(raw["config"]), json.loads(raw["encoder"])
    _check_sizes(path, cfg)
    t = load_file(str(path))
    state = {}
    for k, v in t.items():
        if k.startswith("dit.") and k.endswith(".q"):
            state[k[4:-2]] = dequantize(v, t[k[:-2] + ".scale"])
        elif k.startswith("dit.") and not k.endswith(".scale"):
            state[k[4:]] = v.float()
    dit = LatentDiT.from_state(state, cfg)
    model = ImageToLatent(dit.to(device).eval(), Standardiser(t["mean"], t["std"][0]), cfg, raw["dit_encoder_name"])
    encoder = ViewNetEncoder.from_state({k[8:]: v for k, v in t.items() if k.startswith("encoder.")}, enc_meta, device)
    if encoder.name != model.encoder:
        raise ValueError(f"{path}: the DiT was trained on {model.encoder!r} features but the file holds {encoder.name!r}")
    meta = {"deepsdf": raw["deepsdf"], "deepsdf_sha256": raw.get("deepsdf_sha256"),
            "deepsdf_config": json.loads(raw.get("deepsdf_config", "null")),
            "metrics": json.loads(raw["metrics"]), "config": cfg, "encoder": enc_meta}
    return model, encoder, meta


def model_card(model: ImageToLatent, encoder, *, dit_parameters: int, encoder_parameters: int, train_shapes: int,
               deepsdf: Path, metrics: dict, release_cosine: float) -> str:
    """The release's model card, written from notebook 12's measurements."""
    return (f"# {Path(DEFAULT_NAME).stem}\n\nPhase 12 release: latent DiT ({dit_parameters:,} parameters, int8 matrices "
            f"with float16 row scales) + the project's `{encoder.name}` encoder ({encoder_parameters:,} parameters, "
            f"float16), trained on the {train_shapes} training shapes against the DeepSDF release `{Path(deepsdf).name}` "
            f"(SHA-256 {sha256_file(deepsdf)}, checked at load). Config: {model.config}.\n\n"
            f"Measured (notebook 12, full): {json.dumps(metrics)}; released vs float32 latent cosine "
            f"{release_cosine:.5f}.\n")
