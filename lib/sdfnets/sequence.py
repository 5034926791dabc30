"""Every notebook at ``full`` as a sequence of GPU jobs of at most 10 minutes each.

The jobs come in waves. A job's notebooks run one after another in one process; the jobs of a wave
need nothing from each other, only the runs of earlier waves under ``checkpoints/runs/`` (load-or-train
by resolved config), so the jobs of a wave run side by side: on each GPU up to ``--per-gpu`` jobs at
once (default 2: one job's CPU work, marching cubes and metrics, overlaps the other's GPU work), each
pinned to its share of that GPU's cores (:func:`gpu_cores`), placed longest first onto the GPU with a
free slot and the least work (:func:`place`); a slot the wave leaves free takes a later wave's job as
soon as the notebooks it reads have finished (:func:`ready_ahead`). Where two jobs ask for the same run (09
needs 08's phase-7 model), the run folder's lock (:func:`sdfnets.runs.exclusive`) makes the second
wait for the first instead of training it twice; the time it waited is recorded apart.

A job still running at the limit (570 s, or ``--until`` seconds after the command started) is
stopped (with the others at the limit, at once: :func:`_stop`; a sequence that is itself stopped or killed
takes its jobs with it), and the next wave runs it again (a job with a failed notebook too) from the first notebook it
had not finished: every notebook loads the runs it finished (load-or-train, checkpoints), 15 keeps each corpus size and 16 each method.

    python -m sdfnets.sequence --wave 1            # data rebuild from the pack, then wave 1's jobs
    python -m sdfnets.sequence --wave 2            # what wave 1 left, then wave 2; --wave 3: what is left
    python -m sdfnets.sequence --wave next         # the wave after the last one this machine recorded
    python -m sdfnets.sequence --job deepsdf       # one job in this process

Each job writes ``build/sequence/records/<job>.wave<N>.json`` as it goes (every notebook's seconds,
status, drift and slowest cells; a stopped one's too, in ``stopped_in``, with the cell it was stopped in,
inside a training loop or not), its GPU and cores, start and end, the time spent waiting, the device, the commit);
``--out`` gathers them into one file: GPU-seconds are each GPU's occupied time (two jobs side by side
on one GPU count once), plus the data rebuild, with the totals per notebook (the committed
``bench/results/figures_full-gpu.json``, the whole sequence at f091519, was assembled from such records). Two notebooks are not GPU
jobs: ``01`` converts models from Debian's ``sweethome3d-furniture`` package (it needs the package
mirror, no GPU) and ``13`` trains nothing (it reads the values of 07-12); both run anywhere with
``make figures SCALE=full ONLY=01,13``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .io import atomic_write_text


@dataclass(frozen=True)
class Job:
    name: str
    wave: int
    notebooks: tuple[str, ...]
    why: str  # what it carries forward or needs
    seconds: float  # for placing it: its time at 7b7d265, one job per H100 (bench/results/figures_full_7b7d265-gpu.json; 00 estimated)
    beside: str | None = None  # share this job's GPU (when both run in one wave)
    needs: tuple[str, ...] = ()  # notebooks of other jobs whose runs it reads: it may start once they have finished


# A wave's jobs go longest first onto the GPU with a free slot and the least work (:func:`place`); in wave 1,
# 00 (no GPU work) rides beside 16 and 15 beside 02-06, and 11 keeps a GPU to itself (12 needs it in wave 2).
JOBS: tuple[Job, ...] = (
    # 16: its whole job at d865395 on 16 cores (bench/results/figures_full_h100-gpu.json), the oracle then on the CPU
    Job("generalisation", 1, ("16",), "the committed release only; its methods are kept one by one", 235.0),
    Job("weight-space", 1, ("02", "03", "04", "05", "06"),
        "anchors, the per-shape ReLU+PE and SIREN weight datasets every weight-space phase reads", 474.0),
    Job("deepsdf", 1, ("11",), "phase 11's decoder and latents (read by 12)", 386.0),
    Job("data-foundation", 1, ("00",), "the data only (no GPU work)", 90.0, beside="generalisation"),
    Job("scaling", 1, ("15",), "its own six DeepSDF runs and DiTs, kept per corpus size", 470.0, beside="weight-space"),
    Job("single-view", 2, ("07",), "the ReLU+PE and SIREN weight datasets", 487.0, needs=("04",)),
    Job("multiview", 2, ("08",), "the weight dataset", 262.0, needs=("04",)),
    Job("hypernetwork", 2, ("14",), "the weight dataset", 218.0, needs=("04",)),
    Job("ablations", 2, ("09",), "the weight dataset; 08's phase-7 model (trained last, so it runs beside 08)", 400.0,
        needs=("04",)),
    Job("autoencoder", 2, ("10",), "the weight dataset", 400.0, needs=("04",)),
    Job("latent", 2, ("12",), "phase 11's run", 246.0, needs=("11",)),
)
NOT_GPU_JOBS = {"01": "converts models from Debian's sweethome3d-furniture (package mirror, no GPU)",
                "13": "trains nothing: reads the values of 07-12"}
LIMIT_S = 570.0  # a job stops here (the next wave runs it again from its first unfinished notebook)
AHEAD_S = 120.0  # a later wave's job starts early only with this long left before the deadline (it loads data first)
DONE = ("ran", "fresh")  # a notebook in these states is not run again when its job resumes


def job(name: str) -> Job:
    for j in JOBS:
        if j.name == name:
            return j
    raise ValueError(f"unknown job {name!r}; one of {', '.join(j.name for j in JOBS)}")


def waves() -> list[int]:
    return sorted({j.wave for j in JOBS})


def records_dir() -> Path:
    return paths.build_dir() / "sequence" / "records"


def record_path(name: str, wave: int) -> Path:
    return records_dir() / f"{name}.wave{wave}.json"


def records() -> list[dict]:
    """Every record of this machine's ``build/sequence/records/``, by wave and start."""
    rs = [json.loads(p.read_text()) for p in sorted(records_dir().glob("*.json"))] if records_dir().exists() else []
    return sorted(rs, key=lambda r: (r.get("wave", 0), r.get("start_epoch", 0.0)))


