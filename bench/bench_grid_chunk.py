"""SDF grids in chunks: the project's default chunk (``sdfnets.field.default_chunk``: 4,096 points
on a CPU, 2^18 on a GPU) against one 2^18-point chunk, the GPU's size, on the same decoder and
grid. Every evaluation mesh of phases 11-16 is such a grid; the values are the same either way
(tests/test_deepsdf.py). Also recorded: the same ratio for the thesis' 512 x 8 decoder and for a
batch of 16 weight-space networks (``weightspace.analysis.sdf_grids``, 2^21 points on a GPU)."""

from __future__ import annotations

import torch
from harness import timed, write_result

from sdfnets.deepsdf.model import Decoder
from sdfnets.field import default_chunk, sdf_grid
from sdfnets.devices import default_device
from sdfnets.weightspace import analysis
from sdfnets.weightspace.nets import NetSpec, init_params


def _decoder_seconds(hidden: int, res: int, device, repeat: int) -> tuple[float, float]:
    torch.manual_seed(0)
    dec = Decoder(64, hidden, 8, 4).to(device).eval()
    field = dec.field(0.01 * torch.randn(64, device=device))
    ours, _ = timed(sdf_grid, field, res, device=device, repeat=repeat)
    base, _ = timed(sdf_grid, field, res, device=device, chunk=2**18, repeat=repeat)
    return ours, base


def run(quick: bool = False) -> dict:
    device = default_device()
    res, big_res, nets, repeat = (24, 16, 2, 2) if quick else (64, 48, 16, 3)
    ours, base = _decoder_seconds(128, res, device, repeat)
    big_ours, big_base = _decoder_seconds(512, big_res, device, repeat)
    spec = NetSpec("relu_pe")
    params = {k: v.to(device) for k, v in init_params(spec, nets).items()}
    w_ours, _ = timed(analysis.sdf_grids, spec, params, big_res, repeat=repeat)
    w_base, _ = timed(analysis.sdf_grids, spec, params, big_res, chunk=2**21, repeat=repeat)
    path = write_result(
        "grid_chunk", unit="s per grid", project=ours, baseline=base, higher_is_better=False,
        project_label=f"sdf_grid, default chunk ({default_chunk(device)} points)",
        baseline_label="sdf_grid, 2^18-point chunks",
        sizes={"decoder": "128 x 8 (the cpu preset's)", "resolution": res, "thesis_decoder_resolution": big_res,
               "weight_space_networks": nets},
        extra={"thesis_decoder_512x8": {"project_s": big_ours, "baseline_s": big_base, "ratio": big_base / big_ours},
               "weight_space_batch": {"project_s": w_ours, "baseline_s": w_base, "ratio": w_base / w_ours,
                                      "baseline": "2^21 points per call"}})
    return {"path": str(path), "ratio": base / ours}
