"""Measuring weight spaces (notebooks ``02``-``05``): meshes of networks, weight interpolation,
perturbation tolerance and the warm-start cosine shell."""

from __future__ import annotations

import numpy as np
import torch

from ..field import default_chunk, grid_points, grid_to_mesh
from ..metrics import pairwise_cosine
from .nets import NetSpec, Params, forward


@torch.no_grad()
def sdf_grids(spec: NetSpec, params: Params, resolution: int = 64, chunk: int | None = None) -> np.ndarray:
    """Every network's SDF on a resolution^3 grid: [N, R, R, R]; ``chunk`` points (over all networks)
    per call, by default 2^21 on a GPU and 4,096 on a CPU (:func:`~sdfnets.field.default_chunk`)."""
    n = params["l0.weight"].shape[0]
    device = params["l0.weight"].device
    chunk = chunk or default_chunk(device, gpu=2**21)
    grid = grid_points(resolution, device)
    per = max(1, chunk // n)
    out = torch.empty(n, len(grid), device=device)
    for i in range(0, len(grid), per):
        out[:, i:i + per] = forward(spec, params, grid[i:i + per].expand(n, -1, -1))
    return out.reshape(n, resolution, resolution, resolution).cpu().numpy()


def meshes(spec: NetSpec, params: Params, resolution: int = 128) -> list:
    """Marching-cubes mesh of every network (None where the field never crosses zero)."""
    n = params["l0.weight"].shape[0]
    out = []
    for i in range(n):
        one = {k: v[i:i + 1] for k, v in params.items()}
        out.append(grid_to_mesh(sdf_grids(spec, one, resolution)[0]))
    return out


def lerp(a: Params, b: Params, t: float) -> Params:
    return {k: (1 - t) * a[k] + t * b[k] for k in a}


@torch.no_grad()
def blend_deviation(spec: NetSpec, a: Params, b: Params, ts, points: torch.Tensor, clamp: float = 0.1) -> np.ndarray:
    """How far weight interpolation is from function interpolation: for each t, the mean
    |f_{(1-t)a + tb}(x) - ((1-t) f_a(x) + t f_b(x))| over ``points`` [P, 3] (values clamped to
    +-clamp as in the loss). Zero at the ends; small along the path when the two networks share
    a basin; large when weight averaging mixes unrelated units. ``a``, ``b``: N pairs."""
    n = a["l0.weight"].shape[0]
    x = points.to(a["l0.weight"].device).expand(n, -1, -1)
    fa, fb = forward(spec, a, x).clamp(-clamp, clamp), forward(spec, b, x).clamp(-clamp, clamp)
    out = []
    for t in ts:
        ft = forward(spec, lerp(a, b, float(t)), x).clamp(-clamp, clamp)
        out.append((ft - ((1 - t) * fa + t * fb)).abs().mean(dim=1).cpu().numpy())
    return np.stack(out)  # [T, N]


def perturb(params: Params, sigma: float, generator: torch.Generator) -> Params:
    """Relative Gaussian noise: each tensor of each network gets N(0, (sigma * rms)^2) with rms the
    root-mean-square of that tensor's entries (so sigma = 0.34 is noise at 34 % of the weights' scale)."""
    out = {}
    for k, v in params.items():
        rms = v.flatten(1).pow(2).mean(dim=1).sqrt().reshape(-1, *[1] * (v.dim() - 1))
        out[k] = v + sigma * rms * torch.randn(v.shape, generator=generator, device=v.device)
    return out


def occupancy_iou(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Volumetric IoU of the insides (SDF < 0) of grids [N, R, R, R]."""
    a, b = clean.reshape(len(clean), -1) < 0, noisy.reshape(len(noisy), -1) < 0
    union = (a | b).sum(1)
    return np.where(union > 0, (a & b).sum(1) / np.maximum(union, 1), 1.0)


def perturbation_curve(spec: NetSpec, params: Params, sigmas, draws: int = 4, resolution: int = 64,
                       seed: int = 0) -> np.ndarray:
    """IoU between each network's clean and perturbed occupancy, for every sigma: [S, draws * N]."""
    g = torch.Generator(device=params["l0.weight"].device)
    g.manual_seed(seed)
    clean = sdf_grids(spec, params, resolution)
    rows = []
    for s in sigmas:
        rows.append(np.concatenate([occupancy_iou(clean, sdf_grids(spec, perturb(params, s, g), resolution))
                                    for _ in range(draws)]))
    return np.stack(rows)


def collapse_sigma(sigmas, iou: np.ndarray, threshold: float = 0.5) -> float:
    """Where the median IoU first falls below ``threshold`` (linear interpolation between the
    measured sigmas); inf when it never does. The definition of "reconstruction collapses"."""
    med = np.median(iou, axis=1)
    for k in range(1, len(sigmas)):
        if med[k] < threshold <= med[k - 1]:
            f = (med[k - 1] - threshold) / (med[k - 1] - med[k])
            return float(sigmas[k - 1] + f * (sigmas[k] - sigmas[k - 1]))
    return float("inf") if med[-1] >= threshold else float(sigmas[0])


@torch.no_grad()
def shell_stats(weights: torch.Tensor, init: torch.Tensor, low_std: float = 1e-4) -> dict:
    """The cosine-shell diagnostic of a weight dataset [N, D] whose networks started at ``init``
    [N, D] (all rows the anchor, for warm starts).

    - ``pairwise_cosine``: mean cosine between trained weight vectors (thesis, warm start: 0.96);
    - ``residual_cosine``: the same for the residuals w - init;
    - ``init_share``: cos(w, init) = the share of each vector's norm along its starting point;
    - ``residual_ratio``: |w - init| / |w|;
    - ``low_std_dims``: dimensions whose std over the dataset is below ``low_std`` (thesis: 124);
    - ``pca_explained``: explained-variance ratios of the centred dataset.
    """
    w, w0 = weights.double(), init.double().to(weights.device)
    res = w - w0
    std = w.std(dim=0)
    sv = torch.linalg.svdvals(w - w.mean(0))
    var = sv**2
    cos_w = pairwise_cosine(w)
    return {
        "pairwise_cosine": float(cos_w.mean()),
        "pairwise_cosine_all": cos_w,
        "residual_cosine": float(pairwise_cosine(res).mean()),
        "init_share": ((w * w0).sum(1) / (w.norm(dim=1) * w0.norm(dim=1))).cpu().numpy(),
        "residual_ratio": (res.norm(dim=1) / w.norm(dim=1)).cpu().numpy(),
        "low_std_dims": int((std < low_std).sum()),
        "dims": int(w.shape[1]),
        "std": std.cpu().numpy(),
        "pca_explained": (var / var.sum()).cpu().numpy(),
        "along_init": ((w * w0).sum(1) / w0.norm(dim=1)).cpu().numpy(),  # component along the start
        "across_init": (w - ((w * w0).sum(1) / w0.pow(2).sum(1))[:, None] * w0).norm(dim=1).cpu().numpy(),
    }


def midpoint_iou(spec: NetSpec, a: Params, b: Params, resolution: int = 64) -> np.ndarray:
    """Per pair: IoU between the inside of the weight-space midpoint network and the inside of
    the function-space midpoint (f_a + f_b) / 2. 1 = weight averaging is function averaging."""
    ga, gb = sdf_grids(spec, a, resolution), sdf_grids(spec, b, resolution)
    return occupancy_iou(0.5 * (ga + gb), sdf_grids(spec, lerp(a, b, 0.5), resolution))