def finished(name: str, rs: list[dict] | None = None) -> set[str]:
    """The notebooks of job ``name`` that some record of it (of ``rs``, default :func:`records`) shows done."""
    return {n["notebook"][:2] for r in (records() if rs is None else rs) if r["job"] == name
            for n in r.get("notebooks", []) if n["status"] in DONE}


def left_over(before_wave: int) -> list[Job]:
    """Jobs of earlier waves that started (a record shows them stopped, or a notebook of theirs failed) and
    that no record shows complete: the next wave runs them again from their first unfinished notebook."""
    rs = records()
    return [j for j in JOBS if j.wave < before_wave and any(r["job"] == j.name for r in rs)
            and set(j.notebooks) - finished(j.name, rs)]


def next_wave(rs: list[dict] | None = None) -> int | None:
    """The wave this machine's records (of ``rs``, default :func:`records`) call for next: 1 where there are
    none (a fresh node keeps nothing: the data rebuild and wave 1), else the one after the last recorded;
    None when every job's notebooks are finished. So the same command, ``--wave next``, carries a sequence
    on from wherever the node is, and starts it over on a node that lost it instead of running later waves
    without the runs they read."""
    rs = records() if rs is None else rs
    if rs and all(set(j.notebooks) <= finished(j.name, rs) for j in JOBS):
        return None
    last = max((r.get("wave", 0) for r in rs), default=0)
    unrecorded = [j.wave for j in JOBS if j.wave <= last and not any(r["job"] == j.name for r in rs)]
    return min(unrecorded) if unrecorded else last + 1  # a wave whose command ended before its jobs began


