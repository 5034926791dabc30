"""Corpora: where shapes come from. Each yields :class:`ShapeSource` records and loads them.

- ``procedural``: the embedded, seeded generator (no download; what ``smoke`` and ``cpu`` use).
- ``sweethome3d``: the committed corpus pack of Sweet Home 3D furniture (canonical meshes);
  ``pack:PATH`` reads any pack. The pack is made by ``sdfnets data pack`` from
- ``sweethome3d-raw`` (or ``sweethome3d-raw:DIR`` for a folder of ``.sh3f`` files): the artists'
  meshes, converted to watertight canonical meshes on the fly.
- ``objaverse-lvis``: the thesis' own 1,000-shape LVIS subset, through the ``objaverse`` package
  (needs network access).
- ``folder:PATH``: any directory of OBJ/PLY/STL/GLB/OFF files; the category is the name of
  the sub-folder a file sits in.

A loader returns a mesh (watertight, in its own frame, or already canonical); the build
normalises it into the unit sphere.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from .. import paths
from . import meshes, procedural, watertight


@dataclass
class ShapeSource:
    uid: str  # stable id from the source (a path, a hash, a generator index)
    category: str
    name: str
    source: str
    license: str
    ref: str  # how the corpus finds the shape again
    meta: dict = field(default_factory=dict)


def _stable_order(uids: list[str], seed: int = 0) -> list[int]:
    """A fixed shuffle, so the first N shapes of a large corpus are a fair sample of it."""
    return sorted(range(len(uids)), key=lambda i: hashlib.sha256(f"order:{seed}:{uids[i]}".encode()).hexdigest())


FLAT = 1e-3  # thinner than this across its thinnest direction (unit sphere): no volume for an SDF to describe


def canonical_from_raw(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, dict]:
    """Normalise, then keep a clean watertight single-volume mesh as it is, or convert it. A flat surface (a
    plane, a single triangle) is refused: its watertight wrapper would be a slab the source never described."""
    mesh, _, _ = meshes.normalize_to_unit_sphere(mesh)
    v = mesh.vertices - mesh.vertices.mean(0)
    thickness = float(np.ptp(v @ np.linalg.svd(v, full_matrices=False)[2][-1]))  # along the least-spread axis
    if thickness < FLAT:
        raise meshes.MeshError(f"flat: {thickness:.1e} thick across its thinnest direction (a plane or a single "
                               "triangle encloses no volume)")
    merged = mesh.copy()
    merged.merge_vertices()
    if merged.is_watertight and merged.body_count == 1 and len(merged.faces) <= 50_000:
        return merged, {"converted": False}
    canonical, report = watertight.canonicalize(mesh)
    return canonical, {"converted": True, "gate": report.to_dict()}


@dataclass(frozen=True)
class ProceduralCorpus:
    seed: int = 0
    resolution: int = 128
    name: str = "procedural"
    version: str = f"procedural-v{procedural.VERSION}"
    ood_categories: tuple[str, ...] = ()

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        if num_shapes < 1:
            raise ValueError("num_shapes must be at least 1")
        out = []
        for i in range(num_shapes):
            category, _ = procedural.shape_spec(i, self.seed)
            out.append(ShapeSource(uid=f"procedural-s{self.seed}-{i:05d}", category=category,
                                   name=f"{category} {i}", source="sdfnets procedural generator",
                                   license="CC0-1.0", ref=str(i)))
        return out

    def load(self, src: ShapeSource, **limits) -> tuple[trimesh.Trimesh, dict]:
        mesh, _, params = procedural.generate(int(src.ref), self.seed, self.resolution)
        return mesh, {"params": params}


@dataclass(frozen=True)
class FolderCorpus:
    root: str
    name: str = "folder"
    version: str = "folder-v2"
    ood_categories: tuple[str, ...] = ()

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        root = Path(self.root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"corpus folder not found: {root}")
        # every name with a mesh suffix that is not a folder: a dangling or looping link is listed and fails by name
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in meshes.MESH_SUFFIXES and not p.is_dir())
        if not files:
            raise FileNotFoundError(f"no mesh files ({', '.join(meshes.MESH_SUFFIXES)}) under {root}")
        if len(files) > num_shapes:
            import warnings

            warnings.warn(f"{root} holds {len(files)} mesh files; building the first {num_shapes} by path "
                          f"(pass --num-shapes {len(files)} to build them all)", stacklevel=2)
        out = []
        for p in files[:num_shapes]:
            rel = p.relative_to(root)
            category = rel.parts[0] if len(rel.parts) > 1 else "uncategorised"
            # the content's hash keys the shape's work folder: an edited file is rebuilt, never served stale
            meta = {}
            try:
                with open(p, "rb") as f:  # streamed: a file of any size hashes in constant memory
                    meta["content_sha256"] = hashlib.file_digest(f, "sha256").hexdigest()[:16]
            except OSError as exc:  # a link to nowhere or to itself, no permission: the build records why
                meta = {"content_sha256": "unreadable", "unreadable": exc.strerror or str(exc)}
            out.append(ShapeSource(uid=rel.as_posix(), category=category, name=p.stem, source=f"folder:{root}",
                                   license="unknown (user-provided)", ref=str(p), meta=meta))
        return out

    def load(self, src: ShapeSource, *, max_file_mb: float = 512.0, max_faces: int = 5_000_000):
        """The file read once: those bytes are hashed against the hash its work folder is keyed by, and parsed."""
        if "unreadable" in src.meta:
            raise meshes.MeshError(f"cannot read the file: {src.meta['unreadable']}")
        data = meshes.read_mesh_file(src.ref, max_file_mb=max_file_mb)
        if hashlib.sha256(data).hexdigest()[:16] != src.meta["content_sha256"]:
            raise meshes.MeshError("the file changed while the dataset was built (its content is not what was "
                                   "listed); build again")
        mesh = meshes.parse_mesh(data, Path(src.ref).suffix, max_faces=max_faces)
        canonical, info = canonical_from_raw(mesh)
        return canonical, {"faces_in": len(mesh.faces), **info}


def raw_libraries(source: str) -> list[Path]:
    """The Sweet Home 3D libraries (``.sh3f``) that ``source`` names: ``debian`` (the sweethome3d-furniture
    package, fetched), ``demo`` (a small library of imperfect models written under ``build/``), or a folder."""
    from . import sweethome3d

    if source == "demo":
        return [sweethome3d.demo_library(paths.build_dir() / "demo-library.sh3f")]
    return SweetHome3DRawCorpus("" if source == "debian" else source).files()


@dataclass(frozen=True)
class SweetHome3DRawCorpus:
    """The artists' meshes from ``.sh3f`` libraries, converted on the fly (slow: use the pack)."""

    source_dir: str = ""  # empty: fetch Debian's sweethome3d-furniture into data/downloads
    name: str = "sweethome3d-raw"
    version: str = "sweethome3d-raw-v1"
    ood_categories: tuple[str, ...] = ("Characters",)

    def files(self) -> list[Path]:
        from . import sweethome3d

        if self.source_dir:
            files = sorted(Path(self.source_dir).expanduser().glob("*.sh3f"))
            if not files:
                raise FileNotFoundError(f"no .sh3f files in {self.source_dir}")
            return files
        return sweethome3d.fetch_deb_libraries(paths.downloads_dir() / "sweethome3d")

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        from . import sweethome3d

        entries = sweethome3d.catalog_entries(self.files())
        order = _stable_order([e.uid for _, e in entries])[:num_shapes]
        out = []
        for i in order:
            f, e = entries[i]
            out.append(ShapeSource(uid=e.uid, category=e.category, name=e.name,
                                   source=f"Sweet Home 3D furniture library {e.catalog}", license=e.license,
                                   ref=f"{f}::{e.index}",
                                   meta={"creator": e.creator, "catalog": e.catalog, "catalog_id": e.id,
                                         "tags": e.tags, "size_cm": list(e.size_cm)}))
        return out

    def load_raw(self, src: ShapeSource, *, max_file_mb: float = 512.0, max_faces: int = 5_000_000):
        from . import sweethome3d

        path, index = src.ref.rsplit("::", 1)
        entry = next(e for e in sweethome3d.read_catalog(path) if e.index == int(index))
        return sweethome3d.load_model(path, entry, max_file_mb=max_file_mb, max_faces=max_faces)

    def load(self, src: ShapeSource, **limits):
        raw = self.load_raw(src, **limits)
        mesh, _, _ = meshes.normalize_to_unit_sphere(raw)
        canonical, report = watertight.canonicalize(mesh)
        return canonical, {"faces_in": len(raw.faces), "gate": report.to_dict()}


