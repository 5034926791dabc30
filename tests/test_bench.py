import json
import subprocess
import sys

import pytest

from sdfnets import paths


@pytest.mark.slow
def test_bench_harness_writes_both_figures_and_ratio():
    # every benchmark at tiny sizes: about 2 minutes alone on 2 cores, several times that beside a notebook test
    res = subprocess.run([sys.executable, str(paths.BENCH_DIR / "run.py"), "--quick"], capture_output=True,
                         text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("sdf_sampling", "rendering"):
        rec = json.loads((paths.bench_results_dir() / f"{name}-cpu-quick.json").read_text())
        assert rec["project"]["value"] > 0 and rec["baseline"]["value"] > 0
        assert abs(rec["ratio"] - rec["project"]["value"] / rec["baseline"]["value"]) < 1e-9
        assert rec["device"] and rec["sizes"]
    sdf = json.loads((paths.bench_results_dir() / "sdf_sampling-cpu-quick.json").read_text())
    assert sdf["sign_error_rate"]["project"] == 0.0


def test_unknown_benchmark_is_refused():
    res = subprocess.run([sys.executable, str(paths.BENCH_DIR / "run.py"), "nope"], capture_output=True, text=True)
    assert res.returncode != 0 and "unknown benchmark" in res.stderr


def test_latent_statistics_find_a_shared_offset():
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("latent_cosine", paths.BENCH_DIR / "latent_cosine.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # rows e_i + c with orthonormal e_i and c orthogonal to them: cos = |c|² / (1 + |c|²) for every pair
    eye = torch.eye(8, 9)
    stats = mod.latent_statistics(eye + 0.5 * torch.eye(9)[8])
    assert stats["pairwise_cosine"] == pytest.approx(0.25 / 1.25)
    assert stats["offset_share"] == pytest.approx((0.25 + 8 / 64) / 1.25)  # the mean holds c and 1/8 of each e_i
    assert stats["rms_norm"] == pytest.approx(1.25 ** 0.5)
    assert mod.latent_statistics(torch.cat([eye, -eye]))["offset_share"] == pytest.approx(0.0, abs=1e-12)
    # the cpu preset already draws the write-up's 4 shapes per step at a constant rate: one run, not four
    assert list(mod.distinct_variants("cpu", list(mod.VARIANTS))) == ["preset"]
    assert len(mod.distinct_variants("full", list(mod.VARIANTS))) == 4
