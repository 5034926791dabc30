"""Build a dataset: canonical meshes, SDF samples and multi-view renders, plus the manifest.

Resumable and crash-safe. Each shape is worked on in ``_work/<key>/`` where every artifact is
written atomically, so a finished stage is simply a file that exists; rerunning continues
where an interrupted build stopped. A shape that fails a stage gets ``failed.json`` with the
stage and the reason, and the build goes on. Finally the successful shapes get contiguous
``obj_idx`` values in corpus order, their artifacts are hard-linked to ``meshes/obj_NNNN.ply``,
``sdf/obj_NNNN.npz`` and ``renders/obj_NNNN.npz``, and ``manifest.json`` is written last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import trimesh
from tqdm import tqdm

from .. import __version__, paths
from ..config import DataConfig
from ..io import (
    OutsideRoot,
    atomic_save_npz,
    atomic_target,
    atomic_write_bytes,
    atomic_write_json,
    inside,
    sha256_file,
    sweep_stale_tmp,
)
from ..needs import missing_module
from . import meshes, splits
from .corpora import ShapeSource, get_corpus
from .isolate import Outcome, map_isolated
from .sampling import VERSION as SAMPLING_VERSION
from .sampling import sample_sdf

MANIFEST_VERSION = 2  # 2: splits
ARTIFACTS = {"mesh": ("meshes", "mesh.ply", "ply"), "sdf": ("sdf", "sdf.npz", "npz"),
             "renders": ("renders", "renders.npz", "npz")}


def dataset_root(cfg: DataConfig) -> Path:
    """Folder of the dataset of ``cfg``; keyed by its settings and the corpus code version."""
    corpus = get_corpus(cfg.corpus, seed=cfg.seed, mesh_resolution=cfg.mesh_resolution)
    code = f"{corpus.version}:sampling-v{SAMPLING_VERSION}"
    key = hashlib.sha256(f"{cfg.content_hash()}:{code}".encode()).hexdigest()[:8]
    return paths.dataset_dir(cfg.corpus, cfg.num_shapes, key)


def work_key(uid: str, content: str = "") -> str:
    """A file-system-safe, collision-free folder name for a uid (and its content's hash, where the
    corpus gives one: a changed file gets a new folder)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in uid)[-48:]
    return f"{safe}-{hashlib.sha1(f'{uid}:{content}'.encode() if content else uid.encode()).hexdigest()[:8]}"


def _shape_seed(cfg: DataConfig, uid: str) -> int:
    return int(hashlib.sha256(f"{cfg.seed}:{uid}".encode()).hexdigest()[:8], 16)


class BuildError(RuntimeError):
    """A build that cannot go on: the environment lacks something, or no shape could be built."""


def _fail(work: Path, src: ShapeSource, stage: str, reason: str) -> dict:
    record = {"uid": src.uid, "category": src.category, "name": src.name, "stage": stage, "reason": reason}
    atomic_write_json(work / "failed.json", record)
    return record


def process_geometry(src: ShapeSource, cfg: DataConfig, work: Path) -> dict:
    """Mesh and SDF stages of one shape (runs in a worker process). Returns its status."""
    work.mkdir(parents=True, exist_ok=True)
    if (work / "failed.json").exists():
        return json.loads((work / "failed.json").read_text())
    stage = "mesh"
    try:
        if not (work / "mesh.ply").exists():
            corpus = get_corpus(cfg.corpus, seed=cfg.seed, mesh_resolution=cfg.mesh_resolution)
            raw, info = corpus.load(src, max_file_mb=cfg.max_file_mb, max_faces=cfg.max_faces)
            mesh, center, scale = meshes.normalize_to_unit_sphere(raw)
            if not mesh.is_watertight:
                raise meshes.MeshError("mesh is not watertight after conversion")
            info.update(center=center.tolist(), scale=scale, num_faces=len(mesh.faces),
                        num_vertices=len(mesh.vertices), volume=float(mesh.volume),
                        area=float(mesh.area), bodies=int(mesh.body_count))
            atomic_write_json(work / "info.json", info)
            atomic_write_bytes(work / "mesh.ply", mesh.export(file_type="ply"))
        stage = "sdf"
        if not (work / "sdf.npz").exists():
            mesh = trimesh.load(work / "mesh.ply", process=False)
            samples = sample_sdf(mesh, cfg.num_points, near_surface_fraction=cfg.near_surface_fraction,
                                 noise_stds=tuple(cfg.noise_stds), num_surface_points=cfg.num_surface_points,
                                 seed=_shape_seed(cfg, src.uid))
            if not np.isfinite(samples["sdf"]).all():
                raise meshes.MeshError("signed distances contain NaN")
            atomic_save_npz(work / "sdf.npz", **samples)
    except meshes.MeshError as exc:
        return _fail(work, src, stage, str(exc))
    except ImportError as exc:  # the environment's fault, not the shape's: recorded nowhere, the build stops
        missing = getattr(exc, "name", None)
        return {"uid": src.uid, "ok": False, "environment": missing_module(missing) if missing else str(exc)}
    except MemoryError:
        return _fail(work, src, stage, "ran out of memory")
    except Exception as exc:  # one bad shape never stops the build
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return _fail(work, src, stage, f"unexpected error: {detail}")
    return {"uid": src.uid, "ok": True}