@dataclass(frozen=True)
class PackCorpus:
    path: str
    name: str = "pack"
    ood_categories: tuple[str, ...] = ("Characters",)

    @property
    def version(self) -> str:
        sha = Path(f"{self.path}.sha256")
        if not sha.exists():
            raise FileNotFoundError(f"corpus pack not found: {self.path} (build it with `sdfnets data pack`)")
        return f"pack-{sha.read_text().split()[0][:16]}"

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        from .pack import Pack

        pack = Pack(self.path)  # checks the checksum once
        shapes = pack.shapes
        order = _stable_order([s["uid"] for s in shapes])[:num_shapes]
        return [ShapeSource(uid=s["uid"], category=s["category"], name=s["name"], source=s["source"],
                            license=s["license"], ref=s["uid"],
                            meta={k: s[k] for k in ("creator", "catalog") if k in s})
                for s in (shapes[i] for i in order)]

    def load(self, src: ShapeSource, **limits):
        from .pack import Pack

        return Pack(self.path, verify=False).mesh(src.ref), {}


def lvis_subset(annotations: dict[str, list[str]], num_shapes: int, seed: int = 0) -> list[tuple[str, str]]:
    """Deterministic (uid, category) subset spread over the LVIS categories, round-robin."""
    pools = {c: sorted(u, key=lambda x: hashlib.sha256(f"{seed}:{x}".encode()).hexdigest())
             for c, u in sorted(annotations.items()) if u}
    out, depth = [], 0
    while len(out) < num_shapes and any(len(p) > depth for p in pools.values()):
        for c, p in pools.items():
            if len(p) > depth and len(out) < num_shapes:
                out.append((p[depth], c))
        depth += 1
    return out


