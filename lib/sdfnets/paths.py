"""Every path the project reads or writes, in one place (DeepSDF's ``workspace.py`` idea).

Outputs can be redirected with environment variables, which is how the tests keep a
smoke run out of the working tree:

- ``SDFNETS_DATA_DIR``: built datasets (default ``data/``)
- ``SDFNETS_FIGURES_DIR``: figures and recorded values (default ``figures/``)
- ``SDFNETS_BUILD_DIR``: executed notebooks, stamps, scratch (default ``build/``)
- ``SDFNETS_RUNS_DIR``: training checkpoints (default ``checkpoints/runs/``)
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIB_DIR = REPO_ROOT / "lib" / "sdfnets"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BENCH_DIR = REPO_ROOT / "bench"
RELEASE_DIR = REPO_ROOT / "checkpoints"


def _dir(env: str, default: Path) -> Path:
    if not os.environ.get(env):
        return default
    path = Path(os.environ[env]).resolve()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{env} names a file, not a folder", str(path))
    return path


def data_dir() -> Path:
    return _dir("SDFNETS_DATA_DIR", REPO_ROOT / "data")


def packs_dir() -> Path:
    """Committed corpus packs (tracked, unlike the rest of ``data/``)."""
    return REPO_ROOT / "data" / "packs"


def downloads_dir() -> Path:
    return data_dir() / "downloads"


def figures_dir() -> Path:
    return _dir("SDFNETS_FIGURES_DIR", REPO_ROOT / "figures")


def build_dir() -> Path:
    return _dir("SDFNETS_BUILD_DIR", REPO_ROOT / "build")


def runs_dir() -> Path:
    return _dir("SDFNETS_RUNS_DIR", REPO_ROOT / "checkpoints" / "runs")


def values_path(notebook: str, scale: str) -> Path:
    """Key numbers a notebook records: ``figures/values/<notebook-stem>.<scale>.json``."""
    return figures_dir() / "values" / f"{notebook}.{scale}.json"


def figure_path(notebook: str, name: str, scale: str, suffix: str) -> Path:
    """Deterministic figure name: ``figures/<scale>/<notebook>/<name>.<suffix>``."""
    return figures_dir() / scale / notebook / f"{name}.{suffix}"


def dataset_dir(corpus: str, num_shapes: int, config_hash: str) -> Path:
    """One built dataset; the hash of its sampling/render settings keeps variants apart."""
    safe = corpus.replace(":", "_").replace("/", "_").strip("_")
    return data_dir() / safe / f"n{num_shapes}-{config_hash}"


def executed_notebook_path(notebook: str, scale: str) -> Path:
    return build_dir() / "notebooks" / scale / f"{notebook}.ipynb"


def bench_results_dir() -> Path:
    return _dir("SDFNETS_BENCH_DIR", BENCH_DIR / "results")
