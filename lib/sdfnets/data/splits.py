"""Fixed, seeded splits by shape, an out-of-distribution split of whole categories, and the
seeded choice of input views every evaluation shares.

A shape's split depends only on (seed, uid, category): adding, removing or failing other shapes
never moves it, so every phase and every machine agrees.
"""

from __future__ import annotations

import hashlib

import torch

SPLITS = ("train", "val", "test", "ood")


def assign(uid: str, category: str, *, seed: int = 0, val: float = 0.1, test: float = 0.1,
           ood_categories: tuple[str, ...] = ()) -> str:
    if category in ood_categories:
        return "ood"
    u = int(hashlib.sha256(f"split:{seed}:{uid}".encode()).hexdigest()[:12], 16) / 16**12
    if u < val:
        return "val"
    if u < val + test:
        return "test"
    return "train"


def counts(splits: list[str]) -> dict[str, int]:
    return {s: splits.count(s) for s in SPLITS}


def train_test_ids(dataset) -> tuple[list[int], list[int]]:
    """Shapes to train on (the train split) and to test on, unseen (the test split). A tiny
    corpus with an empty test split lends its last training shape to it."""
    train, test = dataset.split("train"), dataset.split("test")
    if not test and len(train) > 1:
        train, test = train[:-1], train[-1:]
    return train, test


def with_ood(dataset, fallback_category: str) -> tuple[list[int], list[int], list[int]]:
    """(train, test, out-of-distribution) shape ids. The OOD shapes are the corpus' held-out
    categories; a corpus without any (the procedural one) holds out ``fallback_category`` here,
    taking it out of train and test."""
    train, test = train_test_ids(dataset)
    ood = dataset.split("ood")
    if not ood:
        ood = [i for i, c in enumerate(dataset.categories) if c == fallback_category]
        train = [i for i in train if i not in ood]
        test = [i for i in test if i not in ood]
    return train, test, ood


def random_views(num: int, k: int, num_views: int, seed: int = 0) -> torch.Tensor:
    """[num, k] distinct view indices per row, seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(num, num_views, generator=g).argsort(dim=1)[:, :k]