def require_network(host: str = "huggingface.co", timeout_s: float = 3.0) -> None:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise RuntimeError(f"HF_HUB_OFFLINE=1 is set, and objaverse-lvis downloads from {host}")
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError as exc:
        raise RuntimeError(
            f"objaverse-lvis needs network access to {host} (annotations and GLB files) and this machine "
            f"has none ({exc}). Use the offline corpus instead (--corpus sweethome3d), or download the "
            "objects elsewhere and build with --corpus folder:PATH") from exc


@dataclass(frozen=True)
class ObjaverseLVISCorpus:
    """The thesis' corpus: Objaverse objects of the LVIS vocabulary (through ``objaverse``).

    ``annotations`` (a JSON file {category: [uid, ...]}) and ``objects_dir`` (``<uid>.glb``
    files) point at local copies; without them everything is fetched from the hub.
    """

    annotations: str = ""
    objects_dir: str = ""
    seed: int = 0
    name: str = "objaverse-lvis"
    version: str = "objaverse-lvis-v1"
    ood_categories: tuple[str, ...] = ()

    def _annotations(self) -> dict[str, list[str]]:
        if self.annotations:
            return json.loads(Path(self.annotations).read_text())
        require_network()
        try:
            import objaverse
        except ImportError as exc:
            raise RuntimeError("objaverse-lvis needs the objaverse package: pip install objaverse==0.1.7") from exc
        return objaverse.load_lvis_annotations()

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        return [ShapeSource(uid=uid, category=cat, name=uid, source="Objaverse 1.0 (LVIS subset)",
                            license="per object: see Objaverse metadata", ref=uid)
                for uid, cat in lvis_subset(self._annotations(), num_shapes, self.seed)]

    def _path(self, uid: str) -> Path:
        if self.objects_dir:
            return Path(self.objects_dir) / f"{uid}.glb"
        require_network()
        import objaverse

        return Path(objaverse.load_objects([uid])[uid])

    def load(self, src: ShapeSource, *, max_file_mb: float = 512.0, max_faces: int = 5_000_000):
        mesh = meshes.load_mesh(self._path(src.ref), max_file_mb=max_file_mb, max_faces=max_faces)
        canonical, info = canonical_from_raw(mesh)
        return canonical, {"faces_in": len(mesh.faces), **info}


DEFAULT_PACK = "sweethome3d-v1.zip"


def get_corpus(name: str, *, seed: int = 0, mesh_resolution: int = 128):
    if name == "procedural":
        return ProceduralCorpus(seed=seed, resolution=mesh_resolution)
    if name == "sweethome3d":
        return PackCorpus(path=str(paths.packs_dir() / DEFAULT_PACK))
    if name.startswith("pack:"):
        return PackCorpus(path=name.split(":", 1)[1])
    if name == "sweethome3d-raw" or name.startswith("sweethome3d-raw:"):
        return SweetHome3DRawCorpus(source_dir=name.split(":", 1)[1] if ":" in name else "")
    if name == "objaverse-lvis":
        return ObjaverseLVISCorpus(seed=seed)
    if name.startswith("folder:"):
        return FolderCorpus(root=name.split(":", 1)[1])
    raise ValueError(f"unknown corpus {name!r}; known: procedural, sweethome3d, pack:PATH, sweethome3d-raw[:DIR], "
                     "objaverse-lvis, folder:PATH")
