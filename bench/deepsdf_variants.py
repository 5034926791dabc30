"""Speed experiments for the fast DeepSDF recipe (see bench/notes/deepsdf_speed.md): each variant
through the real Trainer on one device-resident bank, points/s after warm-up (compile included
in warm-up, reported separately). Usage: python bench/deepsdf_variants.py OUT.json"""

from __future__ import annotations

import json
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_deepsdf_train import _bank  # noqa: E402

from sdfnets import config  # noqa: E402
from sdfnets.deepsdf.train import Trainer  # noqa: E402

VARIANTS = {
    "fast_b64": {},
    "fast_b64_align8": {"input_align": 8},
    "fast_b128_align8": {"input_align": 8, "shapes_per_step": 128},
    "fast_b64_align8_autotune": {"input_align": 8, "compile_mode": "max-autotune-no-cudagraphs"},
}


def main(out: str) -> None:
    bank = _bank(976, 200_000, "cuda")
    rows = {}
    for name, over in VARIANTS.items():
        cfg = config.resolve("full", deepsdf=over)
        tr = Trainer(cfg, bank)
        t0 = time.perf_counter()
        tr.run(20)
        torch.cuda.synchronize()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        tr.run(150)
        torch.cuda.synchronize()
        pps = tr.points_per_step * 150 / (time.perf_counter() - t0)
        rows[name] = {"points_per_second": pps, "warmup_seconds": warm, **over}
        print(f"{name:28s} {pps / 1e6:6.1f} M/s  (warm-up {warm:.0f} s)", flush=True)
        json.dump(rows, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
