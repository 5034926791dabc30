"""Every notebook at ``full`` as a sequence of GPU jobs of at most 10 minutes each.

The jobs come in waves. A job's notebooks run one after another in one process on one GPU; the jobs
of a wave need nothing from each other, only the runs of earlier waves under ``checkpoints/runs/``
(load-or-train by resolved config), so on a node with several GPUs the jobs of a wave run side by
side, one GPU each, and on one GPU one after another. Where two jobs of a wave do ask for the same
run (09 needs 08's phase-7 model, 12 needs 11's DeepSDF when they run beside each other), the run
folder's lock (:func:`sdfnets.runs.exclusive`) makes the second wait for the first instead of
training it twice; the time it waited is recorded apart from the time it worked. A job still running
after 570 s is stopped: notebook 16 keeps each method's result, and a later job that lists it again
resumes at the first method it had not finished.

    python -m sdfnets.sequence --wave 1            # data rebuild from the pack, then wave 1's jobs
    python -m sdfnets.sequence --wave 2            # ... and so on; --wave all runs every wave
    python -m sdfnets.sequence --job deepsdf       # one job

Each job writes ``build/sequence/<job>.json`` (every notebook's seconds, status and drift, the
time spent waiting, the device, the commit); ``--out`` gathers them into one file with the totals
per notebook (the committed ``bench/results/figures_full-gpu.json`` was assembled from such records).
Two notebooks are not GPU jobs: ``01`` converts models from Debian's ``sweethome3d-furniture`` package (it needs the package mirror, no GPU) and ``13``
trains nothing (it reads the values of 07-12); both run anywhere with ``make figures SCALE=full
ONLY=01,13``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths


@dataclass(frozen=True)
class Job:
    name: str
    wave: int
    notebooks: tuple[str, ...]
    why: str  # what it carries forward or needs
    resumes: bool = False  # continues notebooks an earlier job left at the time limit (their results are kept)


# Measured on H100s (bench/results/figures_full-gpu.json, seconds of one GPU): 00 + 11 ~450, 02-06 516, 15 ~500,
# 16 ~970 (refinement and best-of for 72 + 36 shapes: two jobs), 07 487, 08 262 + 14 218, 09 400, 10 400, 12 ~250.
JOBS: tuple[Job, ...] = (
    Job("weight-space", 1, ("02", "03", "04", "05", "06"),
        "anchors, the per-shape ReLU+PE and SIREN weight datasets every weight-space phase reads"),
    Job("deepsdf", 1, ("00", "11"), "phase 11's decoder and latents (read by 12)"),
    Job("generalisation", 1, ("16",), "the committed release only; its methods are kept one by one"),
    Job("scaling", 1, ("15",), "its own six DeepSDF runs and DiTs"),
    Job("single-view", 2, ("07",), "the ReLU+PE and SIREN weight datasets"),
    Job("multiview-and-hypernetwork", 2, ("08", "14"), "the weight dataset"),
    Job("autoencoder", 2, ("10",), "the weight dataset"),
    Job("ablations", 2, ("09",), "the weight dataset; 08's phase-7 model (trained last, so it runs beside 08)"),
    Job("generalisation-resumed", 3, ("16",), "the methods the first job had not reached", resumes=True),
    Job("latent", 3, ("12",), "phase 11's run"),
)
NOT_GPU_JOBS = {"01": "converts models from Debian's sweethome3d-furniture (package mirror, no GPU)",
                "13": "trains nothing: reads the values of 07-12"}
LIMIT_S = 570.0  # a job stops here (its notebook resumes in a later job that lists it again)


def job(name: str) -> Job:
    for j in JOBS:
        if j.name == name:
            return j
    raise ValueError(f"unknown job {name!r}; one of {', '.join(j.name for j in JOBS)}")


def waves() -> list[int]:
    return sorted({j.wave for j in JOBS})


def result_path(name: str) -> Path:
    return paths.build_dir() / "sequence" / f"{name}.json"


def run_job(name: str, scale: str = "full") -> dict:
    """Run one job's notebooks (``--force``, script engine) in this process; record and return its times."""
    import torch

    from . import runs
    from .figures import device_name, git_commit
    from .notebooks import run_all

    j = job(name)
    waited0, t0, started = runs.WAITED["seconds"], time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S")
    results = run_all(scale, ",".join(j.notebooks), force=True, echo=lambda s: print(s, flush=True), engine="script")
    seconds = time.perf_counter() - t0
    record = {"job": j.name, "wave": j.wave, "scale": scale, "started": started, "seconds": round(seconds, 1),
              "waited_seconds": round(runs.WAITED["seconds"] - waited0, 1),
              "notebooks": [{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 1),
                             "drifted": r.drifted, **({"error": r.error} if r.error else {})} for r in results],
              "device": device_name(), "gpus_visible": torch.cuda.device_count(), "commit": git_commit()}
    out = result_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def rebuild(workers: int | None = None, scale: str = "full") -> dict:
    """The full-scale dataset from the committed pack (what every job reads), timed."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sdfnets.cli", "data", "build", "--from-pack", "--scale", scale,
                    "--workers", str(workers or os.cpu_count())], check=True)
    record = {"job": "data rebuild", "wave": 1, "seconds": round(time.perf_counter() - t0, 1),
              "workers": workers or os.cpu_count()}
    result_path("data-rebuild").parent.mkdir(parents=True, exist_ok=True)
    result_path("data-rebuild").write_text(json.dumps(record, indent=1) + "\n")
    return record


def core_share(lane: int, lanes: int, cores: list[int] | None = None) -> list[int]:
    """The CPU cores of one of ``lanes`` jobs running side by side: a disjoint slice of this process's cores
    (every core when fewer cores than lanes). Each job's worker pools size themselves by their affinity
    (:func:`sdfnets.metrics.default_workers`), so without it every job would start a worker per core of the
    node and the jobs' CPU work (marching cubes, metrics, rendering) would crowd each other out."""
    cores = sorted(os.sched_getaffinity(0)) if cores is None else sorted(cores)
    per = len(cores) // max(1, lanes)
    return cores if per == 0 else cores[lane * per:(lane + 1) * per]


