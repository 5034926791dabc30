"""Measurements a notebook keeps until it finishes, so that a run cut short (a job's time limit) and started
again takes what it had measured instead of measuring it again, as its trainings resume from their
checkpoints. Kept per notebook and scale under ``build/measured/``, against the notebook's source hash
(:func:`~sdfnets.repro.provenance.source_hash`): another source measures afresh, and the notebook runner
forgets them once the notebook has recorded its values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .. import paths
from ..figures import _jsonable
from ..io import atomic_write_text
from .provenance import source_hash


def _path(notebook: str, scale: str) -> Path:
    return paths.build_dir() / "measured" / scale / f"{notebook}.json"


def measured(notebook: str, scale: str, key: str, compute: Callable[[], object]):
    """``compute()`` (numbers, lists and dicts), or what this notebook's source measured under ``key`` at
    ``scale`` in a run that did not finish; returned as kept (plain JSON), the first time too."""
    src = paths.NOTEBOOKS_DIR / f"{notebook}.py"
    want = source_hash(src, scale) if src.exists() else None
    path = _path(notebook, scale)
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    if want is None or kept.get("source_hash") != want:
        kept = {"source_hash": want, "measured": {}}
    if key not in kept["measured"]:
        value = json.loads(json.dumps(compute(), default=_jsonable))
        if want is None:  # no notebook of that name: nothing to resume
            return value
        kept["measured"][key] = value
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(kept) + "\n")
    return kept["measured"][key]


def forget(notebook: str, scale: str) -> None:
    """The notebook finished: its next run measures everything again."""
    _path(notebook, scale).unlink(missing_ok=True)
