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
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from .. import paths
from ..devices import default_device
from ..io import load_checkpoint, save_checkpoint


def run_key(body: dict) -> str:
    """10 hex digits of the hash of the settings that define a run."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:10]


def data_name(dataset) -> str:
    """A dataset's folder relative to the data root (so that run keys agree across machines), with the hash
    of its shapes' SDF samples (so that a run is not reused after a shape's content changed)."""
    root = Path(dataset.root)
    name = str(root.relative_to(paths.data_dir())) if str(root).startswith(str(paths.data_dir())) else str(root)
    content = getattr(dataset, "content_key", None)
    return f"{name}@{content}" if content else name


class RunMismatch(RuntimeError):
    """A run folder holds a checkpoint of another run."""


def _checked(ck: dict, path: Path) -> dict:
    """``ck`` if it was written by the run of its folder, else :class:`RunMismatch` (a checkpoint copied in
    from another run, or left by another version of the settings, is never taken for this run's)."""
    if ck.get("run") != path.parent.name:
        raise RunMismatch(f"{path}: a checkpoint of run {ck.get('run') or '(unnamed)'}, not of {path.parent.name}; "
                          "remove it to train this run")
    return ck


def run_dir(kind: str, name: str, body: dict) -> Path:
    """``checkpoints/runs/<kind>/<name>-<key of body>/``."""
    return paths.runs_dir() / kind / f"{name}-{run_key(body)}"


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
    run) checkpoints are read but not written."""
    final = last = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        final, last = run_dir / "final.pt", run_dir / "last.pt"
        if final.exists():
            ck = _checked(load_checkpoint(final, default_device(device)), final)
            return Run(run_dir, ck, ck.pop("history"), ck.pop("seconds"), ck["step"], ck["step"],
                       ck.pop("steps_per_second", 0.0))
    tr = make_trainer()
    history, seconds = [], 0.0
    if last is not None and last.exists():
        ck = _checked(load_checkpoint(last, tr.device), last)
        tr.load_state(ck)
        history, seconds = ck["history"], ck["seconds"]
    resumed_from = tr.step
    stop = tr.total if max_steps is None else min(tr.total, max_steps)
    t0 = time.perf_counter()

    def save(path: Path, state: dict, sps: float = 0.0) -> None:
        save_checkpoint(path, **state, **(extra or {}), history=history, seconds=seconds + time.perf_counter() - t0,
                        steps_per_second=sps, run=run_dir.name)

    with tqdm(total=tr.total, initial=tr.step, desc=desc, unit="step", disable=not progress) as bar:
        while tr.step < stop:
            before = tr.step
            tr.run(min(log_every - tr.step % log_every, stop - tr.step))
            value = tr.loss()
            history.append((tr.step, value))
            bar.update(tr.step - before)
            bar.set_postfix(loss=f"{value:.3g}")
            if last is not None and tr.step % checkpoint_every < log_every and tr.step < stop:
                state = tr.state()  # on every rank: gathering a sharded state is a collective
                if write:
                    save(last, state)
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
    return Run(run_dir, {**state, **(extra or {})}, history, seconds + elapsed, tr.step, resumed_from, sps, done)


def update(opt: torch.optim.Optimizer, loss: torch.Tensor, running: "RunningMean | None" = None,
           logged: torch.Tensor | None = None) -> None:
    """One optimiser step on ``loss``; the value to log (``logged``, by default the loss itself) is added
    to ``running`` on the device."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if running is not None:
        running.sum += (loss if logged is None else logged).detach()
        running.count += 1


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