_RENDERER = None


def _render_init(image_size: int, distance: float) -> None:
    """Initializer of a spawned render worker: one GL context for the worker's life. A worker without one
    (no EGL) keeps the error, which its first task raises: an initializer's exception would break the pool
    and reach the build only as "a process terminated abruptly"."""
    global _RENDERER
    from .render import Renderer

    try:
        _RENDERER = Renderer(image_size, distance)
    except RuntimeError as exc:
        _RENDERER = exc


def _render_one(job: tuple[str, str, int], renderer=None) -> str:
    """Render one shape; returns an error message or ''."""
    from .cameras import camera_poses

    renderer = renderer or _RENDERER
    if isinstance(renderer, Exception):  # the environment's fault: the build stops, no shape is marked failed
        raise renderer
    work, _, num_views = job
    try:
        mesh = trimesh.load(Path(work) / "mesh.ply", process=False)
        out = renderer.render_views(mesh, camera_poses(num_views, renderer.distance))
        atomic_save_npz(Path(work) / "renders.npz", compressed=True, **out)
        return ""
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _render_task(job: tuple[str, str, int], image_size: int, distance: float) -> str:
    """Render one shape in a context of its own: what an executor's worker runs."""
    from .render import Renderer

    with Renderer(image_size, distance) as renderer:
        return _render_one(job, renderer)


def _render_missing(todo: list[tuple[ShapeSource, Path]], cfg: DataConfig, progress: bool, workers: int,
                    executor: Executor | None = None) -> None:
    """Render in ``workers`` processes, each with its own GL context (spawned: no GL state is forked), or
    shape by shape on ``executor``."""
    if not todo:
        return
    jobs = [(str(work), src.uid, cfg.num_views) for src, work in todo]
    bar = tqdm(total=len(jobs), desc="render", unit="shape", disable=not progress)
    if executor is not None:
        futures = {executor.submit(_render_task, job, cfg.image_size, cfg.camera_distance): i
                   for i, job in enumerate(jobs)}
        for f in as_completed(futures):
            src, work = todo[futures[f]]
            if f.result():
                _fail(work, src, "renders", f.result())
            bar.update()
    elif workers <= 1:
        from .render import Renderer

        # scoped: Mesa shares one EGL display per process, so no context may outlive its build
        with Renderer(cfg.image_size, cfg.camera_distance) as renderer:
            for (src, work), job in zip(todo, jobs):
                err = _render_one(job, renderer)
                if err:
                    _fail(work, src, "renders", err)
                bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_render_init,
                                 initargs=(cfg.image_size, cfg.camera_distance)) as pool:
            for (src, work), err in zip(todo, pool.map(_render_one, jobs, chunksize=4)):
                if err:
                    _fail(work, src, "renders", err)
                bar.update()
    bar.close()


def geometry_task(src: ShapeSource, cfg: DataConfig, work: Path) -> Outcome:
    """One shape's mesh and SDF stages in a child process with the config's time and memory limits:
    what an executor's worker runs for each shape. The worker must be allowed children: Dask workers are
    daemonic unless started with ``DASK_DISTRIBUTED__WORKER__DAEMON=False``."""
    import multiprocessing

    if multiprocessing.current_process().daemon:
        raise BuildError("this executor's workers are daemonic processes, which may not start the child process "
                         "each shape runs in: start Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False")
    return next(map_isolated(lambda s: process_geometry(s, cfg, work), [src], workers=1,
                             timeout_s=cfg.shape_timeout_s, memory_mb=cfg.shape_memory_mb))


