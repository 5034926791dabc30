"""Load-or-train, for every trainer of the project: one loop, one checkpoint format, one run folder scheme.

A *trainer* is any object with

- ``step`` and ``total``: optimisation steps taken and to take; ``device``;
- ``run(n)``: take ``n`` steps without synchronising with the host;
- ``loss()``: the value to log for the steps since the last call (the one host sync per log interval);
- ``state()`` / ``load_state(state)``: everything a resumed run needs (tensors and plain containers;
  the optimiser's state under ``"optimizer"``).

:func:`load_or_train` gives it a run folder ``checkpoints/runs/<kind>/<name>-<key>/`` whose key is the
hash of the resolved settings that change the result: a finished run (``final.pt``) is loaded, an
interrupted one (``last.pt``, written every ``checkpoint_every`` steps) resumes to the same result
as an uninterrupted run, and every checkpoint carries what the caller adds (the resolved config).
The helpers below are the other pieces every trainer needs: the default device, learning-rate
schedules, and capturing a training step (or any function) as a CUDA graph.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from . import paths
from .io import atomic_write_text, load_checkpoint, save_checkpoint


class Stopped(BaseException):
    """Training was asked to stop (SIGTERM, see :func:`save_on_stop`) and saved ``last.pt`` first. A
    ``BaseException``, like ``KeyboardInterrupt``: a notebook's ``except Exception`` does not swallow it."""


_STOP = threading.Event()  # set by the SIGTERM handler while a training loop runs
_TRAINING = [0]  # training loops running in this process
_STOP_OWNER = [0]  # the process that installed the handler (forked workers inherit it and just end)


def save_on_stop() -> None:
    """Make SIGTERM a graceful stop for this (one-process) job: a :func:`load_or_train` loop in progress
    writes ``last.pt`` at its next log step and raises :class:`Stopped` (one asked on its last steps
    finishes, saves as usual, then raises), so a job stopped at its time limit keeps every step it took,
    not only those up to its last periodic checkpoint, and ends within a log step. Outside a training
    loop :class:`Stopped` is raised where the process is, so the job can still record where it was
    stopped; in a worker process, or at a second SIGTERM, the signal ends the process as before."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return
    _STOP.clear()
    _STOP_OWNER[0] = os.getpid()

    def handler(signum, frame):
        if os.getpid() == _STOP_OWNER[0] and not _STOP.is_set():
            _STOP.set()
            if _TRAINING[0]:
                return  # the loop saves at its next log step, then raises Stopped
            raise Stopped("stopped outside a training loop")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)


def _one_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()
                and torch.distributed.get_world_size() > 1)


def default_device(device=None) -> torch.device:
    """``device`` if given, else the GPU where there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_key(body: dict) -> str:
    """10 hex digits of the hash of the settings that define a run."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:10]


def data_name(dataset) -> str:
    """A dataset's folder relative to the data root (so that run keys agree across machines)."""
    root = Path(dataset.root)
    return str(root.relative_to(paths.data_dir())) if str(root).startswith(str(paths.data_dir())) else str(root)


def run_dir(kind: str, name: str, body: dict) -> Path:
    """``checkpoints/runs/<kind>/<name>-<key of body>/``."""
    return paths.runs_dir() / kind / f"{name}-{run_key(body)}"


_HELD: dict[str, list] = {}  # lock file -> [file descriptor, depth]: the locks this process holds
WAITED = {"seconds": 0.0}  # time this process spent waiting for other processes' locks


