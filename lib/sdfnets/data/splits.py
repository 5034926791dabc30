"""Fixed, seeded splits by shape, and an out-of-distribution split of whole categories.

A shape's split depends only on (seed, uid, category): adding, removing or failing other shapes
never moves it, so every phase and every machine agrees.
"""

from __future__ import annotations

import hashlib

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
