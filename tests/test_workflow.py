"""The figure workflow (workflow/Snakefile on Snakemake): its plan on one machine and on a SLURM
cluster (dry runs), the dependency closure, GPU slots, a real run of one notebook, and drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdfnets import paths
from sdfnets.repro import workflow as wf
from sdfnets.repro.measured import forget, measured

SNAKEFILE = paths.REPO_ROOT / "workflow" / "Snakefile"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(autouse=True)
def own_outputs(tmp_path, monkeypatch):
    """Each test's own figures and build folders: whether a notebook is fresh must not depend on what other
    tests of the session ran before (the notebooks at smoke record values there)."""
    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("SDFNETS_BUILD_DIR", str(tmp_path / "build"))


def _snakemake(*args, cwd, env=None):
    return subprocess.run([SNAKEMAKE, "-s", str(SNAKEFILE), "--rerun-triggers", "mtime", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def _planned(out: str) -> dict[str, int]:
    """rule name -> count, from the dry run's job table."""
    table = out.split("Job stats:")[1].split("total")[0]
    return {p[0]: int(p[1]) for p in (ln.split() for ln in table.splitlines()) if len(p) == 2 and p[1].isdigit()}


def test_the_slurm_profile_plans_every_notebook_with_one_gpu_per_gpu_notebook(tmp_path):
    profile = paths.REPO_ROOT / "workflow" / "profiles" / "slurm"
    r = _snakemake("--profile", str(profile), "-n", "--config", "scale=full", "gpus=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    planned = _planned(out)
    assert {f"nb{p.stem[:2]}" for p in paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py")} <= set(planned)
    assert planned["data"] == 1 and planned["all"] == 1
    blocks = {b.split("\n")[0].strip(": "): b for b in out.split("rule ")[1:]}
    assert "gpu=1" in blocks["nb11"] and "gpu=0" in blocks["nb13"], blocks["nb11"]


def test_only_runs_what_the_chosen_notebooks_read_and_fresh_notebooks_not_at_all(tmp_path):
    assert list(wf.notebooks("09")) == ["02", "04", "08", "09", "11", "12"]
    assert list(wf.notebooks("00")) == ["00"]
    r = _snakemake("-n", "--cores", "1", "--config", "scale=smoke", "only=11", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _planned(r.stdout) == {"data": 1, "nb11": 1, "all": 1}


def test_gpu_slots_go_to_one_rule_each(tmp_path):
    code = ("import sys, time; from sdfnets.repro.workflow import gpu_slot\n"
            "with gpu_slot(2) as i:\n    print(i, flush=True); sys.stdin.readline()")
    holders = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        got = sorted(int(h.stdout.readline()) for h in holders)
        assert got == [0, 1]
        third = subprocess.run([sys.executable, "-c", code], input="\n", capture_output=True, text=True)
        assert third.returncode != 0 and "all 2 GPUs are held" in third.stderr
    finally:
        for h in holders:
            h.communicate("\n", timeout=60)
    with wf.gpu_slot(0) as none:  # a CPU machine, or a cluster job: devices left as set
        assert none is None


@pytest.mark.slow
def test_a_workflow_run_executes_a_stale_notebook_then_calls_it_fresh(tmp_path):
    r = _snakemake("--cores", "1", "--config", "scale=smoke", "only=00", "engine=script", cwd=tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    values = paths.values_path("00_data_foundation", "smoke")
    assert json.loads(values.read_text())["num_shapes"] == 8
    assert (paths.build_dir() / "workflow" / "smoke" / "benchmarks" / "00_data_foundation.tsv").exists()
    again = _snakemake("-n", "--cores", "1", "--config", "scale=smoke", "only=00", cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr
    # forced again: the values it replaces are still there as it runs (Snakemake does not delete them), so
    # the run is compared with them; on a CPU the same code records the same numbers
    forced = _snakemake("--cores", "1", "--config", "scale=smoke", "only=00", "engine=script", "force=1", cwd=tmp_path)
    assert forced.returncode == 0, (forced.stdout + forced.stderr)[-4000:]
    rows = json.loads((paths.build_dir() / "drift" / "smoke" / "00_data_foundation.json").read_text())
    assert rows and all(r["ok"] for r in rows) and wf.drift_summary("smoke", print) == 0


def test_drift_summary_names_what_moved(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_BUILD_DIR", str(tmp_path))
    folder = tmp_path / "drift" / "cpu"
    folder.mkdir(parents=True)
    (folder / "02_anchor_decoders.json").write_text(json.dumps([{"key": "a", "ok": True}]))
    lines = []
    assert wf.drift_summary("cpu", lines.append) == 0 and not lines
    (folder / "05_cosine_shell.json").write_text(json.dumps([{"key": "pairwise_cosine", "ok": False}]))
    assert wf.drift_summary("cpu", lines.append) == 3 and "05_cosine_shell: 1" in lines[0]


def test_a_notebook_cut_short_takes_what_it_measured_until_it_records_its_values(tmp_path, monkeypatch):
    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("SDFNETS_BUILD_DIR", str(tmp_path / "build"))
    nb, calls = "04_relu_weight_dataset", []

    def measure(value):
        calls.append(value)
        return {"fscore": np.float32(value), "rows": [{"iou": float("nan")}]}

    first = measured(nb, "smoke", "4 views", lambda: measure(0.5))
    assert first["fscore"] == 0.5 and np.isnan(first["rows"][0]["iou"])  # the kept form, also the first time
    # run again (the job stopped): the same key is not measured again, a new one is
    assert measured(nb, "smoke", "4 views", lambda: measure(0.9))["fscore"] == 0.5
    assert measured(nb, "smoke", "8 views", lambda: measure(0.7))["fscore"] == pytest.approx(0.7)
    assert calls == [0.5, 0.7]
    # measured by another source: measured afresh
    kept = tmp_path / "build" / "measured" / "smoke" / f"{nb}.json"
    kept.write_text(kept.read_text().replace(json.loads(kept.read_text())["source_hash"], "0" * 64))
    assert measured(nb, "smoke", "4 views", lambda: measure(0.25))["fscore"] == 0.25
    # the notebook finished (the runner forgets them): the next run measures everything again
    forget(nb, "smoke")
    assert not kept.exists()
    assert measured(nb, "smoke", "4 views", lambda: measure(0.3))["fscore"] == pytest.approx(0.3)
    # a name that is no notebook: measured every time, nothing kept
    assert measured("99_test", "smoke", "k", lambda: measure(1.0)) == measured(
        "99_test", "smoke", "k", lambda: measure(1.0)) and calls[-2:] == [1.0, 1.0]


def test_a_notebook_with_current_values_but_no_figures_here_runs_again_to_draw_them():
    from sdfnets.repro.provenance import source_hash

    nb = paths.NOTEBOOKS_DIR / "00_data_foundation.py"
    values = paths.values_path(nb.stem, "smoke")
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(json.dumps({"source_hash": source_hash(nb, "smoke"), "values": {}}))
    assert not Path(wf.done_stamp(nb, "smoke")).exists()
    figure = paths.figures_dir() / "smoke" / nb.stem / "gallery.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    assert Path(wf.done_stamp(nb, "smoke")).exists()
