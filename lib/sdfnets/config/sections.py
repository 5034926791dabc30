"""One small dataclass per concern: the data, each phase's model and training, and the settings
that only change what is measured (:func:`evaluation`), how a step is computed
(:func:`computation`) or another run's recipe (:func:`another_run`). A run's key
(:func:`run_settings`) holds every other field, so those can change without retraining."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

__all__ = ["Config", "CorpusViewsConfig", "DataConfig", "DeepSDFConfig", "DiffusionTransformer", "EncoderConfig",
           "HypernetConfig", "ImageToLatentConfig", "PixelSDFConfig", "RefineConfig",
           "WeightAutoencoderConfig", "WeightDiffusionConfig", "WeightSpaceConfig", "run_settings"]


def evaluation(default):
    """A setting of what is measured after training (mesh resolution, shapes evaluated, sampling)."""
    return field(default=default, metadata={"run_key": False})


def computation(default):
    """A setting of how the same training step is computed (kernels, CUDA graphs), not which step."""
    return field(default=default, metadata={"run_key": False, "computation": True})


def another_run(default):
    """A setting of another run's recipe, written into that run's own fields (its key holds it there)."""
    return field(default=default, metadata={"run_key": False})


def run_settings(section) -> dict:
    """The fields of a config section that define a trained run: all but :func:`evaluation`,
    :func:`computation` and :func:`another_run` settings."""
    return {f.name: getattr(section, f.name) if not dataclasses.is_dataclass(getattr(section, f.name))
            else dataclasses.asdict(getattr(section, f.name))
            for f in dataclasses.fields(section) if f.metadata.get("run_key", True)}


@dataclass(frozen=True)
class DataConfig:
    corpus: str = "procedural"  # procedural | sweethome3d | pack:PATH | folder:PATH | objaverse-lvis
    num_shapes: int = 48
    seed: int = 0
    # procedural corpus: marching-cubes grid the analytic shapes are meshed on
    mesh_resolution: int = 128
    # SDF samples (thesis: 200,000 per shape, half near the surface, half uniform in [-1, 1]^3)
    num_points: int = 200_000
    near_surface_fraction: float = 0.5
    # DeepSDF's two perturbation scales around surface samples (variances 0.0025 and 0.00025)
    noise_stds: tuple[float, float] = (0.05, 0.0158)
    num_surface_points: int = 30_000  # kept with normals, for Chamfer / F-score later
    # multi-view renders (thesis: 64 views on a Fibonacci sphere at distance 2.5, 224 x 224)
    num_views: int = 64
    image_size: int = 224
    camera_distance: float = 2.5
    # splits: fixed per shape; None = the corpus' own held-out categories (sweethome3d: Characters)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    ood_categories: tuple[str, ...] | None = None
    # input guards for user meshes; each shape's geometry runs in a child process with limits
    max_file_mb: float = 512.0
    max_faces: int = 5_000_000
    shape_timeout_s: float = 300.0
    shape_memory_mb: float = 8000.0

    def content_hash(self) -> str:
        """Hash of everything that changes the built artifacts (not the shape count)."""
        d = dataclasses.asdict(self)
        for k in ("num_shapes", "max_file_mb", "max_faces", "shape_timeout_s", "shape_memory_mb",
                  "val_fraction", "test_fraction", "ood_categories"):  # these change no artifact
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class CorpusViewsConfig:
    """Notebook 01's views of the corpus pack: shapes per category in the gallery, the size of its renders,
    how many failures it lists, and the raw libraries it converts live (``debian``: Debian's
    sweethome3d-furniture package, fetched; ``demo``: a small library the project writes; or a folder)."""

    per_category: int = 8
    image_size: int = 160
    failures_listed: int = 40
    raw_libraries: str = "debian"


@dataclass(frozen=True)
class DeepSDFConfig:
    """Phase 11. ``recipe="thesis"`` is the write-up's recipe exactly; ``"fast"`` trades the
    tiny batch for a large one kept on the GPU (bf16 autocast, torch.compile, fused Adam)."""

    recipe: str = "thesis"  # thesis | fast
    latent_dim: int = 64
    hidden: int = 512
    num_layers: int = 8
    skip_layer: int = 4
    pe_bands: int = 6
    input_align: int = 1  # 8: pad the 103 inputs to 104 with zeros (faster GEMMs, same function)
    latent_init_std: float = 0.01
    lr_decoder: float = 5e-4
    lr_latent: float = 1e-3
    latent_reg: float = 1e-5  # L2 on latent norms
    clamp: float = 0.1  # clamped-L1 SDF loss
    shapes_per_step: int = 4
    points_per_shape: int = 8192
    epochs: int = 1500  # one epoch = every shape seen once at points_per_shape points
    lr_schedule: str = "constant"  # constant | cosine
    compile: bool = True  # torch.compile the step (fast recipe, on a GPU)
    compile_mode: str = "default"  # or max-autotune-no-cudagraphs (Triton GEMMs with fused epilogues)
    # fast recipe: inductor (torch.compile) | triton (the hand-fused step of deepsdf/fused.py)
    kernels: str = computation("inductor")
    cuda_graph: bool = computation(True)  # kernels="triton" on a GPU: replay the whole step as one CUDA graph
    checkpoint_every: int = 2000  # steps
    # evaluation
    mesh_resolution: int = evaluation(128)  # marching-cubes grid
    eval_shapes: int = evaluation(96)  # shapes meshed and measured (SDF error is measured on all)
    recon_steps: int = evaluation(800)  # test-time latent fitting
    recon_shapes: int = evaluation(64)  # test shapes reconstructed (at most)


@dataclass(frozen=True)
class WeightSpaceConfig:
    """Phases 0-1.5: one small SDF network per shape. ReLU+PE: xyz -> PE (6 bands, 39 dims) ->
    4 x Linear(128) + ReLU -> Linear(1), 54,785 parameters. SIREN: the same widths on raw xyz
    with sine activations (omega_0 = 30), 50,177 parameters."""

    hidden: int = 128
    num_layers: int = 4  # hidden layers
    pe_bands: int = 6
    omega0: float = 30.0
    anchor_uid: str | None = None  # None: the corpus' first shape of category "table"
    clamp: float = 0.1  # clamped-L1 SDF loss, as in phase 11
    points_per_shape: int = 4096  # per network and step
    anchor_steps: int = 4000
    anchor_lr: float = 1e-3
    steps: int = 2000  # per-shape fine-tuning (every network, batched)
    lr: float = 5e-4
    siren_lr: float = 1e-4
    max_shapes: int | None = None  # networks in the weight dataset (None: every shape)
    siren_shapes: int = 32  # phases 1/1.5 and the perturbation benchmark run on this many shapes
    interp_pairs: int = 8
    perturb_sigmas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.17, 0.25, 0.34, 0.5, 0.75, 1.0, 1.5)
    perturb_draws: int = 4
    grid_resolution: int = 64  # occupancy grid of the perturbation IoU
    mesh_resolution: int = 128
    checkpoint_every: int = 500
    # notebook 17's dose-response: weight datasets fitted at these multiples of ``lr`` (a smaller step leaves
    # each network nearer the anchor: a thinner shell, a higher pairwise cosine)
    shell_lr_factors: tuple[float, ...] = another_run((1.0, 0.25, 0.0625, 0.015625))


@dataclass(frozen=True)
class DiffusionTransformer:
    """What every diffusion transformer of the project shares, the weight DiTs of phases 2-10 and the latent
    DiT of phase 12: the trunk's size, views with their camera poses (sinusoidal embeddings) cross-attended
    as tokens, the cosine schedule with x0-prediction and DDIM sampling, and the optimiser. Defaults: the
    write-up's weight DiT."""

    d_model: int = 768
    num_layers: int = 8
    num_heads: int = 12
    pose_dim: int = 64
    timesteps: int = 500
    sample_steps: int = evaluation(50)
    steps: int = 15_000
    batch: int = 256
    lr: float = 1e-4
    min_views: int = 1
    max_views: int = 1  # 1: single view (phases 5, 6); 8: K in [1, 8] (phase 7)
    cond_dropout: float = 0.1  # classifier-free guidance training: drop every view token
    pose_dropout: float = 0.1  # drop the pose embeddings
    guidance: float = evaluation(1.0)  # classifier-free guidance scale at sampling (1 = off)


