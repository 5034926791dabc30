"""Rebuilding the full-scale dataset from the corpus pack (200,000 SDF points and 64 renders of
224 x 224 per shape): the whole corpus with every core, against one worker on the first 24
shapes (the serial way), in shapes per second. Each side builds into a fresh folder."""

from __future__ import annotations

import os
import tempfile
import time

from harness import write_result

from sdfnets import config, paths
from sdfnets.data import Dataset, build_dataset
from sdfnets.data.corpora import DEFAULT_PACK
from sdfnets.data.pack import Pack


def _build(num_shapes: int, workers: int, scale: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SDFNETS_DATA_DIR"] = tmp
        cfg = config.resolve(scale, data={"corpus": "sweethome3d", "num_shapes": num_shapes}).data
        t0 = time.perf_counter()
        root = build_dataset(cfg, workers=workers, progress=False)
        seconds = time.perf_counter() - t0
        failed = Dataset(root).failed
        if failed:  # a fast build that skipped shapes measures nothing
            raise RuntimeError(f"{len(failed)} shapes failed, e.g. {failed[0]['uid']}: {failed[0]['reason']}")
        return seconds


def run(quick: bool = False) -> dict:
    scale = "smoke" if quick else "full"
    n_all = 4 if quick else Pack(paths.packs_dir() / DEFAULT_PACK).info()["num_shapes"]
    n_serial = 2 if quick else 24
    old = os.environ.get("SDFNETS_DATA_DIR")
    try:
        workers = os.cpu_count() or 1
        t_all = _build(n_all, workers, scale)
        t_one = _build(n_serial, 1, scale)
    finally:
        if old is None:
            os.environ.pop("SDFNETS_DATA_DIR", None)
        else:
            os.environ["SDFNETS_DATA_DIR"] = old
    path = write_result("data_rebuild", unit="shapes/s", project=n_all / t_all, baseline=n_serial / t_one,
                        project_label=f"build_dataset from the pack, {workers} workers, whole corpus",
                        baseline_label=f"build_dataset from the pack, 1 worker, first {n_serial} shapes",
                        sizes={"scale": scale, "shapes": n_all, "workers": workers},
                        extra={"whole_corpus_seconds": t_all})
    return {"path": str(path), "ratio": (n_all / t_all) / (n_serial / t_one)}
