"""Permutation alignment (notebook ``03``): weight matching in the style of Git Re-Basin.

Permuting a hidden layer's units (rows of its weight and bias, columns of the next layer's
weight) leaves the function unchanged, for ReLU and sine alike. Two networks trained from
different random starts sit in different permutation "basins", so averaging their weights
averages unrelated units. Weight matching (Ainsworth, Hayase & Srinivasa 2023, Alg. 1) picks,
layer by layer, the permutation of network B's units that maximises the inner product with
network A's weights, by coordinate descent over linear assignment problems (solved exactly by
SciPy's ``linear_sum_assignment``), until no permutation changes.

Written here because it is 30 lines for a plain MLP; the reference implementations are tied to
JAX/Flax model definitions.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .nets import NetSpec, Params


def weight_matching(spec: NetSpec, a: Params, b: Params, max_iter: int = 100, seed: int = 0) -> list[np.ndarray]:
    """Permutations ``perm[l]`` (one per hidden layer) such that unit ``i`` of A's layer l is
    matched with unit ``perm[l][i]`` of B's. ``a`` and ``b`` hold one network each (N = 1)."""
    names = spec.layer_names
    wa = [a[f"{n}.weight"][0].double().cpu().numpy() for n in names]
    wb = [b[f"{n}.weight"][0].double().cpu().numpy() for n in names]
    ba = [a[f"{n}.bias"][0].double().cpu().numpy() for n in names]
    bb = [b[f"{n}.bias"][0].double().cpu().numpy() for n in names]
    hidden = len(names) - 1
    perms = [np.arange(spec.hidden) for _ in range(hidden)]
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for l in rng.permutation(hidden):
            wb_in = wb[l] if l == 0 else wb[l][:, perms[l - 1]]  # B's incoming weights, inputs already matched
            cost = wa[l] @ wb_in.T + np.outer(ba[l], bb[l])
            wb_out = wb[l + 1] if l + 1 == hidden else wb[l + 1][perms[l + 1]]  # B's outgoing, outputs matched
            cost += wa[l + 1].T @ wb_out
            _, new = linear_sum_assignment(cost, maximize=True)
            if not np.array_equal(new, perms[l]):
                perms[l], changed = new, True
        if not changed:
            break
    return perms


def permute(spec: NetSpec, params: Params, perms: list[np.ndarray]) -> Params:
    """Apply hidden-unit permutations to (every network of) ``params``; the functions are unchanged."""
    out = dict(params)
    for l, p in enumerate(perms):
        p = torch.as_tensor(p, device=params["l0.weight"].device)
        n, nxt = spec.layer_names[l], spec.layer_names[l + 1]
        out[f"{n}.weight"] = out[f"{n}.weight"][:, p]
        out[f"{n}.bias"] = out[f"{n}.bias"][:, p]
        out[f"{nxt}.weight"] = out[f"{nxt}.weight"][:, :, p]
    return out


def align_to(spec: NetSpec, a: Params, b: Params, seed: int = 0) -> Params:
    """Network B permuted into network A's basin."""
    return permute(spec, b, weight_matching(spec, a, b, seed=seed))
