"""The notebooks as a workflow (``workflow/Snakefile``): which notebook reads the runs of which, which
need a GPU, and the one command a rule runs. Snakemake orders the rules, runs them side by side
within ``--cores`` and ``--resources gpu=N``, and on a cluster submits each as a job; whether a
notebook must run again is :func:`sdfnets.repro.provenance.is_fresh` (its source, the library and the
scale), so a fresh clone's committed values of the same code count as done.

    python -m sdfnets.repro.workflow run 11 --scale full    # one rule's command: one notebook, on a free GPU
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .. import paths

# notebook number -> the notebooks whose runs (checkpoints) or values it reads; their rules run first
READS: dict[str, tuple[str, ...]] = {
    "03": ("02",),  # the anchor
    "04": ("02",),
    "05": ("04",),  # the ReLU+PE weight dataset
    "06": ("04",),
    "07": ("03", "04", "12"),  # the SIREN and ReLU+PE weight datasets, notebook 12's image encoder
    "08": ("04", "12"),  # and the phase-11/12 runs
    "09": ("08",),  # phase 7's model
    "10": ("04", "12"),
    "12": ("11",),  # phase 11's decoder and latents
    "13": ("07", "08", "09", "10", "11", "12"),  # their recorded values
    "14": ("04",),
    "15": ("12",),  # the image encoder
    "16": ("12",),  # the release, or phase 11/12's runs at smaller scales
    "17": ("04", "12"),  # the anchor and fitting recipe of the weight dataset, notebook 12's image encoder
}
NOT_GPU = ("00", "01", "13")  # data statistics, the corpus pack, a table of recorded values


def notebooks(only: str | None = None) -> dict[str, Path]:
    """Notebook number -> source, in thesis order, with everything each selected one reads."""
    from .execute import list_notebooks

    every = {p.stem[:2]: p for p in list_notebooks()}
    chosen = set(every) if not only else {p.stem[:2] for p in list_notebooks(only)}
    todo = list(chosen)
    while todo:
        for up in READS.get(todo.pop(), ()):
            if up not in chosen:
                chosen.add(up)
                todo.append(up)
    return {k: every[k] for k in sorted(chosen)}


def only_arg(value) -> str | None:
    """``--config only=...`` as notebook prefixes: Snakemake reads ``only=00`` or ``only=11`` as a number."""
    if value is None or value == "":
        return None
    return f"{value:02d}" if isinstance(value, int) else str(value)


def done_stamp(notebook: Path, scale: str, force: bool = False) -> str:
    """The output of a notebook's rule: ``build/workflow/<scale>/<notebook>.done``. It is written here for a
    fresh notebook (so its rule has nothing to do) and removed for one that must run (not fresh, or ``force``),
    which writes it when it succeeds. The values file is not the rule's output: Snakemake would delete it
    before the run, and a failed notebook keeps its committed values."""
    from .provenance import is_fresh

    stamp = _stamp(notebook, scale)
    if not force and is_fresh(notebook, scale) and _has_figures(notebook, scale):
        if not stamp.exists():
            _write_stamp(notebook, scale)
    else:
        stamp.unlink(missing_ok=True)
    return str(stamp)


def _has_figures(notebook: Path, scale: str) -> bool:
    """Whether the notebook's figures are on disk at this scale. The repository keeps the figures of one scale per
    notebook (full where it has a full record) and the values of every scale: a notebook whose values are
    current but whose figures are not here runs again to draw them."""
    folder = paths.figures_dir() / scale / notebook.stem
    return folder.is_dir() and any(folder.iterdir())


def _stamp(notebook: Path, scale: str) -> Path:
    return paths.build_dir() / "workflow" / scale / f"{notebook.stem}.done"


def _write_stamp(notebook: Path, scale: str) -> None:
    from .provenance import source_hash

    stamp = _stamp(notebook, scale)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source_hash(notebook, scale) + "\n")


@contextmanager
def gpu_slot(gpus: int):
    """Hold one of ``gpus`` local GPUs for this process (``CUDA_VISIBLE_DEVICES``), by a lock file per
    GPU under ``build/workflow/gpus/``: Snakemake's ``--resources gpu=N`` caps how many GPU rules run at
    once, this picks which GPU each takes. ``gpus`` 0: leave the devices as they are (a CPU machine,
    or a cluster job whose scheduler has set them)."""
    if gpus <= 0:
        yield None
        return
    import fcntl

    folder = paths.build_dir() / "workflow" / "gpus"
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for i in range(gpus):
            f = stack.enter_context(open(folder / f"{i}.lock", "w"))
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            os.environ["CUDA_VISIBLE_DEVICES"] = str(i)
            yield i
            return
        raise RuntimeError(f"all {gpus} GPUs are held by other rules: run with --resources gpu={gpus} at most")


def run(number: str, scale: str, gpus: int = 0, engine: str = "papermill") -> int:
    """One rule: notebook ``number`` at ``scale`` (forced: the workflow decided it must run), on a free GPU."""
    from .execute import list_notebooks, run_all

    with gpu_slot(gpus):
        results = run_all(scale, number, force=True, engine=engine, timings=False)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"notebook failed: {r.error}", file=sys.stderr)
    if not failed:
        for nb in list_notebooks(number):
            _write_stamp(nb, scale)
    return 1 if failed else 0


def drift_summary(scale: str, echo=print) -> int:
    """What the notebooks this workflow ran moved beyond their tolerances (``build/drift/<scale>/``, which
    the workflow clears as it starts): one line each; 3 when any did (as ``sdfnets figures``), else 0."""
    import json

    drifted = {}
    for f in sorted((paths.build_dir() / "drift" / scale).glob("*.json")):
        bad = [r["key"] for r in json.loads(f.read_text()) if not r["ok"]]
        if bad:
            drifted[f.stem] = bad
    for nb, keys in drifted.items():
        echo(f"{nb}: {len(keys)} recorded values left their tolerance ({', '.join(keys[:4])}"
             f"{', ...' if len(keys) > 4 else ''}); build/drift/{scale}/{nb}.json; commit the new values if intended")
    return 3 if drifted else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one notebook as the workflow's rule does")
    r.add_argument("number")
    r.add_argument("--scale", required=True)
    r.add_argument("--gpus", type=int, default=0, help="GPUs of this machine to choose from (0: as set)")
    r.add_argument("--engine", default="papermill", choices=("papermill", "script"))
    d = sub.add_parser("drift", help="what the last workflow run moved beyond its tolerances (exit 3 if any)")
    d.add_argument("--scale", required=True)
    args = ap.parse_args(argv)
    if args.command == "drift":
        return drift_summary(args.scale)
    return run(args.number, args.scale, args.gpus, args.engine)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
