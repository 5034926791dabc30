"""Image(s) -> mesh for people (``sdfnets image2mesh``, the web demo): input checks, camera poses,
the released models, and two pipelines: the pixel-aligned SDF network (the default: each grid point's SDF
read from the views where it projects) and phase 12's encoder -> latent diffusion -> DeepSDF decoder; then
marching cubes.

Input images are treated like the renders the models learned from: RGBA is composited onto the
renders' white background (alpha becomes the background), grayscale becomes RGB, any size is
letterboxed onto a white square and resized. Photos with a real background are outside what the
models saw; cut the object out first (an RGBA image with a transparent background works).
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import paths
from ..data.cameras import CAMERA_DISTANCE, default_poses
from ..devices import default_device
from ..image2latent import release
from ..image2latent.release import DEFAULT_NAME as DEFAULT_RELEASE

MAX_IMAGES = 8
MAX_FILE_MB = 25.0
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs included)
IMAGE_SIZE = 224  # the renders' size


class InputError(ValueError):
    """A problem with the user's input, worded for the user."""


def _eight_bit(img: Image.Image) -> Image.Image:
    """Integer and float greyscale (16-bit PNGs, 32-bit TIFFs) as 8-bit greyscale over the same range:
    Pillow's own conversion clips them at 255 (a 16-bit mid-grey would turn white)."""
    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return img
    a = np.asarray(img).astype(np.float64)
    top = 1.0 if img.mode == "F" and a.max() <= 1.0 else 255.0 if a.max() <= 255 else 65535.0
    return Image.fromarray(np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8), "L")