def run_wave(wave: int, gpus: int, log_dir: Path, scale: str = "full", limit_s: float = LIMIT_S) -> list[int]:
    """Run the wave's jobs, each in its own process on one GPU and its own share of the cores
    (:func:`core_share`), ``gpus`` at a time; a job still running after ``limit_s`` is stopped (and
    recorded so). Returns the exit codes."""
    todo = [j for j in JOBS if j.wave == wave]
    lanes = max(1, min(gpus, len(todo)))
    threads = str(len(core_share(0, lanes)))
    running: dict[int, tuple[Job, subprocess.Popen, object, float]] = {}
    codes, stopped = [], set()
    log_dir.mkdir(parents=True, exist_ok=True)
    while todo or running:
        for g in range(gpus):
            if g not in running and todo:
                j = todo.pop(0)
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(g), "OMP_NUM_THREADS": threads,
                       "MKL_NUM_THREADS": threads}
                log = open(log_dir / f"{j.name}.log", "w")
                print(f"[wave {wave}] {j.name} ({', '.join(j.notebooks)}) on GPU {g}", flush=True)
                share = core_share(g % lanes, lanes)
                proc = subprocess.Popen([sys.executable, "-m", "sdfnets.sequence", "--job", j.name, "--scale", scale],
                                        env=env, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=lambda share=share: os.sched_setaffinity(0, share))
                running[g] = (j, proc, log, time.perf_counter())
        time.sleep(1)
        for g, (j, proc, log, t0) in list(running.items()):
            if proc.poll() is None and time.perf_counter() - t0 > limit_s:
                proc.terminate()
                proc.wait()
                stopped.add(j.name)
                result_path(j.name).write_text(json.dumps({"job": j.name, "wave": j.wave, "scale": scale,
                                                           "seconds": round(time.perf_counter() - t0, 1),
                                                           "stopped_at_limit": True}, indent=1) + "\n")
                print(f"[wave {wave}] {j.name} stopped at the {limit_s:.0f} s limit", flush=True)
            if proc.poll() is not None:
                log.close()
                codes.append(0 if j.name in stopped else proc.returncode)
                del running[g]
    return codes


def gather(out: Path) -> dict:
    """Every recorded job of this machine's ``build/sequence/`` in one file, with the totals."""
    records = [json.loads(result_path(n).read_text()) for n in ["data-rebuild", *(j.name for j in JOBS)]
               if result_path(n).exists()]
    jobs = [r for r in records if r["job"] != "data rebuild"]
    by_notebook: dict[str, float] = {}
    for r in jobs:
        for n in r.get("notebooks", []):
            by_notebook[n["notebook"][:2]] = round(by_notebook.get(n["notebook"][:2], 0.0) + n["seconds"], 1)
    gpu_seconds = round(sum(r["seconds"] for r in records), 1)
    summary = {"what": "the notebooks as GPU jobs, one GPU per job (the jobs of a wave side by side on one node)",
               "jobs": records,
               "by_notebook": {k: {"seconds": v} for k, v in sorted(by_notebook.items())},
               "gpu_seconds": gpu_seconds, "gpu_minutes": round(gpu_seconds / 60, 1),
               "gpu_seconds_working": round(sum(r["seconds"] - r.get("waited_seconds", 0) for r in records), 1),
               "longest_job_seconds": max((r["seconds"] for r in jobs), default=0.0),
               "not_gpu_jobs": NOT_GPU_JOBS}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wave", help="a wave number, or 'all'")
    ap.add_argument("--job", help="one job by name")
    ap.add_argument("--gpus", type=int, default=None, help="GPUs to spread a wave over (default: all visible)")
    ap.add_argument("--limit", type=float, default=LIMIT_S, help="seconds after which a job is stopped")
    ap.add_argument("--no-rebuild", action="store_true", help="wave 1 without rebuilding the data first")
    ap.add_argument("--scale", default="full", help="full (what the jobs are sized for); smoke to try the machinery")
    ap.add_argument("--out", type=Path, default=None, help="gather every recorded job into this JSON file")
    args = ap.parse_args(argv)
    if args.job:
        record = run_job(args.job, args.scale)
        return 1 if any(n["status"] == "failed" for n in record["notebooks"]) else 0
    codes = []
    if args.wave:
        import torch

        gpus = args.gpus or max(1, torch.cuda.device_count())
        chosen = waves() if args.wave == "all" else [int(args.wave)]
        for w in chosen:
            if w not in waves():
                ap.error(f"no wave {w}; waves {waves()}")
            if w == 1 and not args.no_rebuild:
                print(f"data rebuild: {rebuild(scale=args.scale)['seconds']} s", flush=True)
            codes += run_wave(w, gpus, paths.build_dir() / "sequence" / "logs", args.scale, args.limit)
    if args.out:
        s = gather(args.out)
        print(f"{len(s['jobs'])} records, {s['gpu_seconds']:.0f} GPU-seconds ({s['gpu_seconds_working']:.0f} working), "
              f"longest job {s['longest_job_seconds']:.0f} s -> {args.out}")
    return 1 if any(codes) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