def ready_ahead(wave: int, rs: list[dict], started: set[str]) -> list[Job]:
    """Jobs of waves after ``wave`` that may start now: the notebooks they need are finished (per ``rs``),
    they have notebooks left, and they are not among ``started``; longest first. A GPU slot that its wave
    leaves free takes one, so the sequence runs as a queue in the order its runs allow, not wave by wave."""
    done = {nb for j in JOBS for nb in finished(j.name, rs)}
    ready = [j for j in JOBS if j.wave > wave and j.name not in started and set(j.needs) <= done
             and set(j.notebooks) - done]
    return sorted(ready, key=lambda j: remaining_seconds(j, rs), reverse=True)


def _write(path: Path, rec: dict) -> None:
    """Write a record whole or not at all (a job may be stopped while it writes)."""
    atomic_write_text(path, json.dumps(rec, indent=1) + "\n")


def run_job(name: str, scale: str = "full", record: Path | None = None) -> dict:
    """Run one job's notebooks not yet finished (``--force``, script engine) in this process, one after
    another, rewriting its record after each; return the record."""
    import torch

    from . import runs
    from .figures import device_name, git_commit
    from .notebooks import run_all

    j = job(name)
    record = record or record_path(name, j.wave)
    done = finished(name)
    todo = [nb for nb in j.notebooks if nb not in done]
    waited0, t0 = runs.WAITED["seconds"], time.perf_counter()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    rec = {"job": j.name, "wave": j.wave, "scale": scale, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "skipped_done": sorted(set(j.notebooks) - set(todo)), "notebooks": [],
           "device": device_name(), "gpus_visible": torch.cuda.device_count(), "commit": git_commit(),
           **({"gpu": int(visible)} if visible.isdigit() else {}), "start_epoch": time.time()}

    def save():  # GPU, start and end in the job's own record: it counts even if the sequence died before it
        rec.update(seconds=round(time.perf_counter() - t0, 1), waited_seconds=round(runs.WAITED["seconds"] - waited0, 1),
                   end_epoch=time.time())
        _write(record, rec)

    save()  # a job stopped in its first notebook still has a record
    runs.save_on_stop()  # stopped at the limit (SIGTERM), a training in progress keeps its steps
    for nb in todo:
        try:
            results = run_all(scale, nb, force=True, echo=lambda s: print(s, flush=True), engine="script")
        except runs.Stopped as stop:
            print(f"stopped: {stop}", flush=True)
            rec["stopped_in"] = {"notebook": nb, "training": str(stop),  # or "stopped outside a training loop"
                                 **({"cell": stop.stopped_cell} if getattr(stop, "stopped_cell", None) else {}),
                                 "slowest_cells": getattr(stop, "slowest_cells", [])}
            save()
            raise SystemExit(128 + signal.SIGTERM) from None
        for r in results:
            rec["notebooks"].append({"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 1),
                                     "drifted": r.drifted, **({"error": r.error} if r.error else {}),
                                     **({"slowest_cells": r.cells} if r.cells else {})})
        save()
    return rec


def rebuild(workers: int | None = None, scale: str = "full") -> dict:
    """The full-scale dataset from the committed pack (what every job reads), timed."""
    t0, e0 = time.perf_counter(), time.time()
    subprocess.run([sys.executable, "-m", "sdfnets.cli", "data", "build", "--from-pack", "--scale", scale,
                    "--workers", str(workers or os.cpu_count())], check=True)
    rec = {"job": "data rebuild", "wave": 1, "seconds": round(time.perf_counter() - t0, 1),
           "workers": workers or os.cpu_count(), "start_epoch": e0, "end_epoch": time.time()}
    _write(records_dir() / "data-rebuild.json", rec)
    return rec


def core_share(lane: int, lanes: int, cores: list[int] | None = None) -> list[int]:
    """The CPU cores of one of ``lanes`` jobs running side by side: a disjoint slice of this process's cores
    (every core when fewer cores than lanes). Each job's worker pools size themselves by their affinity
    (:func:`sdfnets.metrics.default_workers`), so without it every job would start a worker per core of the
    node and the jobs' CPU work (marching cubes, metrics, rendering) would crowd each other out."""
    cores = sorted(os.sched_getaffinity(0)) if cores is None else sorted(cores)
    per = len(cores) // max(1, lanes)
    return cores if per == 0 else cores[lane * per:(lane + 1) * per]


