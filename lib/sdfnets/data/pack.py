"""The corpus pack: every canonical mesh of a corpus, Draco-compressed, in one versioned file.

A zip archive (stored, the meshes are already compressed) with

- ``pack.json``: corpus, version, per-shape records (uid, name, category, creator, licence,
  split, gate numbers, SHA-256 of the mesh bytes) and the shapes that failed, with reasons;
- ``CREDITS.md``: attribution per model, which the CC-BY licences require;
- ``meshes/<n>.drc``: the canonical meshes, Draco with 14-bit quantisation (about 17 KB for
  10,000 faces, vertex error ~5e-5 of the unit sphere).

Beside it, ``<pack>.sha256`` holds the checksum of the whole file. It is what a full-scale run
carries to a GPU node without network access, instead of the hours-long preprocessing.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from functools import cached_property
from pathlib import Path

import numpy as np
import trimesh

from ..io import atomic_write_bytes, atomic_write_text, sha256_file

PACK_VERSION = 1
MAX_MEMBER_BYTES = 256 * 2**20  # a pack member's declared size is checked against this before it is read
QUANTIZATION_BITS = 14


def encode_mesh(mesh: trimesh.Trimesh, bits: int = QUANTIZATION_BITS) -> bytes:
    import DracoPy

    return DracoPy.encode(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32),
                          quantization_bits=bits, compression_level=10)


def decode_mesh(data: bytes) -> trimesh.Trimesh:
    """A Draco-compressed mesh; bytes that are not one raise ValueError."""
    import DracoPy

    try:
        d = DracoPy.decode(data)
        v, f = np.asarray(d.points, np.float64).reshape(-1, 3), np.asarray(d.faces, np.int64).reshape(-1, 3)
    except Exception as exc:  # DracoPy's own failure types
        raise ValueError(f"not a Draco mesh ({type(exc).__name__}: {exc})") from exc
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError("not a Draco mesh (face indices outside the vertex list)")
    return trimesh.Trimesh(v, f, process=False)


def write_pack(path: Path, *, corpus: str, shapes: list[dict], mesh_bytes: list[bytes], failed: list[dict],
               credits: str, meta: dict | None = None) -> Path:
    """Write the pack and its ``.sha256``. ``shapes[i]`` describes ``mesh_bytes[i]``."""
    if len(shapes) != len(mesh_bytes):
        raise ValueError("one record per mesh")
    records = []
    for i, (rec, data) in enumerate(zip(shapes, mesh_bytes)):
        records.append({**rec, "mesh": f"meshes/{i:04d}.drc", "mesh_sha256": hashlib.sha256(data).hexdigest(),
                        "mesh_bytes": len(data)})
    manifest = {"pack_version": PACK_VERSION, "corpus": corpus, "num_shapes": len(records),
                "quantization_bits": QUANTIZATION_BITS, "shapes": records, "failed": failed, **(meta or {})}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in [("pack.json", json.dumps(manifest, indent=1, sort_keys=True).encode()),
                           ("CREDITS.md", credits.encode())] + [(r["mesh"], d) for r, d in zip(records, mesh_bytes)]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # byte-stable archives
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_text(Path(f"{path}.sha256"), f"{sha256_file(path)}  {Path(path).name}\n")
    return path


class Listing:
    """What a manifest lists, for a built dataset and a corpus pack alike: its shapes and its failures."""

    manifest: dict

    @property
    def shapes(self) -> list[dict]:
        return self.manifest["shapes"]

    @property
    def failed(self) -> list[dict]:
        return self.manifest["failed"]


class Pack(Listing):
    """Read a pack, checking its checksum first."""

    def __init__(self, path: Path | str, verify: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"corpus pack not found: {self.path}")
        sha_file = Path(f"{self.path}.sha256")
        if verify and sha_file.exists():
            expected = sha_file.read_text().split()[0]
            if sha256_file(self.path) != expected:
                raise ValueError(f"{self.path.name} does not match its checksum: the file is damaged or incomplete")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{self.path} is not a zip archive: not a corpus pack") from exc
        for info in self._zip.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                raise ValueError(f"{self.path.name}: member {name!r} has an unsafe name")

    def _read(self, name: str) -> bytes:
        """A member's bytes, its declared size checked first (a small member that expands to gigabytes
        is refused before it is decompressed)."""
        try:
            info = self._zip.getinfo(name)
        except KeyError as exc:
            raise ValueError(f"{self.path.name} has no member {name!r}") from exc
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"{self.path.name}: member {name!r} declares {info.file_size / 2**20:.0f} MiB, over the "
                             f"{MAX_MEMBER_BYTES / 2**20:.0f} MiB limit")
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:  # damaged bytes: bad CRC, header, stream
            raise ValueError(f"{self.path.name}: member {name!r} is damaged ({exc})") from exc

    @cached_property
    def manifest(self) -> dict:
        """``pack.json``, checked to be a pack's manifest: a ValueError naming the pack otherwise."""
        try:
            manifest = json.loads(self._read("pack.json"))
        except ValueError as exc:
            raise ValueError(f"{self.path.name}: pack.json is not valid JSON ({exc})") from exc
        if not (isinstance(manifest, dict) and isinstance(manifest.get("shapes"), list)
                and isinstance(manifest.get("failed", []), list)
                and all(isinstance(s, dict) and isinstance(s.get("uid"), str) for s in manifest["shapes"])):
            raise ValueError(f"{self.path.name}: pack.json is not a pack manifest (a list of shapes with uids)")
        return manifest

    @cached_property
    def _by_uid(self) -> dict[str, dict]:
        return {s["uid"]: s for s in self.shapes}

    def mesh(self, uid: str) -> trimesh.Trimesh:
        rec = self._by_uid[uid]
        data = self._read(rec["mesh"])
        if hashlib.sha256(data).hexdigest() != rec["mesh_sha256"]:
            raise ValueError(f"mesh of {uid} does not match its hash")
        return decode_mesh(data)

    @property
    def credits(self) -> str:
        return self._read("CREDITS.md").decode()

    def info(self) -> dict:
        cats: dict[str, int] = {}
        for s in self.shapes:
            cats[s["category"]] = cats.get(s["category"], 0) + 1
        return {"path": str(self.path), "bytes": self.path.stat().st_size, "corpus": self.manifest["corpus"],
                "pack_version": self.manifest["pack_version"], "num_shapes": len(self.shapes),
                "num_failed": len(self.failed), "categories": cats}
