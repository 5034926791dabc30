"""The scale presets (``smoke``, ``cpu``, ``full``) and the named variants of one section: phase
11's pilot decoders, the weight-space phases, the scaling diagnostic's recipe."""

from __future__ import annotations

import dataclasses
import typing

from .sections import Config

SCALES = ("smoke", "cpu", "full")
RELEASE_SCALES = ("full",)  # the scales whose phase-11 and phase-12 models are released under checkpoints/


_PRESETS: dict[str, dict] = {
    "smoke": dict(
        data=dict(num_shapes=8, mesh_resolution=64, num_points=16_000, num_surface_points=4_000,
                  num_views=8, image_size=64),
        corpus_views=dict(per_category=1, image_size=96, failures_listed=12, raw_libraries="demo"),
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
        encoder=dict(image_size=64, width=8, dim=32, steps=40, batch=8),
        refine=dict(steps=4, res=12, samples=12, best_of=2),
        pixel=dict(width=8, feature=16, hidden=32, image_size=64, steps=200, batch=4, points=512, max_views=4, lr=2e-3,
                   checkpoint_every=100, mesh_resolution=32),
        image2latent=dict(d_model=48, num_layers=2, num_heads=4, steps=300, batch=32, lr=1e-3, pilot_shapes=4,
                          eval_views=2, test_shapes=2, mesh_resolution=32, scaling_shapes=(2, 0), scaling_eval_shapes=2),
    ),
    "cpu": dict(  # every notebook in about half an hour on 2 CPU cores
        data=dict(num_shapes=48, mesh_resolution=112, num_points=100_000, num_surface_points=20_000,
                  num_views=16, image_size=128),
        corpus_views=dict(per_category=4),
        deepsdf=dict(hidden=128, num_layers=8, points_per_shape=2048, epochs=80, checkpoint_every=500,
                     mesh_resolution=64, eval_shapes=12, recon_steps=100),
        weightspace=dict(points_per_shape=1024, anchor_steps=1000, steps=250, siren_shapes=12, interp_pairs=3,
                         perturb_draws=1, grid_resolution=40, mesh_resolution=64,
                         shell_lr_factors=(4.0, 1.0, 0.25, 0.0625)),  # short fits: a wider shell needs a larger step
        weightdiff=dict(d_model=128, num_layers=3, num_heads=4, steps=300, batch=64, lr=3e-4, checkpoint_every=150,
                        test_shapes=6, samples=16, cloud_points=1024, profile_timesteps=8, profile_rows=32,
                        mesh_resolution=56),
        autoencoder=dict(latents=(32, 64), hidden=128, steps=200, batch=16, points=1024, checkpoint_every=100,
                         diffusion_latent=32, eval_train_shapes=8, sensitivity_points=2048),
        hypernet=dict(hidden=128, steps=400, batch=16, points=1024, checkpoint_every=200, vae_hidden=128,
                      vae_steps=300, dit_d_model=128, dit_layers=3, dit_steps=400, samples=16, eval_shapes=8,
                      interp_pairs=2),
        encoder=dict(image_size=96, width=16, dim=128, steps=200, batch=32),
        refine=dict(steps=10, res=20, samples=20, best_of=2),
        pixel=dict(width=16, feature=32, hidden=128, image_size=96, steps=1500, batch=8, points=1024,
                   checkpoint_every=500, mesh_resolution=56),
        image2latent=dict(d_model=192, num_layers=4, num_heads=6, steps=800, batch=64, lr=3e-4, test_shapes=6,
                          mesh_resolution=56, scaling_shapes=(10, 20, 0), scaling_eval_shapes=4, scaling_epochs=40,
                          scaling_dit_steps=500),
    ),
    "full": dict(  # the real corpus: every shape of the Sweet Home 3D pack (the thesis had 976)
        data=dict(corpus="sweethome3d", num_shapes=976, mesh_resolution=128),
        # the thesis' learning rates (3x larger ones killed every ReLU within 100 steps), decayed
        deepsdf=dict(recipe="fast", kernels="triton", shapes_per_step=32, input_align=8, lr_schedule="cosine",
                     eval_shapes=48, recon_shapes=24),
        # a coffee table, like the thesis' obj_0000; the learning rate of the step sweep in bench/weightspace_steps.py
        weightspace=dict(anchor_uid="BlendSwap-CC-BY/0022", lr=2e-3),
        # the thesis' 15,000 steps of batch 256 (bench/notes/weight_dits_8k-gpu.json keeps the earlier 8,000-step
        # runs); notebook 17's four dose runs train 8,000 each
        weightdiff=dict(steps=15_000, dose_steps=8_000),
        autoencoder=dict(eval_train_shapes=24),  # training shapes meshed beside the 32 held-out ones
        # the scaling diagnostic trains six DeepSDF runs and six DiTs (N = 20 .. 586): 400 of phase 11's 1,500
        # epochs and 4,000 DiT steps at every N, one recipe for every N
        image2latent=dict(scaling_epochs=400, scaling_dit_steps=4000, scaling_eval_shapes=8),
        # the released image2mesh network: half the training views photo-like and cameras off by up to 5 degrees
        # (the same F-score on renders, fewer floaters: bench/results/views-gpu.json, run pixel-augmented)
        pixel=dict(augment=0.5, pose_jitter=5.0),
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
    deepsdf = dataclasses.replace(cfg.deepsdf, epochs=dc.scaling_epochs or cfg.deepsdf.epochs)
    image2latent = dataclasses.replace(dc, steps=dc.scaling_dit_steps or dc.steps)
    return dataclasses.replace(cfg, deepsdf=deepsdf, image2latent=image2latent)


def weight_phase(cfg: "Config", phase: str) -> "Config":
    """``cfg`` with its ``weightdiff`` section set up as weight-space phase ``phase``."""
    if phase not in WEIGHT_PHASES:
        raise ValueError(f"unknown weight-space phase {phase!r}; choose one of {', '.join(WEIGHT_PHASES)}")
    return dataclasses.replace(cfg, weightdiff=dataclasses.replace(cfg.weightdiff, **WEIGHT_PHASES[phase]))


def shell_dose(cfg: "Config", factor: float) -> "Config":
    """Notebook 17's dose of shell thickness: ``cfg`` with phase 1's fitting learning rate multiplied by
    ``factor`` (1 is notebook 04's weight dataset) and its weight DiTs at ``weightdiff.dose_steps``."""
    wd = cfg.weightdiff
    return dataclasses.replace(cfg, weightspace=dataclasses.replace(cfg.weightspace, lr=cfg.weightspace.lr * factor),
                               weightdiff=dataclasses.replace(wd, steps=wd.dose_steps or wd.steps))


def dose_name(factor: float) -> str:
    """How notebook 17 names the dose of ``factor`` (its values' keys): ``lr × 1``, ``lr ÷ 16``."""
    return f"lr × {factor:g}" if factor >= 1 else f"lr ÷ {1 / factor:g}"


def _as_declared(cls, values: dict) -> dict:
    """``values`` with whole numbers given for float settings made floats: an override of 5 and one of 5.0 are
    the same setting, so they must name the same run (run directories hash the config's JSON)."""
    floats = {k for k, t in typing.get_type_hints(cls).items() if t is float}
    return {k: float(v) if k in floats and isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in values.items()}


def resolve(scale: str = "smoke", seed: int = 0, **sections: dict) -> Config:
    """Build the config of ``scale``, then apply per-section overrides.

    >>> resolve("smoke", data={"num_shapes": 4}).data.num_shapes
    4
    """
    if scale not in _PRESETS:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    preset = _PRESETS[scale]
    built = {}
    for section in dataclasses.fields(Config):  # each section is a field whose default is its dataclass
        if section.default_factory is dataclasses.MISSING:
            continue
        name, cls = section.name, section.default_factory
        values = {**preset.get(name, {}), **(sections.pop(name, None) or {})}
        if name == "data":
            values.setdefault("seed", seed)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {name} setting(s): {', '.join(sorted(unknown))}")
        built[name] = cls(**_as_declared(cls, values))
    if sections:
        raise ValueError(f"unknown config section(s): {', '.join(sorted(sections))}")
    return Config(scale=scale, seed=seed, export_release=scale in RELEASE_SCALES, **built)
