"""Run the notebooks headlessly with papermill: the engine behind ``make figures``.

The ``py:percent`` scripts in ``notebooks/`` are the source. Each is converted with jupytext,
executed with ``SCALE`` injected into its ``parameters`` cell, and written to
``build/notebooks/<scale>/``. Each run keeps its slowest cells (seconds and first line of code), so a
notebook's time can be read where it goes. A stamp (hash of the notebook, the library and the scale) makes
an unchanged notebook skip; a failing one is reported with its cell and the run exits non-zero.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..config import SCALES
from . import drift, measured
from .provenance import device_name, git_commit, is_fresh, source_hash, stamp_path


@dataclass
class NotebookResult:
    notebook: str
    status: str  # "ran", "fresh" (skipped: up to date) or "failed"
    seconds: float = 0.0
    error: str = ""
    drifted: int = 0  # recorded values that left their tolerance against the previous values file
    cells: list = field(default_factory=list)  # the slowest code cells (:func:`slowest_cells`)


SLOWEST = 8  # cells kept per notebook


def _first_line(source: str) -> str:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return (lines[0] if lines else "")[:80]


def slowest_cells(timed: list[tuple[int, float, str]], n: int = SLOWEST) -> list[dict]:
    """The ``n`` slowest of ``(cell index, seconds, source)`` as ``{"cell", "seconds", "code"}`` (the
    first line of code), slowest first."""
    top = sorted(timed, key=lambda c: -c[1])[:n]
    return [{"cell": i, "seconds": round(sec, 1), "code": _first_line(src)} for i, sec, src in top]


def list_notebooks(only: str | None = None) -> list[Path]:
    """Notebook sources in thesis order; ``only`` picks by prefix, e.g. "00" or "00,11"."""
    nbs = sorted(p for p in paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
    if only:
        keys = [k.strip() for k in str(only).split(",") if k.strip()]
        nbs = [p for p in nbs if any(p.stem.startswith(k) for k in keys)]
        if not nbs:
            raise ValueError(f"no notebook matches {only!r}")
    return nbs


def to_ipynb(notebook: Path, dest: Path) -> Path:
    import jupytext

    nb = jupytext.read(notebook)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, dest)
    return dest


_HELD: dict[str, list] = {}  # lock file -> [file descriptor, depth]: the locks this process holds


@contextmanager
def exclusive(path: Path, *, echo=print):
    """Hold the advisory lock ``<path>.lock``: two processes asked for the same notebook at the same scale
    (two ``make figures``, or test workers) run it one after the other, and the second finds it fresh,
    instead of writing over the same executed copy and figures. Re-entrant within a process; a no-op
    where ``fcntl`` is missing (Windows)."""
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
            fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD[lock] = [fd, 1]
        try:
            yield
        finally:
            del _HELD[lock]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _ipc_kernel_manager():
    """A kernel manager on local IPC sockets: nothing listens on TCP, and the kernel's warning about
    unencrypted TCP transport (one per notebook) does not apply.

    Each kernel's sockets live in a folder of their own. jupyter_client's default names them
    ``kernel-ipc-1`` ... ``-5`` in the working directory, numbered by which names exist yet, so two
    kernels started at once in one directory (notebooks run side by side, or two test workers) took the
    same sockets: the second kernel's bind took them over, and the first client's requests reached a
    kernel with another key ("Invalid Signature") and were never answered."""
    import os
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return os.path.join(tempfile.mkdtemp(prefix="sdfnets-kernel-"), "ipc")

        def cleanup_ipc_files(self):
            super().cleanup_ipc_files()
            folder = os.path.dirname(self.ip)
            if os.path.basename(folder).startswith("sdfnets-kernel-"):
                shutil.rmtree(folder, ignore_errors=True)

    return IPCKernelManager


def run_notebook(notebook: Path, scale: str, parameters: dict | None = None,
                 cell_seconds: list | None = None) -> Path:
    """Execute with papermill; ``cell_seconds`` (a list) receives ``(cell index, seconds, source)`` of every
    code cell, from the durations papermill writes into the executed copy. The copy is written as
    ``<notebook>.partial.ipynb`` while it runs and takes the executed copy's place only once every cell
    ran: an interrupted or failed run never leaves a half-run copy where a finished one is expected."""
    import nbformat
    import papermill

    out = paths.executed_notebook_path(notebook.stem, scale)
    partial = partial_path(notebook.stem, scale)
    src = to_ipynb(notebook, out.with_name(out.stem + ".input.ipynb"))
    papermill.execute_notebook(str(src), str(partial), parameters={"SCALE": scale, **(parameters or {})},
                               kernel_name="python3", cwd=str(paths.REPO_ROOT), progress_bar=False,
                               log_output=False, kernel_manager_class=_ipc_kernel_manager())
    os.replace(partial, out)
    if cell_seconds is not None:
        for i, cell in enumerate(nbformat.read(out, as_version=4).cells):
            d = cell.metadata.get("papermill", {}).get("duration")
            if cell.cell_type == "code" and d is not None:
                cell_seconds.append((i, float(d), cell.source))
    return out


def partial_path(notebook: str, scale: str) -> Path:
    """Where a notebook's executed copy is written while it runs."""
    return paths.executed_notebook_path(notebook, scale).with_suffix(".partial.ipynb")


class ScriptCellError(RuntimeError):
    def __init__(self, cell_index: int, exc: BaseException):
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.cell_index, self.ename, self.evalue = cell_index, type(exc).__name__, str(exc)


