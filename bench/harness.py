"""Benchmark harness: each benchmark runs the project's way and a baseline in one process
and writes ``bench/results/<name>-<cpu|gpu>.json`` with the device, sizes, both figures and
their ratio. Speed targets are checked here, never in timed unit tests."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from sdfnets import paths
from sdfnets.repro.provenance import device_name, git_commit
from sdfnets.io import atomic_write_text


def timed(fn, *args, repeat: int = 1, **kwargs):
    """Median wall time of ``repeat`` calls (after one untimed warm-up when repeat > 1)."""
    if repeat > 1:
        fn(*args, **kwargs)
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], out


def device_kind() -> str:
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


QUICK = False  # set by run.py --quick: results go to an ignored *-quick.json


def write_result(name: str, *, unit: str, project: float, baseline: float, project_label: str,
                 baseline_label: str, sizes: dict, extra: dict | None = None, higher_is_better: bool = True) -> Path:
    record = {
        "benchmark": name,
        "device": device_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "quick": QUICK,
        "sizes": sizes,
        "unit": unit,
        "project": {"label": project_label, "value": project},
        "baseline": {"label": baseline_label, "value": baseline},
        "ratio": project / baseline if higher_is_better else baseline / project,
        "ratio_meaning": "project / baseline (higher is better)" if higher_is_better
        else "baseline / project time (higher is better)",
        **(extra or {}),
    }
    path = paths.bench_results_dir() / f"{name}-{device_kind()}{'-quick' if QUICK else ''}.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path
