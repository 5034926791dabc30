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