@dataclass(frozen=True)
class WeightDiffusionConfig(DiffusionTransformer):
    """Phases 2-10: a diffusion transformer over the weight vectors of the per-shape networks.

    The write-up's phase-6/7 model (~132 M parameters): the standardised weight vector cut into 8
    tokens, self-attention among them, cross-attention to view tokens (image feature + 64-dim
    sinusoidal pose embedding), AdaLN on the timestep, cosine T = 500, x0-prediction, DDIM 50,
    condition and pose dropout during training. The phases are variants of this section
    (:data:`WEIGHT_PHASES`)."""

    family: str = "relu_pe"  # relu_pe | siren: which weight dataset (phase 1 / 1.5)
    conditioned: bool = True  # False: unconditional (phase 2)
    standardise: str = "per_dim"  # per_dim (phases 6, 7) | global (one scalar, phase 8)
    tokens: int = 8
    checkpoint_every: int = 2500
    dose_steps: int = another_run(0)  # notebook 17's phase-6 DiTs, one per weight dataset (0: ``steps``)
    # evaluation
    eval_views: int = evaluation(1)  # views per held-out input (phase 7: 4)
    test_shapes: int = evaluation(32)  # held-out inputs meshed and measured (at most)
    attractor_k: int = evaluation(5)  # nearest training weight vectors listed per prediction
    samples: int = evaluation(64)  # unconditional samples (phase 2)
    cloud_points: int = evaluation(2048)  # surface points per shape for MMD / COV / 1-NNA
    profile_timesteps: int = evaluation(25)  # timesteps of the loss-by-timestep profile
    profile_rows: int = evaluation(256)  # training examples per timestep of that profile
    mesh_resolution: int = evaluation(128)