def _on_executor(executor: Executor, pending: list[ShapeSource], cfg: DataConfig, work_of: dict) -> Iterator[Outcome]:
    futures = [executor.submit(geometry_task, s, cfg, work_of[s.uid]) for s in pending]
    for f in as_completed(futures):
        yield f.result()


def build_dataset(cfg: DataConfig, *, workers: int = 1, executor: Executor | None = None, progress: bool = True,
                  on_shape: Callable[[str], None] | None = None, renders: bool = True) -> Path:
    """Build (or finish building) the dataset of ``cfg``; returns its root folder.
    ``renders=False`` stops after meshes and SDF samples (all DeepSDF training needs); a later
    build with renders adds them to the same folder.

    Geometry (mesh and SDF stages) runs in ``workers`` child processes with the config's per-shape
    time and memory limits; renders in ``workers`` processes with a GL context each. With an
    ``executor`` (a :class:`concurrent.futures.Executor` whose workers are processes, as a GL context
    wants: a spawned process pool, or a Dask cluster's ``Client.get_executor()``) every shape's geometry
    and renders are tasks on it instead, each still
    in a child process with the same limits; the data folder must be one the executor's workers share.
    ``on_shape(uid)`` is called after each shape's geometry stages (tests use it to interrupt).
    """
    root = dataset_root(cfg)
    corpus = get_corpus(cfg.corpus, seed=cfg.seed, mesh_resolution=cfg.mesh_resolution)
    sources = corpus.sources(cfg.num_shapes)
    work_of = {s.uid: root / "_work" / work_key(s.uid, s.meta.get("content_sha256", "")) for s in sources}
    if len(set(work_of.values())) != len(sources):
        raise ValueError("corpus yields duplicate uids")
    root.mkdir(parents=True, exist_ok=True)
    _drop_corrupted(root, work_of)

    pending = [s for s in sources if not _geometry_done(work_of[s.uid])]
    bar = tqdm(total=len(pending), desc=f"mesh+sdf ({cfg.corpus})", unit="shape", disable=not progress)
    if executor is not None:
        jobs = _on_executor(executor, pending, cfg, work_of)
    else:
        jobs = map_isolated(lambda s: process_geometry(s, cfg, work_of[s.uid]), pending, workers=workers,
                            timeout_s=cfg.shape_timeout_s, memory_mb=cfg.shape_memory_mb)
    for outcome in jobs:
        if not outcome.ok:  # the child died or timed out: record why, carry on
            kind = "timeout" if "timed out" in outcome.error else "crash"
            _fail(work_of[outcome.item.uid], outcome.item, "mesh", f"{kind}: {outcome.error}")
        elif isinstance(outcome.value, dict) and outcome.value.get("environment"):
            bar.close()
            raise BuildError(f"{outcome.value['environment']}: install it (`make setup` installs every dependency) "
                             "and build again; no shape was recorded as failed")
        bar.update()
        if on_shape:
            on_shape(outcome.item.uid)
    bar.close()

    to_render = [(s, work_of[s.uid]) for s in sources
                 if (work_of[s.uid] / "sdf.npz").exists() and not (work_of[s.uid] / "renders.npz").exists()
                 and not (work_of[s.uid] / "failed.json").exists()]
    if renders:
        _render_missing(to_render, cfg, progress, workers, executor)
    write_manifest(root, cfg, sources, work_of, corpus.ood_categories, renders=renders)
    sweep_stale_tmp(root)  # what an earlier, killed build left half-written
    if sources and not any((w / "sdf.npz").exists() for w in work_of.values()):
        first = json.loads(next(iter(work_of.values())).joinpath("failed.json").read_text())
        raise BuildError(f"every one of the {len(sources)} shapes failed (first: [{first['stage']}] {first['uid']}: "
                         f"{first['reason']}); the reasons are in {root / 'manifest.json'}")
    return root