@contextmanager
def exclusive(path: Path, *, echo=print):
    """Hold the advisory lock ``<path>.lock`` while a run is trained or a result computed, so that
    processes sharing ``checkpoints/runs`` (several GPUs of one node, each running notebooks) never
    train the same run twice or write over each other's files: the second waits, then loads what the
    first wrote. Re-entrant within a process; a no-op where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    lock = str(path) + ".lock"
    if lock in _HELD:
        _HELD[lock][1] += 1
        try:
            yield
        finally:
            _HELD[lock][1] -= 1
        return
    Path(lock).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(f"waiting for another process working on {path} ...")
            t0 = time.perf_counter()
            fcntl.flock(fd, fcntl.LOCK_EX)
            WAITED["seconds"] += time.perf_counter() - t0
        _HELD[lock] = [fd, 1]
        try:
            yield
        finally:
            del _HELD[lock]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def library_hash() -> str:
    """SHA-256 of the library's source (every ``lib/sdfnets/**/*.py``, names and contents)."""
    h = hashlib.sha256()
    for p in sorted(paths.LIB_DIR.rglob("*.py")):
        h.update(p.relative_to(paths.LIB_DIR).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def cached_result(kind: str, name: str, body: dict, compute: Callable[[], dict]) -> dict:
    """``compute()``'s JSON-able result, kept in ``checkpoints/runs/<kind>/<name>-<key>/result.json``
    and returned from there next time: a long evaluation cut short (a job's time limit) resumes at
    the first result it had not finished. The key includes the library's source (:func:`library_hash`),
    so a result is reused only by the code that computed it."""
    path = run_dir(kind, name, body | {"library": library_hash()}) / "result.json"
    with exclusive(path.parent):
        if path.exists():
            return json.loads(path.read_text())
        result = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(result, default=float))
        return json.loads(path.read_text())


@dataclass
class Run:
    """A finished (or stopped) run: the trainer's last state plus what the loop recorded."""

    run_dir: Path | None
    state: dict  # the trainer's state() (without the optimiser once finished), plus the caller's extras
    history: list = field(default_factory=list)  # (step, logged loss)
    seconds: float = 0.0  # training time, all sessions together
    steps: int = 0
    resumed_from: int = 0  # step this session started from
    steps_per_second: float = 0.0  # this session's
    finished: bool = True


def load_or_train(make_trainer: Callable[[], object], run_dir: Path | None, *, desc: str, log_every: int = 100,
                  checkpoint_every: int = 1000, max_steps: int | None = None, progress: bool = True,
                  extra: dict | None = None, keep_final: bool = True, write: bool = True, device=None) -> Run:
    """Load the finished run in ``run_dir``, or build the trainer (``make_trainer()``, only then) and
    train it, resuming from ``last.pt``. ``extra`` is stored in every checkpoint. ``keep_final=False``
    writes no ``final.pt`` (the caller stores the result its own way) and removes ``last.pt`` when done.
    ``max_steps`` stops early and leaves ``last.pt`` behind, as an interruption would. Without a
    ``run_dir`` nothing is read or written; with ``write=False`` (the other ranks of a distributed
    run) checkpoints are read but not written. The run folder is held (:func:`exclusive`) while it
    is read or trained."""
    with exclusive(run_dir) if run_dir is not None and write else nullcontext():
        final = last = None
        if run_dir is not None:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            final, last = run_dir / "final.pt", run_dir / "last.pt"
            if final.exists():
                ck = load_checkpoint(final, default_device(device))
                return Run(run_dir, ck, ck.pop("history"), ck.pop("seconds"), ck["step"], ck["step"],
                           ck.pop("steps_per_second", 0.0))
        tr = make_trainer()
        history, seconds = [], 0.0
        if last is not None and last.exists():
            ck = load_checkpoint(last, tr.device)
            tr.load_state(ck)
            history, seconds = ck["history"], ck["seconds"]
        resumed_from = tr.step
        stop = tr.total if max_steps is None else min(tr.total, max_steps)
        t0 = time.perf_counter()

        def save(path: Path, state: dict, sps: float = 0.0) -> None:
            save_checkpoint(path, **state, **(extra or {}), history=history, seconds=seconds + time.perf_counter() - t0,
                            steps_per_second=sps)

        _TRAINING[0] += 1
        try:
            with tqdm(total=tr.total, initial=tr.step, desc=desc, unit="step", disable=not progress) as bar:
                while tr.step < stop:
                    before = tr.step
                    tr.run(min(log_every - tr.step % log_every, stop - tr.step))
                    value = tr.loss()
                    history.append((tr.step, value))
                    bar.update(tr.step - before)
                    bar.set_postfix(loss=f"{value:.3g}")
                    if _STOP.is_set() and tr.step < stop and _one_process():  # asked to stop (save_on_stop)
                        if last is not None and write:  # keep every step taken; a finished run saves as usual
                            save(last, tr.state())
                        raise Stopped(f"{desc}: stopped at step {tr.step} of {tr.total}"
                                      + (f", saved to {last}" if last is not None and write else ""))
                    if last is not None and tr.step % checkpoint_every < log_every and tr.step < stop:
                        state = tr.state()  # on every rank: gathering a sharded state is a collective
                        if write:
                            save(last, state)
        finally:
            _TRAINING[0] -= 1
        if tr.device.type == "cuda":
            torch.cuda.synchronize(tr.device)
        elapsed = time.perf_counter() - t0
        sps = (tr.step - resumed_from) / max(elapsed, 1e-9)
        done = tr.step >= tr.total
        state = tr.state()
        if done:
            state.pop("optimizer", None)  # a finished run needs no optimiser state: keeps the file small
        if run_dir is not None and write:
            if not done:
                save(last, state, sps)
            elif keep_final:
                save(final, state, sps)
            if done:
                last.unlink(missing_ok=True)
        if _STOP.is_set() and _one_process():  # asked to stop as the training ended: it is saved, stop here
            raise Stopped(f"{desc}: stopped after its last step ({tr.step} of {tr.total})"
                          + (", saved" if run_dir is not None and write else ""))
        return Run(run_dir, {**state, **(extra or {})}, history, seconds + elapsed, tr.step, resumed_from, sps, done)


