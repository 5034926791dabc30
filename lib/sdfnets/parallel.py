"""Process pools for CPU-heavy per-shape work (mesh metrics, marching cubes): how many workers a
machine should use, and one spawned pool per size kept for the life of the process."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

_POOL: dict = {}


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, kept for the life of this process (starting one costs
    seconds: each worker imports torch). ``spawn``, not ``fork``: safe beside CUDA and OpenMP."""
    if workers not in _POOL:
        _POOL[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return _POOL[workers]


def default_workers(jobs: int) -> int:
    """Processes for ``jobs`` CPU-heavy jobs: every core this process may use, serial below 4 cores
    (where starting the workers costs more than it saves)."""
    cores = len(os.sched_getaffinity(0))
    return min(cores, jobs) if cores >= 4 else 1