def load_image(source, name: str | None = None, size: int = IMAGE_SIZE, *, check: bool = False, cutout: bool = True):
    """A path, bytes or PIL image -> uint8 [size, size, 3], prepared like the renders. A photo with a background
    (no alpha, a border not mostly white) has its object cut out and framed like the renders
    (:mod:`.cutout`) unless ``cutout`` is off. With ``check``: (that image, a warning or None), the warning
    saying when the input does not look like a training render."""
    name = name or (str(source) if isinstance(source, (str, Path)) else "image")
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise InputError(f"{name}: no such file")
        if p.stat().st_size > MAX_FILE_MB * 2**20:
            raise InputError(f"{name}: {p.stat().st_size / 2**20:.0f} MB is too large (at most {MAX_FILE_MB:.0f} MB)")
        source = p.read_bytes()
    if isinstance(source, bytes):
        if len(source) > MAX_FILE_MB * 2**20:
            raise InputError(f"{name}: {len(source) / 2**20:.0f} MB is too large (at most {MAX_FILE_MB:.0f} MB)")
        try:
            img = Image.open(io.BytesIO(source))
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"{name}: {img.width} x {img.height} pixels is too large "
                                 f"(at most {MAX_PIXELS / 1e6:.0f} megapixels)")
            img.load()
        except InputError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from exc
    else:
        img = source
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = _eight_bit(img).convert("RGB")  # grayscale, palette, CMYK
    if max(img.size) > 4 * size:  # shrink first, keeping the aspect: the padded square below stays small
        img.thumbnail((4 * size, 4 * size), Image.Resampling.LANCZOS)
    warning = unlike_training(np.asarray(img), name)
    if warning and cutout and not has_alpha and min(img.size) >= 16 and np.ptp(np.asarray(img)) >= 16:
        from .cutout import object_mask, on_white

        mask = object_mask(np.asarray(img))
        if 0.02 <= mask.mean() <= 0.95:  # an object, not everything or nothing (then the image stays as it is)
            out = on_white(np.asarray(img), mask, size)
            warning = (f"{name}: a photo with a background: the object was cut out of it (a random walker from "
                       f"its border and centre: {mask.mean():.0%} of the photo kept); the "
                       "models saw renders of furniture on white only, so expect the nearest furniture-like shape")
            return (out, warning) if check else out
    side = max(img.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    out = np.asarray(square.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)
    return (out, warning) if check else out


def unlike_training(image: np.ndarray, name: str = "the image") -> str | None:
    """A warning when ``image`` (RGB, before padding) does not look like what the model was trained on — one
    object rendered on a white background — or None. The sign used: at least half of its border is near-white."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    white = float((border.min(axis=1) >= 235).mean())
    if white >= 0.5:
        return None
    return (f"{name}: only {white:.0%} of its border is white background; the model saw renders of furniture on "
            "white only, so expect the nearest furniture-like shape it knows (remove the background, or give "
            "an RGBA image whose alpha marks it)")


def parse_pose(text: str) -> tuple[float, float]:
    try:
        az, el = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(f"pose {text!r}: expected AZIMUTH,ELEVATION in degrees, e.g. 30,20") from exc
    if not (math.isfinite(az) and math.isfinite(el)):
        raise InputError(f"pose {text!r}: azimuth and elevation must be finite numbers of degrees")
    if not -90 <= el <= 90:
        raise InputError(f"pose {text!r}: elevation must be within [-90, 90] degrees")
    return az, el


def check_count(n: int) -> None:
    if n == 0:
        raise InputError("no images given: pass 1 to 8 images of one object")
    if n > MAX_IMAGES:
        raise InputError(f"{n} images given: at most {MAX_IMAGES} views of one object")


def _read(load, path: Path, device, what: str):
    """``load(path, device)``; any failure to read the file (truncated, not safetensors, another model's
    weights) becomes one :class:`InputError` that names the file."""
    try:
        return load(path, device)
    except (release.ReleaseMismatch, FileNotFoundError):
        raise
    except Exception as exc:  # safetensors, json, torch and shape errors alike: the file is not what it claims
        raise InputError(f"{path} is not {what} this version can read "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else 'no detail'})") from exc


def _mesh_from_grid(grid, times: dict, say):
    from ..field import grid_to_mesh

    say(0.9, "marching cubes")
    t = time.perf_counter()
    mesh = grid_to_mesh(grid, near_surface_only=True)
    times["marching_cubes_s"] = time.perf_counter() - t
    if mesh is None:
        raise RuntimeError("the predicted shape is empty (the field never crosses zero)")
    mesh.metadata["timings"] = times
    say(1.0, "done")
    return mesh


def _check_resolution(resolution: int) -> None:
    if not 16 <= resolution <= 512:
        raise InputError(f"resolution {resolution}: choose between 16 and 512")


def _poses_for(images: list[np.ndarray], poses) -> np.ndarray:
    check_count(len(images))
    poses = default_poses(len(images)) if poses is None else np.asarray(poses)
    if len(poses) != len(images):
        raise InputError(f"{len(poses)} poses for {len(images)} images")
    return poses


REFINE_NEEDS_DIFFUSION = "--refine moves the diffusion model's latent: use it with --method diffusion"


class PixelAlignedToMesh:
    """The released pixel-aligned SDF networks (:mod:`sdfnets.multiview.pixelsdf`): each grid point's SDF read
    from the views where it projects, at the given poses (default: :func:`default_poses`). Without a chosen
    ``checkpoint``, from :data:`~sdfnets.multiview.release.MANY_VIEWS` views on the network that reads the views
    alone (:data:`~sdfnets.multiview.release.VIEWS_NAME`, where it is there), below that the one that also
    knows each point's coordinates (:mod:`sdfnets.multiview.release` says why). From a single view the DiT
    (``--method diffusion``) reads furniture like the training shapes better, most of all at the default pose, and
    unseen kinds of object worse at either pose (``bench/results/blend_views-cpu.json``); a photo is often both
    unseen and of unknown pose, so this stays the default for every count.
    Deterministic; no latent space, so ``seed`` and ``refine`` do not apply."""

    def __init__(self, checkpoint: str | Path | None = None, device=None):
        from ..multiview import release as pixel_release

        path = Path(checkpoint) if checkpoint else paths.RELEASE_DIR / pixel_release.DEFAULT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no pixel-aligned checkpoint at {path}: run notebook 16 at full scale "
                                    "(it exports one) or pass --checkpoint")
        self.device = default_device(device)
        self.model, self.meta = _read(pixel_release.load, path, self.device, "a pixel-aligned SDF release")
        views = paths.RELEASE_DIR / pixel_release.VIEWS_NAME
        self.many = (_read(pixel_release.load, views, self.device, "a pixel-aligned SDF release")
                     if checkpoint is None and views.is_file() else None)
        self.many_views = pixel_release.MANY_VIEWS

    def network(self, count: int) -> tuple[torch.nn.Module, dict]:
        """The network (and its release's metadata) that reads ``count`` views."""
        return self.many if self.many is not None and count >= self.many_views else (self.model, self.meta)

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray], poses: np.ndarray | None = None, resolution: int = 128,
                 seed: int = 0, progress=None, refine: bool = False):
        """A trimesh.Trimesh, or an InputError / RuntimeError with a message for the user;
        ``progress(fraction, text)`` between the stages. On a GPU the network runs in bf16."""
        from ..config.sections import PixelSDFConfig
        from ..multiview.pixelsdf import sdf_grid

        _check_resolution(resolution)
        if refine:
            raise InputError(REFINE_NEEDS_DIFFUSION)
        poses = _poses_for(images, poses)
        say = progress or (lambda *_: None)
        model, meta = self.network(len(images))
        pc = PixelSDFConfig(**{k: v for k, v in meta["pixel"].items() if k in PixelSDFConfig.__dataclass_fields__})
        how = "the views alone" if not pc.world else "the views and each point's position"
        say(0.2, f"reading {how} at each point of a {resolution}^3 grid")
        t = time.perf_counter()
        grid = sdf_grid(model, np.stack(images), poses, pc.image_size, resolution, pc.smooth, pc.min_part)
        return _mesh_from_grid(grid, {"grid_s": time.perf_counter() - t}, say)


