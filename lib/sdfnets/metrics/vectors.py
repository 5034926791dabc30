"""Vectors against vectors (weights, latents, image features), by cosine similarity throughout:
pairwise cosines, recall of a true row, nearest rows, the attractor (collapse) diagnostic and
feature retrieval."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def cosine_matrix(a, b) -> torch.Tensor:
    """[A, B] cosine similarities between the rows of ``a`` [A, D] and ``b`` [B, D]."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T


def pairwise_cosine(vectors) -> np.ndarray:
    """Off-diagonal cosine similarities of the rows of [N, D], in float64 (the thesis' "pairwise
    cosine" of weight vectors and of latents)."""
    v = torch.as_tensor(vectors).double()
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    c = v @ v.T
    return c[~torch.eye(len(v), dtype=torch.bool, device=v.device)].cpu().numpy()


def recall(pred, bank, true_rows) -> dict:
    """Per prediction: cosine to its true row of ``bank``, the true row's rank among all rows
    (1 = nearest by cosine), and the margin cos(true) - max cos(any other row)."""
    sims = cosine_matrix(pred, bank)  # [M, N]
    rows = torch.as_tensor(list(true_rows))
    cos_true = sims[torch.arange(len(rows)), rows]
    rank = (sims > cos_true[:, None]).sum(1) + 1
    others = sims.clone()
    others[torch.arange(len(rows)), rows] = -math.inf
    return {"cos": cos_true.numpy(), "rank": rank.numpy(), "margin": (cos_true - others.max(1).values).numpy()}


def nearest_rows(pred, bank, k: int = 1) -> torch.Tensor:
    """Rows of ``bank`` nearest (cosine) to every prediction: [M] for k = 1, else [M, k] best first."""
    sims = cosine_matrix(pred, bank)
    return sims.argmax(1) if k == 1 else sims.topk(k, dim=1).indices


def attractors(pred, truth, bank, k: int = 5) -> dict:
    """The collapse diagnostic of a conditional generator. ``pred`` [M, D] predictions for M held-out
    inputs, ``truth`` [M, D] their true targets, ``bank`` [N, D] the training targets. Per input:
    ``cos_true`` = cos(pred, truth), the ``k`` nearest training rows to the prediction (``top``,
    best first) with their cosines (``top_cos``), and ``closer`` = whether the nearest training row
    is closer to the prediction than its own target is. Over the inputs: how often each training
    row is the nearest (``top1_counts``, most frequent first), the fewest rows that are nearest for
    half of the inputs (``rows_for_half``), and the diversity of the predictions against that of
    the targets (mean pairwise cosine of each set; a collapsed model's predictions are more alike
    than the targets)."""
    pred, truth, bank = (torch.as_tensor(x).float() for x in (pred, truth, bank))
    sims = cosine_matrix(pred, bank)
    top_cos, top = sims.topk(min(k, len(bank)), dim=1)
    cos_true = F.cosine_similarity(pred, truth, dim=1)
    ids, counts = top[:, 0].unique(return_counts=True)
    order = counts.argsort(descending=True)
    ids, counts = ids[order], counts[order]
    rows_for_half = int((counts.cumsum(0) < len(pred) / 2).sum()) + 1
    return {"cos_true": cos_true.numpy(), "top": top.numpy(), "top_cos": top_cos.numpy(),
            "closer": (top_cos[:, 0] > cos_true).numpy(),
            "top1_counts": dict(zip(ids.tolist(), counts.tolist())), "rows_for_half": rows_for_half,
            "distinct_top1": len(ids),
            "pred_pairwise_cosine": float(pairwise_cosine(pred).mean()) if len(pred) > 1 else float("nan"),
            "truth_pairwise_cosine": float(pairwise_cosine(truth).mean()) if len(truth) > 1 else float("nan")}


def retrieve(features: torch.Tensor, query_ids, views: torch.Tensor, train_ids) -> torch.Tensor:
    """The nearest-neighbour baseline: for each query shape, the training shape whose mean view
    feature is nearest (cosine) to the mean feature of the query's given views. -> rows of train_ids."""
    q = features[torch.as_tensor(list(query_ids))[:, None], views].mean(1)
    return nearest_rows(q, features[torch.as_tensor(list(train_ids))].mean(1))