def _drop_corrupted(root: Path, work_of: dict[str, Path]) -> list[str]:
    """Artifacts of an earlier build whose bytes no longer match its manifest are deleted (with the
    work files they are hard links of, and what was derived from them) so that the build makes them
    again: a rebuild never re-hashes, and so blesses, a corrupted file."""
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        return []
    dropped = []
    for shape in manifest.get("shapes", []):
        work = work_of.get(shape.get("uid"))
        for kind, art in shape.get("artifacts", {}).items():
            try:
                p = inside(root, art["path"])
            except OutsideRoot:
                continue  # a manifest whose paths lead elsewhere: its artifacts are not this build's
            if work is None or not p.exists() or sha256_file(p) == art["sha256"]:
                continue
            redo = ("renders",) if kind == "renders" else tuple(ARTIFACTS)  # new geometry: new samples and renders
            for k in redo:
                (work / ARTIFACTS[k][1]).unlink(missing_ok=True)
                (root / ARTIFACTS[k][0] / f"obj_{shape['obj_idx']:04d}.{ARTIFACTS[k][2]}").unlink(missing_ok=True)
            dropped.append(f"{shape['uid']} {kind}")
            break
    return dropped


def _geometry_done(work: Path) -> bool:
    return (work / "failed.json").exists() or (work / "sdf.npz").exists()


def _link(src: Path, dst: Path) -> None:
    if dst.exists() and os.path.samefile(src, dst):
        return
    with atomic_target(dst) as tmp:  # (its clean-up also covers a rename onto a link to the same file, which
        tmp.unlink(missing_ok=True)  # leaves both names under POSIX)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def write_manifest(root: Path, cfg: DataConfig, sources: list[ShapeSource], work_of: dict[str, Path],
                   corpus_ood: tuple[str, ...] = (), renders: bool = True) -> dict:
    ood = tuple(cfg.ood_categories) if cfg.ood_categories is not None else tuple(corpus_ood)
    shapes, failed = [], []
    for src in sources:
        work = work_of[src.uid]
        if (work / "failed.json").exists():
            failed.append(json.loads((work / "failed.json").read_text()))
            continue
        kinds = {k: v for k, v in ARTIFACTS.items() if renders or k != "renders"}
        if not all((work / name).exists() for _, name, _ in kinds.values()):
            failed.append({"uid": src.uid, "category": src.category, "name": src.name, "stage": "incomplete",
                           "reason": "build interrupted before this shape finished"})
            continue
        idx = len(shapes)
        artifacts = {}
        for kind, (folder, name, ext) in kinds.items():
            dst = root / folder / f"obj_{idx:04d}.{ext}"
            _link(work / name, dst)
            artifacts[kind] = {"path": dst.relative_to(root).as_posix(), "sha256": sha256_file(dst),
                               "bytes": dst.stat().st_size}
        info = json.loads((work / "info.json").read_text())
        split = splits.assign(src.uid, src.category, seed=cfg.seed, val=cfg.val_fraction,
                              test=cfg.test_fraction, ood_categories=ood)
        shapes.append({"obj_idx": idx, "uid": src.uid, "category": src.category, "name": src.name,
                       "source": src.source, "license": src.license, "split": split,
                       "meta": {**src.meta, **info}, "artifacts": artifacts})
    categories: dict[str, list[int]] = {}
    for s in shapes:
        categories.setdefault(s["category"], []).append(s["obj_idx"])
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "sdfnets_version": __version__,
        "corpus": cfg.corpus,
        "num_requested": len(sources),
        "num_shapes": len(shapes),
        "with_renders": renders,
        "config": dataclasses.asdict(cfg),
        "shapes": shapes,
        "failed": failed,
        "uid_to_idx": {s["uid"]: s["obj_idx"] for s in shapes},
        "idx_to_uid": {str(s["obj_idx"]): s["uid"] for s in shapes},
        "categories": categories,
        "ood_categories": list(ood),
        "splits": {name: [s["obj_idx"] for s in shapes if s["split"] == name] for name in splits.SPLITS},
    }
    atomic_write_json(root / "manifest.json", manifest)
    listed = {root / a["path"] for s in shapes for a in s["artifacts"].values()}
    for folder, _, ext in ARTIFACTS.values():  # a shape that left the corpus leaves no orphan behind
        for p in (root / folder).glob(f"obj_*.{ext}"):
            if p not in listed:
                p.unlink()
    return manifest
