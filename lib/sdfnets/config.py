"""Configs and scale presets, in one place.

Three scales run the same code:

- ``smoke``: CI, seconds on a CPU. Tiny corpus, few points, few small views.
- ``cpu``: a laptop, minutes, still shows the phenomenon.
- ``full``: one GPU at thesis scale (200,000 SDF points, 64 views of 224 x 224).

A notebook's ``parameters`` cell holds only literals (``SCALE = "smoke"``); the next cell
calls :func:`resolve` so that everything derived stays where papermill can reach it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

SCALES = ("smoke", "cpu", "full")


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
    kernels: str = "inductor"  # fast recipe: inductor (torch.compile) | triton (hand-fused step, deepsdf/fused.py)
    cuda_graph: bool = True  # kernels="triton" on a GPU: replay the whole step as one CUDA graph
    checkpoint_every: int = 2000  # steps
    # evaluation
    mesh_resolution: int = 128  # marching-cubes grid
    eval_shapes: int = 96  # shapes meshed and measured (SDF error is measured on all)
    recon_steps: int = 800  # test-time latent fitting
    recon_shapes: int = 64  # test shapes reconstructed (at most)


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


@dataclass(frozen=True)
class WeightDiffusionConfig:
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
    d_model: int = 768
    num_layers: int = 8
    num_heads: int = 12
    pose_dim: int = 64
    timesteps: int = 500
    sample_steps: int = 50
    steps: int = 15_000
    batch: int = 256
    lr: float = 1e-4
    min_views: int = 1
    max_views: int = 1  # 1: single view (phases 5, 6); 8: K in [1, 8] (phase 7)
    cond_dropout: float = 0.1  # classifier-free guidance training: drop every view token
    pose_dropout: float = 0.1  # drop the pose embeddings
    guidance: float = 1.0  # classifier-free guidance scale at sampling (1 = off)
    checkpoint_every: int = 2500
    # evaluation
    eval_views: int = 1  # views per held-out input (phase 7: 4)
    test_shapes: int = 32  # held-out inputs meshed and measured (at most)
    attractor_k: int = 5  # nearest training weight vectors listed per prediction
    samples: int = 64  # unconditional samples (phase 2)
    cloud_points: int = 2048  # surface points per shape for MMD / COV / 1-NNA
    profile_timesteps: int = 25  # timesteps of the loss-by-timestep profile
    profile_rows: int = 256  # training examples per timestep of that profile
    mesh_resolution: int = 128


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
class ImageToLatentConfig:
    """Phase 12: frozen image features -> latent diffusion transformer -> 64-dim DeepSDF latent.

    The write-up's model: d_model 384, 4 layers, 6 heads (~10 M parameters), the latent a single
    token cross-attending to view tokens (image feature + 64-dim sinusoidal pose embedding), AdaLN
    on the timestep, cosine schedule with T = 500, x0-prediction, DDIM with 50 steps, K in [1, 8]
    views per batch, 15 K steps, no classifier-free guidance or pose dropout (switches for both)."""

    encoder: str = "viewnet"  # viewnet (the project's own, trained on its renders) | dinov2-base
    # the project's own encoder: a small CNN, multi-view contrastive pretraining on training renders
    encoder_image_size: int = 128
    encoder_width: int = 32
    encoder_dim: int = 256
    encoder_steps: int = 1500
    encoder_batch: int = 256  # shapes per step (two views each)
    encoder_lr: float = 1e-3
    encoder_temperature: float = 0.1
    # the latent diffusion transformer
    d_model: int = 384
    num_layers: int = 4
    num_heads: int = 6
    pose_dim: int = 64
    timesteps: int = 500
    sample_steps: int = 50
    steps: int = 15_000
    batch: int = 256
    lr: float = 1e-4
    min_views: int = 1
    max_views: int = 8
    cond_dropout: float = 0.0  # classifier-free guidance training: drop every view token
    pose_dropout: float = 0.0  # drop the pose embeddings
    guidance: float = 1.0  # classifier-free guidance scale at sampling (1 = off)
    # evaluation
    pilot_shapes: int = 20
    eval_views: int = 4
    test_shapes: int = 32  # test shapes meshed and measured (at most)
    ood_category: str = "vase"  # held out at smoke/cpu scale, where the corpus has no OOD split
    mesh_resolution: int = 128
    scaling_shapes: tuple[int, ...] = (20, 50, 100, 200, 400, 0)  # the scaling diagnostic's N (0: every training shape)
    scaling_eval_shapes: int = 16  # training shapes meshed per N
    scaling_epochs: int = 0  # phase-11 epochs per shape at every N (0: the phase-11 recipe's)
    scaling_dit_steps: int = 0  # phase-12 steps at every N (0: the phase-12 recipe's)
    ood_neighbours: int = 8  # training latents the manifold projection averages over
    # image -> mesh on unseen objects (notebook 16): silhouette refinement and best-of-S sampling
    refine_steps: int = 60
    refine_lr: float = 3e-3
    refine_res: int = 48  # silhouette pixels per side
    refine_samples: int = 48  # SDF samples per ray
    refine_trust: float = 1.0  # weight of the squared distance to the DiT's latent (per-dim variance units)
    best_of: int = 8  # DiT samples per input, the best by silhouette IoU


@dataclass(frozen=True)
class Config:
    scale: str
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    deepsdf: DeepSDFConfig = field(default_factory=DeepSDFConfig)
    weightspace: WeightSpaceConfig = field(default_factory=WeightSpaceConfig)
    weightdiff: WeightDiffusionConfig = field(default_factory=WeightDiffusionConfig)
    autoencoder: WeightAutoencoderConfig = field(default_factory=WeightAutoencoderConfig)
    hypernet: HypernetConfig = field(default_factory=HypernetConfig)
    image2latent: ImageToLatentConfig = field(default_factory=ImageToLatentConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_PRESETS: dict[str, dict] = {
    "smoke": dict(
        data=dict(num_shapes=8, mesh_resolution=64, num_points=16_000, num_surface_points=4_000,
                  num_views=8, image_size=64),
        deepsdf=dict(hidden=64, num_layers=4, skip_layer=2, points_per_shape=1024, epochs=40,
                     checkpoint_every=20, mesh_resolution=32, eval_shapes=8, recon_steps=60),
        weightspace=dict(points_per_shape=1024, anchor_steps=300, steps=150, siren_shapes=6, interp_pairs=2,
                         perturb_sigmas=(0.0, 0.1, 0.34, 1.0), perturb_draws=2, grid_resolution=24,
                         mesh_resolution=32, checkpoint_every=50),
        weightdiff=dict(d_model=32, num_layers=2, num_heads=4, steps=200, batch=16, lr=1e-3, checkpoint_every=100,
                        test_shapes=2, samples=4, cloud_points=256, profile_timesteps=5, profile_rows=8,
                        mesh_resolution=32),
        autoencoder=dict(latents=(16, 32), hidden=32, steps=120, batch=4, points=512, checkpoint_every=60,
                         diffusion_latent=16, eval_train_shapes=3, sensitivity_points=1024),
        hypernet=dict(hidden=32, steps=100, batch=4, points=512, checkpoint_every=50, vae_hidden=32, vae_steps=200,
                      dit_d_model=32, dit_layers=2, dit_steps=150, samples=4, eval_shapes=4, interp_pairs=1),
        image2latent=dict(encoder_image_size=64, encoder_width=8, encoder_dim=32, encoder_steps=40, encoder_batch=8,
                       d_model=48, num_layers=2, num_heads=4, steps=300, batch=32, lr=1e-3, pilot_shapes=4,
                       eval_views=2, test_shapes=2, mesh_resolution=32, scaling_shapes=(2, 0), scaling_eval_shapes=2,
                       refine_steps=4, refine_res=12, refine_samples=12, best_of=2),
    ),
    "cpu": dict(  # every notebook in about 30 minutes on 2 CPU cores (README: per-notebook times)
        data=dict(num_shapes=48, mesh_resolution=112, num_points=100_000, num_surface_points=20_000,
                  num_views=16, image_size=128),
        deepsdf=dict(hidden=128, num_layers=8, points_per_shape=2048, epochs=80, checkpoint_every=500,
                     mesh_resolution=64, eval_shapes=12, recon_steps=100),
        weightspace=dict(points_per_shape=1024, anchor_steps=1000, steps=250, siren_shapes=12, interp_pairs=3,
                         perturb_draws=1, grid_resolution=40, mesh_resolution=64),
        weightdiff=dict(d_model=128, num_layers=3, num_heads=4, steps=300, batch=64, lr=3e-4, checkpoint_every=150,
                        test_shapes=6, samples=16, cloud_points=1024, profile_timesteps=8, profile_rows=32,
                        mesh_resolution=56),
        autoencoder=dict(latents=(32, 64), hidden=128, steps=200, batch=16, points=1024, checkpoint_every=100,
                         diffusion_latent=32, eval_train_shapes=8, sensitivity_points=2048),
        hypernet=dict(hidden=128, steps=400, batch=16, points=1024, checkpoint_every=200, vae_hidden=128,
                      vae_steps=300, dit_d_model=128, dit_layers=3, dit_steps=400, samples=16, eval_shapes=8,
                      interp_pairs=2),
        image2latent=dict(encoder_image_size=96, encoder_width=16, encoder_dim=128, encoder_steps=200, encoder_batch=32,
                       d_model=192, num_layers=4, num_heads=6, steps=800, batch=64, lr=3e-4, test_shapes=6,
                       mesh_resolution=56, scaling_shapes=(10, 20, 0), scaling_eval_shapes=4, scaling_epochs=40,
                       scaling_dit_steps=500, refine_steps=10, refine_res=20, refine_samples=20, best_of=2),
    ),
    "full": dict(  # the real corpus: every shape of the Sweet Home 3D pack (the thesis had 976)
        data=dict(corpus="sweethome3d", num_shapes=976, mesh_resolution=128),
        # the thesis' learning rates (3x larger ones killed every ReLU within 100 steps), decayed
        deepsdf=dict(recipe="fast", kernels="triton", shapes_per_step=32, input_align=8, lr_schedule="cosine",
                     eval_shapes=48, recon_shapes=24),
        # a coffee table, like the thesis' obj_0000; lr from bench/notes/weightspace_steps-gpu.json
        weightspace=dict(anchor_uid="BlendSwap-CC-BY/0022", lr=2e-3),
        # 8,000 steps of batch 256 (85 steps/s on one H100 after capture, bench/results/weight_dit_step-gpu.json),
        # so that every phase fits one 10-minute job; the training curves show where the loss stands
        weightdiff=dict(steps=8000),
        autoencoder=dict(eval_train_shapes=24),  # with the held-out 32: notebook 10 fits one 10-minute job
        # the scaling diagnostic trains six DeepSDF runs and six DiTs (N = 20 .. 586): 400 of phase 11's 1,500
        # epochs and 4,000 DiT steps at every N, so that notebook 15 fits one 10-minute job
        image2latent=dict(scaling_epochs=400, scaling_dit_steps=4000, scaling_eval_shapes=8),
    ),
}


# Phase 11's 20-shape pilot (thesis: a 256 x 4 decoder for 800 epochs gives blobs, 512 x 8 for
# 4,000 epochs clean meshes), shrunk at smoke and cpu scale.
PILOT = {
    "smoke": dict(num_shapes=8, small=dict(hidden=16, num_layers=2, skip_layer=0, epochs=20),
                  large=dict(hidden=64, num_layers=4, skip_layer=2, epochs=80)),
    "cpu": dict(num_shapes=20, small=dict(hidden=64, num_layers=4, skip_layer=2, epochs=60),
                large=dict(hidden=128, num_layers=8, skip_layer=4, epochs=250)),
    "full": dict(num_shapes=20, small=dict(hidden=256, num_layers=4, skip_layer=2, epochs=800, shapes_per_step=20,
                                           lr_schedule="constant", compile=False),
                 large=dict(hidden=512, num_layers=8, skip_layer=4, epochs=4000, shapes_per_step=20,
                            lr_schedule="constant", compile=False)),
}


def pilot_configs(cfg: "Config") -> tuple["Config", "Config"]:
    """The pilot's (small decoder, large decoder) configs at ``cfg``'s scale."""
    p = PILOT[cfg.scale]
    return tuple(dataclasses.replace(cfg, deepsdf=dataclasses.replace(cfg.deepsdf, **p[k])) for k in ("small", "large"))


# The weight-space phases as variants of one config section (phases 8 and 9 are ablations of 7).
WEIGHT_PHASES: dict[str, dict] = {
    "phase2": dict(conditioned=False),  # unconditional generation of ReLU+PE weights
    "phase5": dict(family="siren", max_views=1, eval_views=1),  # first image-conditioned attempt, SIREN
    "phase6": dict(max_views=1, eval_views=1),  # image-conditioned, single view
    "phase7": dict(max_views=8, eval_views=4),  # K in [1, 8] views
    "phase8": dict(max_views=8, eval_views=4, standardise="global"),  # phase 7 without per-dim standardisation
    "phase9": dict(max_views=8, eval_views=4, cond_dropout=0.0, pose_dropout=0.0),  # phase 7 without dropout
}


def scaling_config(cfg: "Config") -> "Config":
    """The recipe notebook 15 trains at every N: phase 11 with ``scaling_epochs`` per shape and phase
    12 with ``scaling_dit_steps`` steps (0: the recipes' own)."""
    dc = cfg.image2latent
    return dataclasses.replace(cfg, deepsdf=dataclasses.replace(cfg.deepsdf, epochs=dc.scaling_epochs or cfg.deepsdf.epochs),
                               image2latent=dataclasses.replace(dc, steps=dc.scaling_dit_steps or dc.steps))


def weight_phase(cfg: "Config", phase: str) -> "Config":
    """``cfg`` with its ``weightdiff`` section set up as weight-space phase ``phase``."""
    if phase not in WEIGHT_PHASES:
        raise ValueError(f"unknown weight-space phase {phase!r}; choose one of {', '.join(WEIGHT_PHASES)}")
    return dataclasses.replace(cfg, weightdiff=dataclasses.replace(cfg.weightdiff, **WEIGHT_PHASES[phase]))


def resolve(scale: str = "smoke", seed: int = 0, **sections: dict) -> Config:
    """Build the config of ``scale``, then apply per-section overrides.

    >>> resolve("smoke", data={"num_shapes": 4}).data.num_shapes
    4
    """
    if scale not in _PRESETS:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    preset = _PRESETS[scale]
    built = {}
    for name, cls in (("data", DataConfig), ("deepsdf", DeepSDFConfig), ("weightspace", WeightSpaceConfig),
                      ("weightdiff", WeightDiffusionConfig), ("autoencoder", WeightAutoencoderConfig),
                      ("hypernet", HypernetConfig), ("image2latent", ImageToLatentConfig)):
        values = {**preset.get(name, {}), **(sections.pop(name, None) or {})}
        if name == "data":
            values.setdefault("seed", seed)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {name} setting(s): {', '.join(sorted(unknown))}")
        built[name] = cls(**values)
    if sections:
        raise ValueError(f"unknown config section(s): {', '.join(sorted(sections))}")
    return Config(scale=scale, seed=seed, **built)