def run_script(notebook: Path, scale: str, parameters: dict | None = None, cell_seconds: list | None = None) -> dict:
    """Execute the notebook's code cells as plain Python in one namespace, the parameters
    injected after the ``parameters`` cell: for machines without a Jupyter kernel (a GPU node).
    Figures and recorded values are the same; cell outputs are not kept. ``cell_seconds`` (a list)
    receives ``(cell index, seconds, source)`` of every code cell that ran."""
    import jupytext

    from .. import thesis

    thesis.FINDINGS.clear()  # a notebook that failed before recording its values leaves none behind
    nb = jupytext.read(notebook)
    ns: dict = {"__name__": "__main__"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        t0 = time.perf_counter()
        try:
            exec(compile(cell.source, f"{notebook.name}[cell {i}]", "exec"), ns)
        except Exception as exc:
            raise ScriptCellError(i, exc) from exc
        finally:
            if cell_seconds is not None:
                cell_seconds.append((i, time.perf_counter() - t0, cell.source))
        if "parameters" in cell.metadata.get("tags", []):
            ns.update({"SCALE": scale, **(parameters or {})})
    return ns


def _run_one(nb: Path, scale: str, force: bool, parameters: dict | None, echo, engine: str,
             failures: tuple[type[Exception], ...]) -> NotebookResult:
    if not force and not parameters and is_fresh(nb, scale):
        echo(f"[fresh]  {nb.stem} ({scale})")
        return NotebookResult(nb.stem, "fresh")
    echo(f"[run]    {nb.stem} ({scale}) ...")
    before = drift.read_values(paths.values_path(nb.stem, scale))
    t0, timed = time.perf_counter(), []
    try:
        if engine == "papermill":
            run_notebook(nb, scale, parameters, timed)
        else:
            run_script(nb, scale, parameters, timed)
    except failures as exc:
        count = getattr(exc, "exec_count", None)
        where = f"cell {exc.cell_index}" + (f" (execution count {count})" if count is not None else "")
        msg = f"{nb.stem}: {where}: {exc.ename}: {exc.evalue}"
        where = partial_path(nb.stem, scale) if engine == "papermill" else paths.executed_notebook_path(nb.stem, scale)
        echo(f"[FAILED] {msg}\n         executed copy: {where}")
        return NotebookResult(nb.stem, "failed", time.perf_counter() - t0, msg)
    secs = time.perf_counter() - t0
    measured.forget(nb.stem, scale)  # finished: a later run measures afresh
    stamp_path(nb.stem, scale).parent.mkdir(parents=True, exist_ok=True)
    stamp_path(nb.stem, scale).write_text(source_hash(nb, scale) + "\n")
    echo(f"[done]   {nb.stem} in {secs:.1f} s")
    drifted = 0
    after = drift.read_values(paths.values_path(nb.stem, scale))
    if before is not None and after is not None and not parameters:
        rows = drift.compare(before, after)
        drifted = sum(not r.ok for r in rows)
        echo(drift.report(nb.stem, rows))
        out = paths.build_dir() / "drift" / scale / f"{nb.stem}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([r.__dict__ for r in rows], indent=1, default=str))
    return NotebookResult(nb.stem, "ran", secs, drifted=drifted, cells=slowest_cells(timed))


def run_all(scale: str = "cpu", only: str | None = None, force: bool = False, parameters: dict | None = None,
            echo=print, engine: str = "papermill", timings: bool = True) -> list[NotebookResult]:
    """Run the notebooks ``only`` picks (every one by default) at ``scale``, skipping fresh ones unless
    ``force``; ``timings`` writes what the run took (:func:`write_timings`). A workflow rule runs one
    notebook and leaves the timings to the workflow's benchmark records."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if engine not in ("papermill", "script"):
        raise ValueError(f"unknown engine {engine!r}; papermill or script")
    failures: tuple[type[Exception], ...] = (ScriptCellError,)
    if engine == "papermill":  # the script engine runs where papermill is not installed
        from papermill.exceptions import PapermillExecutionError

        failures = (PapermillExecutionError, ScriptCellError)

    results = []
    for nb in list_notebooks(only):
        # one process at a time per notebook and scale (two `make figures`, or test workers side by side):
        # the second waits, then finds it fresh, instead of writing over the same executed copy and figures
        with exclusive(paths.executed_notebook_path(nb.stem, scale), echo=echo):
            results.append(_run_one(nb, scale, force, parameters, echo, engine, failures))
    if timings and not parameters:
        write_timings(results, scale, only)
    return results


def timings_path(scale: str) -> Path:
    return paths.build_dir() / "figures" / f"{scale}.json"


def write_timings(results: list[NotebookResult], scale: str, only: str | None = None) -> Path:
    """What a ``make figures`` run took, notebook by notebook (``build/figures/<scale>.json``): the
    seconds of each notebook that ran, the total, the machine and the commit. A notebook skipped as
    up to date counts 0 s and is marked ``fresh``, so only a run from scratch times the whole scale."""
    import os

    import torch

    ran = [r for r in results if r.status == "ran"]
    record = {"scale": scale, "only": only, "commit": git_commit(), "device": device_name(),
              "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "notebooks": {r.notebook: {"status": r.status, "seconds": round(r.seconds, 1), "drifted": r.drifted,
                                         **({"slowest_cells": r.cells} if r.cells else {})} for r in results},
              "total_seconds": round(sum(r.seconds for r in results), 1),
              "from_scratch": not only and len(ran) == len(results)}
    out = timings_path(scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - thin wrapper, used by make
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default="cpu", choices=SCALES)
    ap.add_argument("--only", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--engine", default="papermill", choices=("papermill", "script"))
    args = ap.parse_args(argv)
    results = run_all(args.scale, args.only or None, args.force, engine=args.engine)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"notebook failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
