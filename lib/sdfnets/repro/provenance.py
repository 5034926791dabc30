"""Where recorded values come from, and whether they are still current: the commit, the device, the
hash of the library's source and of a notebook's, and the freshness test ``make figures`` and the
workflow use (a notebook is fresh when its values were made by exactly this notebook and library)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from .. import paths
from ..devices import device_name  # noqa: F401  (part of the provenance a values file records)


def library_hash() -> str:
    """SHA-256 of the library's source (every ``lib/sdfnets/**/*.py``, names and contents)."""
    h = hashlib.sha256()
    for p in sorted(paths.LIB_DIR.rglob("*.py")):
        h.update(p.relative_to(paths.LIB_DIR).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def source_hash(notebook: Path, scale: str) -> str:
    h = hashlib.sha256(f"{scale}\n".encode())
    h.update(notebook.read_bytes())
    h.update(library_hash().encode())
    return h.hexdigest()


def stamp_path(notebook: str, scale: str) -> Path:
    return paths.build_dir() / "notebooks" / scale / f"{notebook}.stamp"


def is_fresh(notebook: Path, scale: str) -> bool:
    """Whether the notebook's recorded values (and figures) come from exactly this notebook and
    library: this machine's run stamp says so, or the committed values file records the same source
    hash (so a fresh clone whose committed figures match its code calls them fresh)."""
    values = paths.values_path(notebook.stem, scale)
    if not values.exists():
        return False
    want = source_hash(notebook, scale)
    stamp = stamp_path(notebook.stem, scale)
    if stamp.exists() and stamp.read_text().strip() == want:
        return True
    try:
        return json.loads(values.read_text()).get("source_hash") == want
    except ValueError:
        return False


def git_commit() -> str:
    """The commit the code ran on: ``git rev-parse``, or ``SDFNETS_GIT_COMMIT`` where the copy has no
    ``.git`` (a repository copied to a GPU node without its history)."""
    if os.environ.get("SDFNETS_GIT_COMMIT"):
        return os.environ["SDFNETS_GIT_COMMIT"][:12]
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