class ImageToMesh:
    """The released phase-12 pipeline (``--method diffusion``). ``ImageToMesh()`` loads
    ``checkpoints/image2mesh-*.safetensors`` and the DeepSDF release it names."""

    def __init__(self, checkpoint: str | Path | None = None, device=None):
        from ..deepsdf import release as deepsdf_release

        path = Path(checkpoint) if checkpoint else paths.RELEASE_DIR / DEFAULT_RELEASE
        if not path.is_file():
            raise FileNotFoundError(f"no image-to-mesh checkpoint at {path}: run notebook 12 at full scale "
                                    "(it exports one) or pass --checkpoint")
        self.device = default_device(device)
        self.model, self.encoder, self.meta = _read(release.load, path, self.device, "an image-to-mesh release")
        dec_path = release.deepsdf_path(path, self.meta)
        release.check_deepsdf(self.meta, dec_path)
        self.decoder, latents, _ = _read(deepsdf_release.load, dec_path, self.device, "a DeepSDF release")
        self.latent_std = float(latents.std())  # the refinement's trust-region unit
        self.decoder.eval()

    def latent(self, images: list[np.ndarray], poses: np.ndarray | None = None, seed: int = 0) -> torch.Tensor:
        poses = _poses_for(images, poses)
        feats = self.encoder.encode(np.stack(images))[None]
        return self.model.sample(feats, torch.as_tensor(poses, dtype=torch.float32)[None], seed=seed,
                                 encoder=self.encoder.name)[0]

    def refine(self, z: torch.Tensor, images: list[np.ndarray], poses: np.ndarray | None = None,
               progress=None) -> torch.Tensor:
        """``z`` moved until its shape's silhouettes match the images' at the poses (:mod:`.refine`);
        ``progress(step, steps)`` after each step."""
        from ..data.cameras import fov_for_unit_sphere
        from ..image2latent import refine as rf

        poses = default_poses(len(images)) if poses is None else np.asarray(poses)
        cfg = rf.RefineConfig() if self.device.type == "cuda" else rf.CPU_CONFIG
        return rf.refine(self.decoder, z, np.stack(images), poses, fov_for_unit_sphere(CAMERA_DISTANCE), cfg,
                         latent_scale=self.latent_std, on_step=progress)[0]

    def __call__(self, images: list[np.ndarray], poses: np.ndarray | None = None, resolution: int = 128,
                 seed: int = 0, progress=None, refine: bool = False):
        """A trimesh.Trimesh, or an InputError / RuntimeError with a message for the user. On a GPU the
        decoder runs in bf16 and the DDIM loop replays a CUDA graph. ``refine``: move the DiT's latent
        until the shape's silhouettes match the images (:meth:`refine`).
        ``progress(fraction, text)`` is called between the stages."""
        from ..field import sdf_grid_sparse

        _check_resolution(resolution)
        say = progress or (lambda *_: None)
        times = {}
        t = time.perf_counter()
        say(0.1, "image features + latent diffusion")
        z = self.latent(images, poses, seed)
        times["latent_s"] = time.perf_counter() - t
        if refine:
            say(0.3, "refining the latent against the silhouettes")
            t = time.perf_counter()
            z = self.refine(z, images, poses, progress=lambda i, n: say(0.3 + 0.2 * i / n, f"refining the latent, "
                                                                                       f"step {i} of {n}"))
            times["refine_s"] = time.perf_counter() - t
        say(0.5, f"decoding the SDF on a {resolution}^3 grid")
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            grid = sdf_grid_sparse(self.decoder.field(z), resolution, device=self.decoder.device)
        times["grid_s"] = time.perf_counter() - t
        return _mesh_from_grid(grid, times, say)


METHODS = {"pixel": PixelAlignedToMesh, "diffusion": ImageToMesh}
DEFAULT_METHOD = "pixel"


def pipeline(method: str = DEFAULT_METHOD, checkpoint: str | Path | None = None, device=None):
    """The image -> mesh pipeline of ``method``: ``pixel`` (the pixel-aligned SDF network, the default: it reads
    the geometry in the views) or ``diffusion`` (phase 12: the latent DiT on global image features)."""
    if method not in METHODS:
        raise InputError(f"method {method!r}: choose one of {', '.join(METHODS)}")
    return METHODS[method](checkpoint, device)
