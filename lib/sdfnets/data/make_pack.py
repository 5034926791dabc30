"""Build the corpus pack from the Sweet Home 3D libraries (``sdfnets data pack``).

Per model, in a child process with time and memory limits: load the OBJ (geometry only),
normalise it into the unit sphere, convert it to a watertight canonical mesh, Draco-encode it,
decode it again and run the quality gate on the decoded mesh (the one that ships). Results are
kept per model under ``data/packwork/``, so an interrupted build resumes; then the pack is
assembled with the manifest, the failures and the credits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from .. import paths
from ..io import atomic_write_bytes, atomic_write_json, sha256_file
from . import meshes, splits, watertight
from .build import work_key
from .corpora import DEFAULT_PACK, ShapeSource, SweetHome3DRawCorpus
from .isolate import map_isolated
from .pack import decode_mesh, encode_mesh, write_pack

CONVERSION = {
    "method": "point-cloud-utils make_mesh_watertight (resolution 20000), quadric decimation to ~10,000 faces, "
              "specks under 1% of the area dropped (wrapper resolution 8000 where decimation opens the mesh), "
              "Draco 14-bit",
    "gate": "watertight; one closed volume; 95th-percentile distance canonical->source < 0.05 (unit sphere)",
    "frame": "+Y up, centred on the bounding-box centre, farthest vertex on the unit sphere",
}


def convert_one(corpus: SweetHome3DRawCorpus, src: ShapeSource, work: Path, max_faces: int = 2_000_000) -> None:
    """Convert one model into ``work/mesh.drc`` + ``report.json``, or ``failed.json``."""
    work.mkdir(parents=True, exist_ok=True)
    try:
        raw = corpus.load_raw(src, max_faces=max_faces)
        source, _, _ = meshes.normalize_to_unit_sphere(raw)
        canonical, _ = watertight.canonicalize(source)
        data = encode_mesh(canonical)
        report = watertight.gate(source, decode_mesh(data))
        if not report.ok:  # Draco fuses coincident vertices, which can pinch a thin part
            raise meshes.MeshError("quality gate after compression: " + "; ".join(report.reasons))
    except meshes.MeshError as exc:
        stage = "quality gate" if "quality gate" in str(exc) or "decimation" in str(exc) else "load"
        atomic_write_json(work / "failed.json", {"uid": src.uid, "name": src.name, "category": src.category,
                                                 "stage": stage, "reason": str(exc)})
        return
    atomic_write_json(work / "report.json", {"faces_in": len(raw.faces), "gate": report.to_dict()})
    atomic_write_bytes(work / "mesh.drc", data)


def credits_markdown(records: list[dict], source_note: str) -> str:
    by_lib: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_lib[r["catalog"]].append(r)
    lines = ["# Credits", "",
             f"The meshes in this pack are derived from the Sweet Home 3D furniture libraries ({source_note}).",
             "Changes made: geometry only (materials and textures removed), converted to a watertight mesh, "
             "decimated to about 10,000 faces, centred and scaled into the unit sphere, Draco-compressed.",
             "Each model keeps the licence of its library, stated below with its creator.", ""]
    for lib in sorted(by_lib):
        recs = by_lib[lib]
        lines += [f"## {lib} ({len(recs)} models)", "", f"Licence: {recs[0]['license']}", "",
                  "| uid | model | creator |", "|---|---|---|"]
        lines += [f"| {r['uid']} | {r['name']} | {r['creator']} |" for r in recs]
        lines.append("")
    return "\n".join(lines)


def build_pack(source_dir: str = "", out: Path | None = None, *, workers: int = 1, num_shapes: int | None = None,
               timeout_s: float = 300.0, memory_mb: float = 8000.0, progress: bool = True,
               ood_categories: tuple[str, ...] = ("Characters",)) -> Path:
    corpus = SweetHome3DRawCorpus(source_dir=source_dir)
    files = corpus.files()
    sources = sorted(corpus.sources(num_shapes or 10**9), key=lambda s: s.uid)
    work_root = paths.data_dir() / "packwork" / corpus.version
    work_of = {s.uid: work_root / work_key(s.uid) for s in sources}
    pending = [s for s in sources if not ((work_of[s.uid] / "mesh.drc").exists()
                                          or (work_of[s.uid] / "failed.json").exists())]
    bar = tqdm(total=len(pending), desc="convert", unit="model", disable=not progress)
    for outcome in map_isolated(lambda s: convert_one(corpus, s, work_of[s.uid]), pending, workers=workers,
                                timeout_s=timeout_s, memory_mb=memory_mb):
        if not outcome.ok:
            s = outcome.item
            atomic_write_json(work_of[s.uid] / "failed.json", {"uid": s.uid, "name": s.name, "category": s.category,
                                                               "stage": "load", "reason": outcome.error})
        bar.update()
    bar.close()

    records, blobs, failed = [], [], []
    for s in sources:
        w = work_of[s.uid]
        if (w / "failed.json").exists():
            failed.append(json.loads((w / "failed.json").read_text()))
            continue
        report = json.loads((w / "report.json").read_text())
        records.append({"uid": s.uid, "name": s.name, "category": s.category, "source": s.source,
                        "license": s.license, **{k: s.meta[k] for k in ("creator", "catalog", "catalog_id", "tags",
                                                                         "size_cm")},
                        "split": splits.assign(s.uid, s.category, ood_categories=ood_categories),
                        "faces": report["gate"]["faces"], "faces_in": report["faces_in"], "gate": report["gate"]})
        blobs.append((w / "mesh.drc").read_bytes())
    source_note = "Debian package sweethome3d-furniture: " + ", ".join(f.name for f in files)
    out = Path(out) if out else paths.packs_dir() / DEFAULT_PACK
    meta = {"source_files": {f.name: sha256_file(f) for f in files}, "conversion": CONVERSION,
            "ood_categories": list(ood_categories), "num_requested": len(sources)}
    return write_pack(out, corpus="sweethome3d", shapes=records, mesh_bytes=blobs, failed=failed,
                      credits=credits_markdown(records, source_note), meta=meta)
