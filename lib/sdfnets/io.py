"""Atomic file writes, checkpoints and content hashes: an interrupted run never leaves half a file,
and loading a checkpoint never runs code."""

from __future__ import annotations

import hashlib
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def tmp_path(path: Path) -> Path:
    """Where to write ``path`` before moving it into place: a hidden name of this process's own, so that
    processes writing the same file at once (jobs side by side) never move each other's half-written file."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_target(path: Path):
    """Write to the yielded temporary name; it becomes ``path`` when the block succeeds and is removed when
    it fails (a full disk, an interrupt), so no half-written file stays behind under either name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sweep_stale_tmp(root: Path) -> list[Path]:
    """Remove the temporary files (:func:`tmp_path`) under ``root`` whose writing process no longer runs:
    what a killed process left. Those of live processes (another job writing now) stay."""
    gone = []
    for tmp in Path(root).rglob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
        except PermissionError:  # another user's live process
            pass
    return gone


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_npz(path: Path, compressed: bool = False, **arrays: np.ndarray) -> Path:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class UnreadableCheckpoint(ValueError):
    """A checkpoint file that is not one of :func:`save_checkpoint` (damaged, or holding code)."""


def save_checkpoint(path: Path, **state) -> Path:
    """``torch.save`` of a dict of tensors, numbers, strings, lists and dicts, written atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, device="cpu") -> dict:
    """A checkpoint of :func:`save_checkpoint`. ``weights_only=True``: tensors and plain containers
    only, so a tampered file copied from elsewhere cannot run code when it is loaded."""
    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001  (pickle errors have many types; the message names the file)
        raise UnreadableCheckpoint(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e


class OutsideRoot(ValueError):
    """A path read from a file (a manifest, a release) that points outside the folder it belongs to."""


def inside(root: Path, relative: str) -> Path:
    """``root / relative`` where ``relative`` comes from metadata (a manifest's artifact path, a release's
    companion file): refused unless it is a relative path that stays inside ``root`` (no absolute path,
    no ``..`` out of it, no link leading out)."""
    root = Path(root)
    rel = Path(str(relative))
    if rel.is_absolute() or not str(relative).strip():
        raise OutsideRoot(f"{relative!r} is not a path inside {root}")
    path = root / rel
    if not path.resolve().is_relative_to(root.resolve()):
        raise OutsideRoot(f"{relative!r} leads outside {root}")
    return path