@dataclass(frozen=True)
class WeightAutoencoderConfig:
    """Phase 10: an MLP autoencoder of the weight residuals from the anchor (D -> hidden -> latent
    -> hidden -> D), trained on the weights' MSE (the write-up's) or on the decoded network's SDF
    error (function space); then the phase-12 latent DiT, image-conditioned, on its latents."""

    latents: tuple[int, ...] = (128, 256)  # thesis: 54,785 -> 128 or 256
    hidden: int = 1024
    steps: int = 4000
    batch: int = 64  # weight vectors per step
    lr: float = 1e-3
    function_lr: float = 3e-4  # the function-space AE (each step moves whole fields)
    points: int = 4096  # function-space loss: SDF samples per shape and step
    clamp: float = 0.1
    checkpoint_every: int = 1000
    diffusion_latent: int = 128  # the AE whose latent space the image-conditioned DiT learns
    eval_train_shapes: int = 48  # training shapes meshed to show the trap (the held-out inputs too)
    sensitivity_points: int = 8192


@dataclass(frozen=True)
class HypernetConfig:
    """Phases 3-4: a per-layer hypernetwork writing ReLU+PE decoders (residuals from the anchor) from
    auto-decoded per-shape codes, trained through the decoders' SDF loss; then a VAE over the codes
    and an unconditional diffusion model in the VAE's latent space."""

    code_dim: int = 64
    hidden: int = 256
    steps: int = 6000
    batch: int = 32  # shapes per step
    points: int = 4096  # SDF samples per shape and step
    lr: float = 5e-4
    code_lr: float = 1e-3
    code_reg: float = 1e-4
    checkpoint_every: int = 1000
    # phase 4
    vae_latent: int = 16
    vae_hidden: int = 256
    vae_steps: int = 3000
    vae_lr: float = 1e-3
    vae_beta: float = 1e-2
    dit_d_model: int = 256
    dit_layers: int = 4
    dit_heads: int = 4
    dit_steps: int = 6000
    # evaluation
    samples: int = 64
    eval_shapes: int = 32  # training shapes meshed against their phase-1 decoders
    interp_pairs: int = 4


@dataclass(frozen=True)
class ImageToLatentConfig(DiffusionTransformer):
    """Phase 12: frozen image features -> latent diffusion transformer -> 64-dim DeepSDF latent.

    The write-up's model: d_model 384, 4 layers, 6 heads (~10 M parameters), the latent a single
    token cross-attending to view tokens (image feature + 64-dim sinusoidal pose embedding), AdaLN
    on the timestep, cosine schedule with T = 500, x0-prediction, DDIM with 50 steps, K in [1, 8]
    views per batch, 15 K steps, no classifier-free guidance or pose dropout (switches for both)."""

    # the latent diffusion transformer (the rest as every DiT's)
    d_model: int = 384
    num_layers: int = 4
    num_heads: int = 6
    max_views: int = 8
    cond_dropout: float = 0.0
    pose_dropout: float = 0.0
    # evaluation
    pilot_shapes: int = evaluation(20)
    eval_views: int = evaluation(4)
    test_shapes: int = evaluation(32)  # test shapes meshed and measured (at most)
    ood_category: str = "vase"  # held out at smoke/cpu scale, where the corpus has no OOD split
    mesh_resolution: int = evaluation(128)
    # the scaling diagnostic (notebook 15): its N (0: every training shape), shapes meshed per N, and
    # its recipe, which scaling_config writes into the deepsdf and image2latent fields of its runs
    scaling_shapes: tuple[int, ...] = evaluation((20, 50, 100, 200, 400, 0))
    scaling_eval_shapes: int = evaluation(16)
    scaling_epochs: int = another_run(0)  # phase-11 epochs per shape at every N (0: the phase-11 recipe's)
    scaling_dit_steps: int = another_run(0)  # phase-12 steps at every N (0: the phase-12 recipe's)
    ood_neighbours: int = evaluation(8)  # training latents the manifold projection averages over
    # image -> mesh on unseen objects (notebook 16): silhouette refinement and best-of-S sampling