def remaining_seconds(j: Job, rs: list[dict] | None = None) -> float:
    """What a job still needs, for placing it: its measured time, less half the time it ran before it was
    stopped (a job beside another runs slower than alone), at least a quarter of it (restarting costs too)."""
    spent = sum(r["seconds"] for r in (records() if rs is None else rs) if r["job"] == j.name)
    return max(j.seconds / 4, j.seconds - spent / 2)


def place(jobs: list[Job], gpus: int, per_gpu: int, seconds=remaining_seconds) -> list[list[Job]]:
    """The jobs of each GPU, in the order they start. As many GPUs as the jobs fill at ``per_gpu`` each;
    longest first (``seconds(job)``), each onto the GPU with a free slot and the least work so far (when
    every slot is taken, it queues behind the GPU with the least work); a job with a ``beside`` partner in
    the same list goes onto its partner's GPU."""
    names = {j.name for j in jobs}
    riders = [j for j in jobs if j.beside in names]
    used = max(1, min(gpus, -(-len(jobs) // max(1, per_gpu))))
    out: list[list[Job]] = [[] for _ in range(used)]
    load = [0.0] * used
    for j in sorted((j for j in jobs if j not in riders), key=seconds, reverse=True):
        g = min(range(used), key=lambda g: (len(out[g]) >= per_gpu, load[g], g))
        out[g].append(j)
        load[g] += seconds(j)
    for j in riders:
        g = next(g for g in range(used) if any(k.name == j.beside for k in out[g]))
        out[g].append(j)
        load[g] += seconds(j)
    return out


def wave_jobs(wave: int) -> list[Job]:
    """What wave ``wave`` runs: what earlier waves left (:func:`left_over`), then its own jobs not finished yet."""
    rs = records()
    return [j for j in left_over(wave) + [j for j in JOBS if j.wave == wave] if set(j.notebooks) - finished(j.name, rs)]


def plan_text(wave: int, gpus: int, per_gpu: int) -> str:
    """Where wave ``wave``'s jobs (:func:`wave_jobs`) would run, as lines of text."""
    todo = wave_jobs(wave)
    lines = [f"wave {wave}: {len(todo)} jobs on {gpus} GPUs, up to {per_gpu} at once on one; free slots take later "
             "waves' jobs as the runs they read are finished"]
    for g, js in enumerate(place(todo, gpus, per_gpu)):
        lines.append(f"  GPU {g}: " + " | ".join(f"{j.name} ({', '.join(j.notebooks)}) ~{remaining_seconds(j):.0f} s"
                                                for j in js))
    return "\n".join(lines)


def gpu_cores(gpu: int, slot: int, jobs_here: int, gpus: int, per_gpu: int, cores: list[int] | None = None) -> list[int]:
    """A job's cores: its GPU's share of the node (cores / GPUs), split among the ``jobs_here`` that run at once
    there (at most ``per_gpu``); ``slot`` is the job's place among them."""
    share = core_share(gpu, gpus, cores)
    lanes = max(1, min(per_gpu, jobs_here))
    return core_share(min(slot, lanes - 1), lanes, share)


def pin(pid: int, cores: list[int]) -> None:
    """Move a running job onto ``cores``: every thread of every process in its process group (a job leads
    its own group, so its worker pools move with it; pools it starts later inherit the cores)."""
    for proc_dir in Path("/proc").iterdir():
        try:
            if not proc_dir.name.isdigit() or os.getpgid(int(proc_dir.name)) != pid:
                continue
            tasks = [int(t.name) for t in (proc_dir / "task").iterdir()]
        except OSError:  # a process that ended meanwhile
            continue
        for task in tasks:
            try:
                os.sched_setaffinity(task, cores)
            except OSError:  # a thread that ended meanwhile
                pass


STOP_GRACE_S = 30.0  # how long stopped jobs get, together, to save their trainings before SIGKILL


def _stop(procs: list[subprocess.Popen], grace: float = STOP_GRACE_S) -> None:
    """Stop jobs and every process each started (a job leads its own process group): SIGTERM to all of them
    at once (a training in progress saves first, :func:`sdfnets.runs.save_on_stop`), then SIGKILL what is
    still running ``grace`` seconds later. At once, not one after another: eight jobs at the limit would
    otherwise take up to eight graces, past the end of the command."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:  # pragma: no cover - already gone
            pass
    end = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:  # a job that does not stop in time
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - ended meanwhile
                pass
            proc.wait()


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: a forked child should only call it


def _start_job_process(cores: list[int]) -> None:
    """In a job's process before it runs: pin it to its cores, and have the kernel send it SIGTERM if the
    sequence dies (even by SIGKILL), so no job outlives the command that started it."""
    os.sched_setaffinity(0, cores)
    _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)


def run_wave(wave: int, gpus: int, log_dir: Path, scale: str = "full", limit_s: float = LIMIT_S,
             per_gpu: int = 2, deadline: float | None = None, ahead: bool = True) -> list[int]:
    """Run the wave's jobs (:func:`wave_jobs`: what earlier waves left, then its own not finished yet), each in its
    own process on one GPU and its share of the cores (:func:`place`, :func:`gpu_cores`); a slot the wave
    leaves free takes a later wave's job whose runs are ready (:func:`ready_ahead`, with ``ahead``, while
    :data:`AHEAD_S` are left). A job still running after ``limit_s``, or at ``deadline`` (a ``time.time()``),
    is stopped and recorded so (one not started by then is recorded as such, for the next wave); a job
    alone on its GPU gets that GPU's whole share of the cores, and shares them with the jobs that join it (a slice each)
    (:func:`pin`). Returns the exit codes."""
    todo = wave_jobs(wave)
    plan = place(todo, gpus, per_gpu) if todo else []
    queues = {g: list(plan[g]) if g < len(plan) else [] for g in range(gpus)}
    running: dict[tuple[int, int], tuple[Job, subprocess.Popen, object, float, dict]] = {}
    started: set[str] = {j.name for j in todo}
    codes: list[int] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    records_dir().mkdir(parents=True, exist_ok=True)

    def start(g: int, slot: int, j: Job, early: bool) -> None:
        here = sorted([k[1] for k in running if k[0] == g] + [slot])  # this GPU's jobs once this one runs
        cores = gpu_cores(g, here.index(slot), len(here) + len(queues[g]), gpus, per_gpu)
        path = record_path(j.name, wave)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(g), "OMP_NUM_THREADS": str(len(cores)),
               "MKL_NUM_THREADS": str(len(cores))}
        log = open(log_dir / f"{j.name}.wave{wave}.log", "w")
        print(f"[wave {wave}] {j.name} ({', '.join(j.notebooks)}) on GPU {g} with {len(cores)} cores"
              + (f" (of wave {j.wave}, its runs ready)" if early else ""), flush=True)
        proc = subprocess.Popen([sys.executable, "-m", "sdfnets.sequence", "--job", j.name, "--scale", scale,
                                 "--record", str(path)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=lambda c=cores: _start_job_process(c))
        meta = {"gpu": g, "cores": len(cores), "now_cores": cores, "start_epoch": time.time(), "path": path,
                **({"ahead_of_wave": j.wave} if early else {})}
        running[(g, slot)] = (j, proc, log, time.perf_counter(), meta)
        started.add(j.name)

    def fit_cores(g: int) -> None:  # one job on a GPU: the GPU's whole share; n: a slice each, by slot
        here = sorted(k for k in running if k[0] == g)
        for i, k in enumerate(here):
            cores = gpu_cores(g, i, len(here), gpus, per_gpu)
            j, proc, _, _, meta = running[k]
            if meta["now_cores"] != cores:
                pin(proc.pid, cores)
                meta["now_cores"] = cores
                print(f"[wave {wave}] {j.name} on GPU {g} now on {len(cores)} cores", flush=True)

    def finish(key: tuple[int, int], stopped: bool) -> None:  # an ended job: its record completed
        j, proc, log, t0, meta = running.pop(key)
        log.close()
        path = meta.pop("path")
        meta.pop("now_cores")
        rec = json.loads(path.read_text()) if path.exists() else {"job": j.name, "wave": wave, "notebooks": []}
        rec |= {"wave": wave, **meta, "end_epoch": time.time(), "seconds": round(time.perf_counter() - t0, 1),
                "stopped_at_limit": stopped}
        _write(path, rec)
        codes.append(0 if stopped else proc.returncode)

    def run_queues() -> None:  # start, move and stop the jobs until the wave's queues are done
        while True:
            if deadline is not None and time.time() > deadline:  # too late to start more: the next wave runs them
                for queue in queues.values():
                    while queue:
                        j = queue.pop(0)
                        _write(record_path(j.name, wave), {"job": j.name, "wave": wave, "notebooks": [], "seconds": 0.0,
                                                           "stopped_at_limit": True, "not_started": True})
                        print(f"[wave {wave}] {j.name} not started: past the deadline", flush=True)
            for g, queue in queues.items():
                free = [s for s in range(per_gpu) if (g, s) not in running]
                while queue and free:
                    start(g, free.pop(0), queue.pop(0), early=False)
            if ahead and (deadline is None or deadline - time.time() > AHEAD_S):
                rs = records()
                for g in sorted(queues, key=lambda g: sum(k[0] == g for k in running)):
                    free = [s for s in range(per_gpu) if (g, s) not in running]
                    ready = ready_ahead(wave, rs, started) if free and not queues[g] else []
                    if ready:
                        start(g, free[0], ready[0], early=True)
            if not running and not any(queues.values()):
                return
            for g in queues:
                fit_cores(g)
            time.sleep(1)
            late = [key for key, (_, proc, _, t0, _) in running.items() if proc.poll() is None and (
                time.perf_counter() - t0 > limit_s or (deadline is not None and time.time() > deadline))]
            if late:
                _stop([running[key][1] for key in late])
                for key in late:
                    print(f"[wave {wave}] {running[key][0].name} stopped at the limit", flush=True)
            for key in [key for key, r in running.items() if r[1].poll() is not None]:
                finish(key, stopped=key in late)

    try:
        run_queues()
    finally:  # interrupted (SIGTERM to the sequence, Ctrl-C, an error): no job outlives it, each is recorded
        if running:
            _stop([r[1] for r in running.values()])
            for key in list(running):
                print(f"[wave {wave}] {running[key][0].name} stopped with the sequence", flush=True)
                finish(key, stopped=True)
    return codes


def occupied_seconds(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of ``[start, end]`` intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def gather(out: Path) -> dict:
    """Every record of this machine in one file, with the totals: GPU-seconds are each GPU's occupied
    time (the union of its jobs' spans: jobs side by side on one GPU count once) plus the data rebuild."""
    rs = records()
    jobs = [r for r in rs if r["job"] != "data rebuild"]
    by_notebook: dict[str, float] = {}
    for r in jobs:
        for n in r.get("notebooks", []):
            by_notebook[n["notebook"][:2]] = round(by_notebook.get(n["notebook"][:2], 0.0) + n["seconds"], 1)
    per_gpu = {}
    for g in sorted({r["gpu"] for r in jobs if "gpu" in r}):
        per_gpu[str(g)] = round(occupied_seconds([(r["start_epoch"], r["end_epoch"]) for r in jobs
                                                  if r.get("gpu") == g]), 1)
    rebuild_s = sum(r["seconds"] for r in rs if r["job"] == "data rebuild")
    alone = sum(r["seconds"] for r in jobs if "gpu" not in r)  # a job run by itself (--job): its own time
    gpu_seconds = round(sum(per_gpu.values()) + rebuild_s + alone, 1)
    summary = {"what": "the notebooks as GPU jobs, the jobs of a wave side by side on one node (up to --per-gpu on "
                       "one GPU); gpu_seconds: each GPU's occupied time plus the data rebuild",
               "jobs": rs,
               "by_notebook": {k: {"seconds": v} for k, v in sorted(by_notebook.items())},
               "gpu_occupied_seconds": per_gpu, "job_seconds": round(sum(r["seconds"] for r in jobs), 1),
               "gpu_seconds": gpu_seconds, "gpu_minutes": round(gpu_seconds / 60, 1),
               "waited_seconds": round(sum(r.get("waited_seconds", 0) for r in jobs), 1),
               "longest_job_seconds": max((r["seconds"] for r in jobs), default=0.0),
               "not_gpu_jobs": NOT_GPU_JOBS}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wave", help="a wave number, 'next' (where this machine's records end: 1 on a fresh node), "
                                   "or 'all'")
    ap.add_argument("--job", help="one job by name")
    ap.add_argument("--record", type=Path, default=None, help=argparse.SUPPRESS)  # where --job writes its record
    ap.add_argument("--gpus", type=int, default=None, help="GPUs to spread a wave over (default: all visible)")
    ap.add_argument("--per-gpu", type=int, default=2, help="jobs at once on one GPU (default 2)")
    ap.add_argument("--limit", type=float, default=LIMIT_S, help="seconds after which a job is stopped")
    ap.add_argument("--until", type=float, default=None,
                    help="seconds after this command started at which every job still running is stopped")
    ap.add_argument("--no-rebuild", action="store_true", help="wave 1 without rebuilding the data first")
    ap.add_argument("--scale", default="full", help="full (what the jobs are sized for); smoke to try the machinery")
    ap.add_argument("--out", type=Path, default=None, help="gather every recorded job into this JSON file")
    ap.add_argument("--plan", action="store_true", help="print where the wave's jobs would run, and run nothing")
    args = ap.parse_args(argv)
    deadline = time.time() + args.until if args.until else None
    if args.wave and not args.plan:  # SIGTERM ends a wave like Ctrl-C: its jobs are stopped and recorded first
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.job:
        record = run_job(args.job, args.scale, args.record)
        return 1 if any(n["status"] == "failed" for n in record["notebooks"]) else 0
    codes = []
    if args.wave:
        import torch

        gpus = args.gpus or max(1, torch.cuda.device_count())
        if args.wave == "next":
            w = next_wave()
            chosen = [] if w is None else [w]
            print(f"next on this machine: wave {w}" if w else "every job's notebooks are finished on this machine",
                  flush=True)
        else:
            chosen = list(range(1, max(waves()) + 2)) if args.wave == "all" else [int(args.wave)]
            if chosen[0] > max(waves()) + 1 or chosen[0] < 1:
                ap.error(f"no wave {chosen[0]}; waves {waves()} (and {max(waves()) + 1} for what they leave)")
            if chosen[0] > 1 and not args.plan and not any(r.get("wave", 0) < chosen[0] for r in records()):
                ap.error(f"no record of an earlier wave on this machine ({records_dir()}): wave {chosen[0]} would "
                         "run without the runs it reads; --wave next starts where this machine's records end")
        for w in chosen:
            if args.plan:
                print(plan_text(w, gpus, args.per_gpu))
                continue
            if w == 1 and not args.no_rebuild:
                print(f"data rebuild: {rebuild(scale=args.scale)['seconds']} s", flush=True)
            codes += run_wave(w, gpus, paths.build_dir() / "sequence" / "logs", args.scale, args.limit,
                              args.per_gpu, deadline)
    if args.out:
        s = gather(args.out)
        print(f"{len(s['jobs'])} records, {s['gpu_seconds']:.0f} GPU-seconds (jobs {s['job_seconds']:.0f} s, "
              f"waiting {s['waited_seconds']:.0f} s), longest job {s['longest_job_seconds']:.0f} s -> {args.out}")
    return 1 if any(codes) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
