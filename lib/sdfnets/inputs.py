"""What the phase notebooks start from, in one place: the dataset of a scale with the splits every phase
shares, and, where a notebook asks, notebook 12's image features (the encoder trained on the training
renders) and notebook 04's weight dataset (every shape's ReLU+PE decoder, warm-started from the anchor;
row i is shape i). Each piece is load-or-train, so a notebook gets what another trained, or trains it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import Config
from .data import Dataset, load_or_build
from .data.splits import with_ood


@dataclass
class Inputs:
    cfg: Config
    dataset: Dataset
    train_ids: list[int]
    test_ids: list[int]  # held-out shapes (the first ``test_shapes`` where a notebook measures that many)
    ood_ids: list[int]  # categories no model sees (one held out at smoke and cpu scale)
    encoder: object | None = None  # with ``views``: the image encoder
    features: torch.Tensor | None = None  # [N, V, F] every view of every shape
    poses: torch.Tensor | None = None  # [V, 4, 4] the cameras of those views
    weights: object | None = None  # with ``weights``: the WeightSet of notebook 04


def phase_inputs(cfg: Config, *, test_shapes: int | None = None, views: bool = False,
                 weights: bool = False) -> Inputs:
    """The inputs of a phase notebook at ``cfg``'s scale (see the module doc)."""
    ds = load_or_build(cfg.data)
    train_ids, test_ids, ood_ids = with_ood(ds, cfg.image2latent.ood_category)
    out = Inputs(cfg, ds, train_ids, test_ids[:test_shapes] if test_shapes else test_ids, ood_ids)
    if views:
        from .image2latent import encoders

        out.encoder = encoders.get_encoder(cfg, ds, train_ids)
        out.features, out.poses = encoders.feature_cache(out.encoder, ds)
    if weights:
        from .weightspace import fit

        out.weights = fit.train_weight_set(cfg, ds, range(len(ds)), "relu_pe", "anchor")
    return out