@dataclass(frozen=True)
class EncoderConfig:
    """Phase 12's image encoder: the project's own (``viewnet``: a small CNN, multi-view contrastive
    pretraining on the training renders, then frozen) or ``dinov2-base`` (from the Hugging Face hub)."""

    name: str = "viewnet"
    image_size: int = 128
    width: int = 32
    dim: int = 256
    steps: int = 1500
    batch: int = 256  # shapes per step (two views each)
    lr: float = 1e-3
    temperature: float = 0.1


@dataclass(frozen=True)
class RefineConfig:
    """Image -> mesh at test time: the DiT's latent moved through the frozen decoder until its silhouettes
    match the views, and best-of-S sampling by silhouette agreement (notebook 16, ``sdfnets image2mesh``)."""

    steps: int = 60
    lr: float = 3e-3
    res: int = 48  # silhouette pixels per side
    samples: int = 48  # SDF samples per ray
    tau: float = 0.01  # width of the soft minimum and of the sigmoid (SDF units)
    trust: float = 1.0  # weight of |z - z_DiT|^2 (in units of the latent's per-dim variance)
    best_of: int = 8  # DiT samples per input, the best by silhouette IoU


@dataclass(frozen=True)
class PixelSDFConfig:
    """Image -> shape from pixel-aligned features (PIFu-style, several views): a small CNN per view, each query
    point's feature where it projects in each view with its depth and silhouette flag, mean and variance over
    the views, an MLP to the SDF; trained from scratch on the training shapes' renders and SDF samples."""

    width: int = 32  # CNN channels
    encoder: str = "shallow"  # the per-view CNN: shallow (four convolutions) | unet (down to 1/16 and back)
    stride: int = 4  # feature maps at 1/stride of the view: 4, 2 or 1 (the shallow CNN; the U-Net gives 1/4)
    # the point's own coordinates beside the pooled view features; off, the SDF is read from the views alone (as
    # in PIFu): at full scale more meshes in one part and more F from 8 views and out of distribution, less from
    # 1 and 2 (bench/results/views-gpu.json)
    world: bool = True
    world_dropout: float = 0.0  # share of training shapes whose coordinates are hidden (zeros): it must read the views
    feature: int = 64  # per-view feature after the shared point MLP
    hidden: int = 256  # the SDF MLP's width
    image_size: int = 128  # views resized to this
    steps: int = 20000
    batch: int = 16  # shapes per step
    points: int = 2048  # SDF samples per shape and step
    max_views: int = 8  # K in [1, max_views] random views per step
    lr: float = 5e-4
    clamp: float = 0.1
    augment: float = 0.0  # share of training views made photo-like (colours, shading, cut-out edge; .augment)
    pose_jitter: float = 0.0  # degrees: training cameras turned at random by up to this much
    checkpoint_every: int = 1000
    # on a GPU: each step replayed as a CUDA graph (one per K; bench/bench_pixel_train.py)
    cuda_graph: bool = computation(True)
    mesh_resolution: int = evaluation(128)
    smooth: float = evaluation(0.0)  # Gaussian smoothing of the grid (a length); off: it erases thin parts
    min_part: float = evaluation(0.05)  # inside regions under this share of the largest dropped (floaters)


@dataclass(frozen=True)
class Config:
    scale: str
    seed: int = 0
    export_release: bool = False  # notebooks 11 and 12 write the release under checkpoints/ (the full preset)
    data: DataConfig = field(default_factory=DataConfig)
    corpus_views: CorpusViewsConfig = field(default_factory=CorpusViewsConfig)
    deepsdf: DeepSDFConfig = field(default_factory=DeepSDFConfig)
    weightspace: WeightSpaceConfig = field(default_factory=WeightSpaceConfig)
    weightdiff: WeightDiffusionConfig = field(default_factory=WeightDiffusionConfig)
    autoencoder: WeightAutoencoderConfig = field(default_factory=WeightAutoencoderConfig)
    hypernet: HypernetConfig = field(default_factory=HypernetConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    image2latent: ImageToLatentConfig = field(default_factory=ImageToLatentConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    pixel: PixelSDFConfig = field(default_factory=PixelSDFConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
