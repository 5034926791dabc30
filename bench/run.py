"""Run benchmarks: ``python bench/run.py [NAME ...] [--quick]`` (``make bench``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = ["sdf_sampling", "rendering", "grid_chunk", "data_rebuild", "deepsdf_train", "weightspace_fit", "dit_train", "weight_dit_train", "image2mesh", "pixel_image2mesh", "pixel_train", "ddp_scaling", "refine", "refine_fused", "reconstruct", "oracle_retrieval", "mesh_metrics"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness")
    args = ap.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}")
    import harness

    harness.QUICK = args.quick
    for name in args.names or BENCHMARKS:
        out = importlib.import_module(f"bench_{name}").run(quick=args.quick)
        print(f"{name:14s} ratio {out['ratio']:8.2f}  -> {out['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
