"""Speed experiments for the fast DeepSDF recipe through torch.compile (see
bench/notes/deepsdf_speed.md; the hand-fused step has its own, bench/deepsdf_fused.py): each
variant through the real Trainer on one device-resident bank, points/s after warm-up
(compilation included in the warm-up, reported apart). Usage: python bench/deepsdf_variants.py OUT.json"""

from __future__ import annotations

import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from deepsdf_fused import measure  # noqa: E402

from sdfnets.data.bank import SDFBank  # noqa: E402

VARIANTS = {
    "fast_b64": {"input_align": 1},
    "fast_b64_align8": {},
    "fast_b128_align8": {"shapes_per_step": 128},
    "fast_b64_align8_autotune": {"compile_mode": "max-autotune-no-cudagraphs"},
}


def main(out: str) -> None:
    bank = SDFBank.synthetic(976, 200_000, "cuda")
    rows = {}
    for name, over in VARIANTS.items():
        rows[name], _ = measure(name, {"kernels": "inductor", "shapes_per_step": 64, **over}, bank)
        json.dump(rows, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