class RunningMean:
    """The loss summed on the device step by step (``sum += loss``, no host sync; a captured CUDA
    graph adds in place), read and reset once per log interval."""

    def __init__(self, device):
        self.sum = torch.zeros((), device=device)
        self.count = 0

    def read(self) -> float:
        value = float(self.sum) / max(self.count, 1)
        self.sum.zero_()
        self.count = 0
        return value


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules


def cosine(step: int, total: int, floor: float = 0.05) -> float:
    """Cosine decay from 1 to ``floor`` over ``total`` steps."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / total))


def linear_warmup(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / max(warmup, 1))


def set_lr(opt: torch.optim.Optimizer, lrs) -> None:
    """Set each parameter group's learning rate; in place where it is a tensor (a captured CUDA graph
    reads it from that memory)."""
    for g, lr in zip(opt.param_groups, lrs):
        g["lr"].fill_(lr) if torch.is_tensor(g["lr"]) else g.__setitem__("lr", lr)


def tensor_lrs(opt: torch.optim.Optimizer, device) -> None:
    """Learning rates as device tensors, as a graph-captured ``capturable`` optimiser needs them."""
    for g in opt.param_groups:
        g["lr"] = torch.as_tensor(g["lr"], dtype=torch.float32, device=device)


# ---------------------------------------------------------------------------------------------
# CUDA graphs


def capture_step(step: Callable[[], object], params: list[torch.Tensor], opt: torch.optim.Optimizer, *,
                 keep: tuple[torch.Tensor, ...] = (), warmup: int = 2):
    """Record one training step (forward, backward, optimiser) as a CUDA graph and return
    ``(graph, what step() returned)``. The step must read its inputs from fixed tensors that the
    caller refills before each ``graph.replay()``. Warm-up runs on a side stream, as capture needs;
    afterwards the parameters, the optimiser state and the tensors in ``keep`` (running sums) are put
    back as they were, so the captured run starts where an eager one would."""
    device = params[0].device
    saved = [p.detach().clone() for p in params]
    saved_opt = {p: {k: v.clone() for k, v in st.items()} for p, st in opt.state.items()}
    kept = [t.clone() for t in keep]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    with torch.no_grad():
        for p, v in zip(params, saved):
            p.copy_(v)
        for p, st in opt.state.items():
            for k, v in st.items():
                v.copy_(saved_opt[p][k]) if p in saved_opt else v.zero_()
        for t, v in zip(keep, kept):
            t.copy_(v)
    return graph, out


def graphed_call(cache: dict, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, key=()) -> torch.Tensor:
    """``fn(*inputs)`` replayed as a CUDA graph, captured on the first call for these input shapes
    (and ``key``) and kept in ``cache``. For inference loops of many small kernels (a 50-step DDIM
    sample is ~3,000 launches)."""
    k = (tuple(tuple(x.shape) for x in inputs), key)
    if k not in cache:
        static = [x.clone() for x in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn(*static)  # warm-up before capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = fn(*static)
        cache[k] = (graph, static, out)
    graph, static, out = cache[k]
    for s, x in zip(static, inputs):
        s.copy_(x)
    graph.replay()
    return out.clone()
