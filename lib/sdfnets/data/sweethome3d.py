"""Sweet Home 3D furniture libraries (``.sh3f``): the project's real, offline corpus.

An ``.sh3f`` file is a zip archive holding OBJ models and ``PluginFurnitureCatalog.properties``,
a Java properties file with ``name#N``, ``category#N``, ``creator#N``, ``model#N`` ... per model
and a catalogue-wide ``license``. Debian ships five of them in ``sweethome3d-furniture``
(Scopia, BlendSwap-CC-0, BlendSwap-CC-BY, KatorLegaz, Reallusion: 820 models, CC-BY 3.0 and CC-0).
The 100-model default catalogue inside ``sweethome3d.jar`` is GPL and is not used.

Sweet Home 3D models are Y-up, like the project's canonical frame.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import javaproperties
import numpy as np
import trimesh

from . import meshes

CATALOG_FILE = "PluginFurnitureCatalog.properties"
DEB_PACKAGE = "sweethome3d-furniture"
DEB_FURNITURE_DIR = "usr/share/sweethome3d/furniture"


@dataclass(frozen=True)
class CatalogEntry:
    catalog: str  # the .sh3f file's stem, e.g. "Scopia"
    index: int  # N of the ``#N`` keys
    id: str
    name: str
    category: str
    creator: str
    license: str
    model: str  # path of the OBJ inside the archive
    model_rotation: tuple[float, ...] | None  # row-major 3x3, applied to the model's vertices
    size_cm: tuple[float, float, float]  # width, height, depth
    tags: str = ""
    door_or_window: bool = False

    @property
    def uid(self) -> str:
        return f"{self.catalog}/{self.index:04d}"

    def to_dict(self) -> dict:
        return asdict(self)


def read_catalog(sh3f: Path | str) -> list[CatalogEntry]:
    """Parse the catalogue of one ``.sh3f`` archive."""
    sh3f = Path(sh3f)
    try:
        with zipfile.ZipFile(sh3f) as zf:
            raw = zf.read(CATALOG_FILE)
    except KeyError as exc:
        raise ValueError(f"{sh3f.name}: no {CATALOG_FILE} inside; not a furniture library") from exc
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{sh3f.name}: not a zip archive ({exc})") from exc
    props = javaproperties.loads(raw.decode("latin-1"))  # Java's own encoding, \uXXXX escapes
    license_ = props.get("license", "").strip()
    indices = sorted({int(k.split("#", 1)[1]) for k in props if k.startswith("model#")})
    entries = []
    for n in indices:
        def get(key, default=""):
            return props.get(f"{key}#{n}", default).strip()

        rot = get("modelRotation")
        rotation = tuple(float(x) for x in rot.split()) if rot else None
        if rotation is not None and len(rotation) != 9:
            raise ValueError(f"{sh3f.name}: modelRotation#{n} has {len(rotation)} numbers, expected 9")
        entries.append(CatalogEntry(
            catalog=sh3f.stem, index=n, id=get("id"), name=get("name"), category=get("category"),
            creator=get("creator") or props.get("provider", ""), license=get("license") or license_,
            model=get("model").lstrip("/"), model_rotation=rotation,
            size_cm=(float(get("width", "0") or 0), float(get("height", "0") or 0), float(get("depth", "0") or 0)),
            tags=get("tags"), door_or_window=get("doorOrWindow").lower() == "true"))
    return entries


def load_model(sh3f: Path | str, entry: CatalogEntry, *, max_file_mb: float = 512.0,
               max_faces: int = 5_000_000) -> trimesh.Trimesh:
    """Geometry of one catalogue entry: the OBJ only, no materials or textures."""
    with zipfile.ZipFile(sh3f) as zf:
        try:
            info = zf.getinfo(entry.model)
        except KeyError as exc:
            raise meshes.MeshError(f"model {entry.model} missing from {Path(sh3f).name}") from exc
        if info.file_size == 0:
            raise meshes.MeshError("empty file (0 bytes)")
        if info.file_size > max_file_mb * 2**20:
            raise meshes.MeshError(f"file is {info.file_size / 2**20:.0f} MB, over the {max_file_mb:.0f} MB limit")
        data = zf.read(info)
    if not entry.model.lower().endswith(".obj"):
        raise meshes.MeshError(f"unsupported model format {Path(entry.model).suffix!r}")
    try:
        mesh = trimesh.load(io.BytesIO(data), file_type="obj", force="mesh", process=False,
                            skip_materials=True, maintain_order=True)
    except Exception as exc:
        raise meshes.MeshError(f"could not parse OBJ: {type(exc).__name__}: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh):
        raise meshes.MeshError("file holds no triangle geometry")
    mesh = meshes.validate(mesh, max_faces=max_faces)
    if entry.model_rotation is not None:
        rot = np.asarray(entry.model_rotation, np.float64).reshape(3, 3)
        mesh = trimesh.Trimesh(np.asarray(mesh.vertices) @ rot.T, mesh.faces, process=False)
    return mesh


def fetch_deb_libraries(dest: Path) -> list[Path]:
    """Download Debian's ``sweethome3d-furniture`` and unpack its ``.sh3f`` files into ``dest``.

    Needs ``apt-get`` and ``dpkg-deb`` (Debian/Ubuntu) and access to the package mirror.
    """
    dest = Path(dest)
    found = sorted(dest.glob("*.sh3f"))
    if found:
        return found
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise RuntimeError("fetching the Sweet Home 3D libraries needs apt-get and dpkg-deb (Debian/Ubuntu); "
                           "or download the .sh3f files yourself and pass their folder with --source")
    work = dest / "_deb"
    work.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["apt-get", "download", DEB_PACKAGE], cwd=work, capture_output=True, text=True)
    debs = sorted(work.glob(f"{DEB_PACKAGE}_*.deb"))
    if res.returncode != 0 or not debs:
        raise RuntimeError(f"`apt-get download {DEB_PACKAGE}` failed ({res.stderr.strip()[-300:]}); "
                           "run `apt-get update` first, or pass a folder of .sh3f files with --source")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(work / "x")], check=True)
    for f in sorted((work / "x" / DEB_FURNITURE_DIR).glob("*.sh3f")):
        shutil.move(str(f), dest / f.name)
    shutil.rmtree(work)
    return sorted(dest.glob("*.sh3f"))


def catalog_entries(sh3f_files: list[Path]) -> list[tuple[Path, CatalogEntry]]:
    """All entries of several libraries, in a fixed order (library name, then index)."""
    out = []
    for f in sorted(sh3f_files, key=lambda p: p.stem):
        out.extend((f, e) for e in read_catalog(f))
    return out


def write_library(path: Path | str, models: list[dict], *, license: str = "CC0",
                  catalog_id: str = "sdfnets#library") -> Path:
    """Write a ``.sh3f`` furniture library: ``models`` are dicts with ``name``, ``category``,
    ``creator``, ``mesh`` (trimesh) and optionally ``model_rotation`` (9 numbers) or ``obj_text``
    (raw OBJ text, to store a deliberately broken file)."""
    path = Path(path)
    props = {"id": catalog_id, "name": path.stem, "license": license, "provider": "sdfnets"}
    files = {}
    for n, m in enumerate(models, start=1):
        slug = f"m{n:03d}"
        props.update({f"id#{n}": f"{catalog_id}-{slug}", f"name#{n}": m["name"], f"category#{n}": m["category"],
                      f"creator#{n}": m.get("creator", "unknown"), f"model#{n}": f"/{slug}/{slug}.obj",
                      f"width#{n}": "50", f"height#{n}": "50", f"depth#{n}": "50", f"multiPartModel#{n}": "true"})
        if m.get("model_rotation") is not None:
            props[f"modelRotation#{n}"] = " ".join(str(x) for x in m["model_rotation"])
        text = m["obj_text"] if "obj_text" in m else m["mesh"].export(file_type="obj")
        files[f"{slug}/{slug}.obj"] = text.encode() if isinstance(text, str) else text
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CATALOG_FILE, javaproperties.dumps(props, timestamp=False).encode("latin-1"))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def demo_library(path: Path | str) -> Path:
    """A small library of deliberately imperfect procedural models, what the smoke-scale notebook
    converts when the real libraries are not downloaded: a triangle soup and an open mesh (both
    convert), a coarse soup whose thin spokes came apart and a two-part model (both fail the
    one-volume gate)."""
    from . import procedural

    models = []
    for i, fix in enumerate(("soup", "open", "soup", "two parts")):
        mesh, category, _ = procedural.generate(i, seed=7, resolution=40)
        if fix == "soup":
            mesh = trimesh.Trimesh(mesh.triangles.reshape(-1, 3), np.arange(len(mesh.faces) * 3).reshape(-1, 3),
                                   process=False)
        elif fix == "open":
            mesh.update_faces(mesh.face_normals[:, 1] < 0.9)  # remove upward-facing faces
        else:
            mesh = trimesh.util.concatenate([mesh, mesh.copy().apply_translation((2.5, 0, 0))])
        models.append({"name": f"{category} ({fix})", "category": category, "creator": "sdfnets", "mesh": mesh})
    return write_library(path, models, license="CC0 (generated)", catalog_id="sdfnets#demo")
