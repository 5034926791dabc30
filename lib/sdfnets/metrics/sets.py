"""Sets (``set_metrics``, PointFlow's conventions, Yang et al. 2019): the distance between two shapes
is PointFlow's Chamfer of their point clouds, mean squared nearest distance summed over both
directions (``chamfer_pointflow``; not the Chamfer-L1/L2 of :mod:`.shapes`). MMD: mean over reference shapes of
the distance to the nearest generated shape. COV: fraction of reference shapes that are the nearest
reference of at least one generated shape. 1-NNA: leave-one-out 1-nearest-neighbour accuracy over
generated + reference (50 % ideal; 100 % = the two sets are told apart). Memorisation (Gu et al.):
a generated sample is memorised when d(nearest training) / d(second nearest) < 1/3.
"""

from __future__ import annotations

import math

import torch


def chamfer_pointflow(a: torch.Tensor, b: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """PointFlow's Chamfer between every cloud of ``a`` [A, P, 3] and every cloud of ``b`` [B, Q, 3]:
    [A, B] of mean_x min_y |x-y|^2 + mean_y min_x |x-y|^2."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    out = torch.empty(len(a), len(b))
    for i in range(len(a)):
        for j in range(0, len(b), chunk):
            d = torch.cdist(a[i].expand(len(b[j:j + chunk]), -1, -1), b[j:j + chunk]).square()  # [c, P, Q]
            out[i, j:j + chunk] = (d.min(2).values.mean(1) + d.min(1).values.mean(1)).cpu()
    return out


def set_metrics(d_gr, d_gg, d_rr) -> dict:
    """MMD, COV and 1-NNA from distances generated-reference [G, R], generated-generated [G, G]
    and reference-reference [R, R] (see the module doc for the conventions)."""
    d_gr, d_gg, d_rr = (torch.as_tensor(d, dtype=torch.float64) for d in (d_gr, d_gg, d_rr))
    g, r = d_gr.shape
    mmd = d_gr.min(0).values.mean()
    cov = len(set(d_gr.argmin(1).tolist())) / r
    full = torch.cat([torch.cat([d_gg, d_gr], 1), torch.cat([d_gr.T, d_rr], 1)], 0)
    full.fill_diagonal_(math.inf)  # leave one out
    label = torch.cat([torch.zeros(g), torch.ones(r)])
    nn_label = label[full.argmin(1)]
    correct = nn_label == label
    return {"mmd": float(mmd), "cov": float(cov), "1nna": float(correct.double().mean()),
            "1nna_generated": float(correct[:g].double().mean()), "1nna_reference": float(correct[g:].double().mean())}


def memorisation(d_gen_train, d_train_train=None, ratio: float = 1 / 3) -> dict:
    """How much of a generated set copies the training set. ``d_gen_train`` [G, T] distances (any
    metric: Chamfer of meshes, L2 of weight vectors). ``memorised``: share of samples whose nearest
    training sample is closer than ``ratio`` times the second nearest (Gu et al.). With
    ``d_train_train`` [T, T]: the median nearest-training distance of generated samples against
    that of training samples to each other, self excluded (Zeng et al.: below 1 = closer to the
    training set than it is to itself)."""
    d = torch.as_tensor(d_gen_train, dtype=torch.float64)
    two = d.topk(2, dim=1, largest=False).values
    out = {"memorised": float((two[:, 0] < ratio * two[:, 1]).double().mean()),
           "nearest_train_median": float(two[:, 0].median())}
    if d_train_train is not None:
        dt = torch.as_tensor(d_train_train, dtype=torch.float64).clone()
        dt.fill_diagonal_(math.inf)
        out["train_nearest_median"] = float(dt.min(1).values.median())
        out["novelty_ratio"] = out["nearest_train_median"] / out["train_nearest_median"]
    return out
