"""Corpora: where shapes come from. Each yields :class:`ShapeSource` records and loads them.

- ``procedural``: the embedded, seeded generator (no download; what ``smoke`` and ``cpu`` use).
- ``folder:PATH``: any directory of OBJ/PLY/STL/GLB/OFF files; the category is the name of
  the sub-folder a file sits in.

A loader returns raw geometry in its own frame; the build normalises it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import trimesh

from . import meshes, procedural


@dataclass
class ShapeSource:
    uid: str  # stable id from the source (a path, a hash, a generator index)
    category: str
    name: str
    source: str
    license: str
    ref: str  # how the corpus finds the shape again
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProceduralCorpus:
    seed: int = 0
    resolution: int = 128
    name: str = "procedural"
    version: str = f"procedural-v{procedural.VERSION}"

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
    version: str = "folder-v1"

    def sources(self, num_shapes: int) -> list[ShapeSource]:
        root = Path(self.root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"corpus folder not found: {root}")
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in meshes.MESH_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no mesh files ({', '.join(meshes.MESH_SUFFIXES)}) under {root}")
        out = []
        for p in files[:num_shapes]:
            rel = p.relative_to(root)
            category = rel.parts[0] if len(rel.parts) > 1 else "uncategorised"
            out.append(ShapeSource(uid=rel.as_posix(), category=category, name=p.stem,
                                   source=f"folder:{root}", license="unknown (user-provided)", ref=str(p)))
        return out

    def load(self, src: ShapeSource, *, max_file_mb: float = 512.0, max_faces: int = 5_000_000):
        mesh = meshes.load_mesh(src.ref, max_file_mb=max_file_mb, max_faces=max_faces)
        faces_in = len(mesh.faces)
        return meshes.make_watertight(mesh), {"faces_in": faces_in}


def get_corpus(name: str, *, seed: int = 0, mesh_resolution: int = 128):
    if name == "procedural":
        return ProceduralCorpus(seed=seed, resolution=mesh_resolution)
    if name.startswith("folder:"):
        return FolderCorpus(root=name.split(":", 1)[1])
    raise ValueError(f"unknown corpus {name!r}; known: procedural, folder:PATH")
