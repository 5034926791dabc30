"""Release weights of phase 11 (notebook ``11_deepsdf``): the decoder and the latents in fp16
safetensors, with the resolved config, the latent <-> shape mapping and the measured metrics in
the file's metadata and in a model card beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

from ..config import DeepSDFConfig
from ..io import load_checkpoint
from .model import Decoder, make_decoder

DEFAULT_NAME = "deepsdf-sweethome3d.safetensors"  # the full-scale release, under checkpoints/


def export(run_dir: Path, out: Path, *, dataset=None, uids: list[str] | None = None, metrics: dict | None = None,
           card: str = "") -> Path:
    """Write ``out`` (.safetensors) and ``out`` with suffix .md (the model card) from a finished run."""
    ck = load_checkpoint(Path(run_dir) / "final.pt")
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
    kept = kept_export(run_dir, out)  # a copy beside the run: see restore_from_run
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, kept)
    if card:
        shutil.copyfile(out.with_suffix(".md"), kept.with_suffix(".md"))
    else:
        kept.with_suffix(".md").unlink(missing_ok=True)
    return out


def kept_export(run_dir: Path, out: Path) -> Path:
    """Where :func:`export` keeps a copy of the release ``out`` beside the run it came from."""
    return Path(run_dir) / "release" / Path(out).name


def restore_from_run(path: Path | str, run_dir: Path) -> bool:
    """Put the run's kept export (:func:`kept_export`) back at ``path`` (with its card) where ``path`` holds
    other latents: on a node where each job starts from a fresh copy of the repository, ``path`` is the
    committed release again, while the run (and its export) stayed under the runs folder. -> restored?"""
    path, kept = Path(path), kept_export(run_dir, path)
    if not kept.exists() or (path.exists() and path.read_bytes() == kept.read_bytes()):
        return False
    shutil.copyfile(kept, path)
    if kept.with_suffix(".md").exists():
        shutil.copyfile(kept.with_suffix(".md"), path.with_suffix(".md"))
    return True


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


def model_card(cfg, values: dict, *, corpus: str, seconds: float, points_per_second: float) -> str:
    """The release's model card, written from notebook 11's recorded values."""
    dc, full, test = cfg.deepsdf, values["full"], values["test_reconstruction"]
    return f"""# DeepSDF decoder + latents, {corpus} (phase 11 release)

- **Data:** full-scale samples ({cfg.data.num_points:,} SDF points per shape) of the corpus `{corpus}`; trained on
  the train split ({full['shapes']} shapes; {test['shapes']} test shapes were reconstructed unseen). Latent row k
  belongs to the shape whose uid is `uids[k]` in the file's metadata.
- **Model:** decoder {dc.num_layers} x {dc.hidden} ReLU, skip connection before layer {dc.skip_layer + 1}, inputs
  {dc.latent_dim}-dim latent + {dc.pe_bands}-band positional encoding ({values['decoder_parameters']:,} stored
  parameters); weights stored in fp16.
- **Recipe:** `{dc.recipe}` (kernels `{dc.kernels}`): {dc.shapes_per_step} shapes x {dc.points_per_shape:,} points per
  step, {dc.epochs:,} epochs ({full['steps']:,} steps), Adam lr {dc.lr_decoder:g} (decoder) / {dc.lr_latent:g}
  (latents), schedule {dc.lr_schedule}, latent L2 {dc.latent_reg:g}, clamped-L1 ({dc.clamp}). {seconds:.0f} s at
  {points_per_second / 1e6:.1f} M point-samples/s.
- **Metrics** (notebook `11_deepsdf` at scale `{cfg.scale}`; conventions in `sdfnets.metrics`): SDF clamped-L1 mean
  {full['sdf_l1_mean']:.5f}, max {full['sdf_l1_max']:.5f} over the training shapes; latent pairwise cosine
  {full['latent_cosine']:+.3f}. Meshed training shapes (marching cubes at {dc.mesh_resolution}^3): Chamfer-L1
  {full['chamfer_l1']:.4f}, F-score@0.02 {full['fscore']:.3f}, normal consistency {full['normal_consistency']:.3f},
  IoU {full['iou']:.3f}. Test-time reconstruction of unseen test shapes from SDF samples: Chamfer-L1
  {test['sdf']['chamfer_l1']:.4f}, F-score {test['sdf']['fscore']:.3f}, IoU {test['sdf']['iou']:.3f}.
- **Load:** `from sdfnets.deepsdf import release; decoder, latents, meta = release.load(path)`.
- **Licence of the data:** see the corpus pack's CREDITS.md.
"""


def check_run(path: Path | str, latents: torch.Tensor) -> None:
    """Raise unless the release at ``path`` holds ``latents`` (to fp16 precision): a model trained on
    a run's latents must ship with that run's decoder."""
    released = load_file(str(path))["latents"].float()
    if released.shape != latents.shape or not torch.allclose(released, latents.detach().cpu().half().float()):
        raise ValueError(f"{path} holds other latents than this DeepSDF run: export the run's release first "
                         "(notebook 11 at the same scale) so that both releases share one latent space")
