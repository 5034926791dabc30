"""Reading a built dataset: the manifest, meshes, SDF samples and renders by ``obj_idx``."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import numpy as np
import trimesh

from ..config import DataConfig
from ..io import OutsideRoot, inside, sha256_file
from .build import MANIFEST_VERSION, build_dataset, dataset_root
from .pack import Listing


class Dataset(Listing):
    def __init__(self, root: Path | str):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.exists():
            raise FileNotFoundError(f"no manifest.json in {self.root}; build it with `sdfnets data build`")
        try:
            self.manifest = json.loads(path.read_text())
            for key in ("corpus", "num_shapes", "shapes", "categories"):
                self.manifest[key]
        except (ValueError, KeyError, TypeError) as exc:  # cut off, not JSON, or not a manifest
            raise ValueError(f"{path} is not a readable dataset manifest ({type(exc).__name__}: {exc}); "
                             "rebuild it with `sdfnets data build`") from exc

    def __len__(self) -> int:
        return self.manifest["num_shapes"]

    def __repr__(self) -> str:
        return (f"Dataset({self.manifest['corpus']!r}, {len(self)} shapes, "
                f"{len(self.failed)} failed, root={str(self.root)!r})")

    @property
    def with_renders(self) -> bool:
        return self.manifest.get("with_renders", True)

    @cached_property
    def content_key(self) -> str:
        """10 hex digits of the hash of every shape's uid and SDF samples: what training reads."""
        h = hashlib.sha256()
        for s in self.shapes:
            h.update(f"{s['uid']}:{s.get('artifacts', {}).get('sdf', {}).get('sha256', '')}\n".encode())
        return h.hexdigest()[:10]

    @cached_property
    def categories(self) -> list[str]:
        return [s["category"] for s in self.shapes]

    def split(self, name: str) -> list[int]:
        """obj_idx of the shapes in split ``name`` (train, val, test or ood)."""
        return [s["obj_idx"] for s in self.shapes if s.get("split") == name]

    def index_of(self, uid: str) -> int:
        return self.manifest["uid_to_idx"][uid]

    def uid_of(self, obj_idx: int) -> str:
        return self.manifest["idx_to_uid"][str(obj_idx)]

    def _path(self, obj_idx: int, kind: str) -> Path:
        return inside(self.root, self.shapes[obj_idx]["artifacts"][kind]["path"])

    def mesh(self, obj_idx: int) -> trimesh.Trimesh:
        return trimesh.load(self._path(obj_idx, "mesh"), process=False)

    def sdf(self, obj_idx: int) -> dict[str, np.ndarray]:
        with np.load(self._path(obj_idx, "sdf")) as z:
            return {k: z[k] for k in z.files}

    def renders(self, obj_idx: int) -> dict[str, np.ndarray]:
        if not self.with_renders:
            raise FileNotFoundError(f"{self.root} was built without renders (geometry only); build it with "
                                    "`sdfnets data build` to add them")
        with np.load(self._path(obj_idx, "renders")) as z:
            return {k: z[k] for k in z.files}

    def verify(self) -> list[str]:
        """Artifacts whose content no longer matches the manifest's hash."""
        bad = []
        for s in self.shapes:
            for kind, a in s["artifacts"].items():
                try:
                    p = inside(self.root, a["path"])
                except OutsideRoot:
                    bad.append(f"obj_{s['obj_idx']:04d} {kind} (its path leads outside the dataset)")
                    continue
                if not p.exists() or sha256_file(p) != a["sha256"]:
                    bad.append(f"obj_{s['obj_idx']:04d} {kind}")
        return bad


def load_or_build(cfg: DataConfig, renders: bool = True, **build_kwargs) -> Dataset:
    """Open the dataset of ``cfg`` if it is complete and current, else build (or resume) it; an
    older manifest is rewritten from the finished artifacts without recomputing them.
    ``renders=False`` accepts (or builds) a dataset without renders. A build uses every core this
    process may use from 4 cores up (``workers=`` overrides), so that a notebook on a bare GPU node does
    not rebuild the corpus one shape at a time."""
    from ..parallel import default_workers

    root = dataset_root(cfg)
    if (root / "manifest.json").exists():
        ds = Dataset(root)
        current = ds.manifest.get("manifest_version") == MANIFEST_VERSION
        if current and not any(f["stage"] == "incomplete" for f in ds.failed) and (ds.with_renders or not renders):
            return ds
    build_kwargs.setdefault("workers", default_workers(cfg.num_shapes))
    return Dataset(build_dataset(cfg, renders=renders, **build_kwargs))
