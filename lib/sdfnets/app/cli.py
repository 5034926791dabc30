"""The ``sdfnets`` command line. ``sdfnets --help`` lists every command."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .. import config as config_mod
from .. import paths
from .errors import OneLineErrors, one_line

app = typer.Typer(help="From weight-space diffusion to latent-space DeepSDF: data, figures, models.",
                  no_args_is_help=True, add_completion=False, cls=OneLineErrors)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"sdfnets {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """From weight-space diffusion to latent-space DeepSDF: data, figures, models."""


data_app = typer.Typer(help="Build and inspect the shared data foundation.", no_args_is_help=True)
app.add_typer(data_app, name="data")
deepsdf_app = typer.Typer(help="Phase 11: DeepSDF (shared decoder + per-shape latents).", no_args_is_help=True)
app.add_typer(deepsdf_app, name="deepsdf")

ScaleOpt = typer.Option("cpu", "--scale", help="Preset the defaults come from: smoke | cpu | full.")


def _data_config(scale: str, corpus: Optional[str], num_shapes: Optional[int], seed: int):
    if num_shapes is None and corpus and corpus.startswith("folder:"):  # a user's folder: every file in it
        from ..data.corpora import get_corpus

        try:
            num_shapes = len(get_corpus(corpus).sources(10**9))
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc)) from exc
    overrides = {k: v for k, v in (("corpus", corpus), ("num_shapes", num_shapes)) if v is not None}
    try:
        return config_mod.resolve(scale, seed=seed, data=overrides).data
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@data_app.command("build")
def data_build(
    corpus: Optional[str] = typer.Option(
        None, help="procedural | sweethome3d | pack:PATH | sweethome3d-raw[:DIR] | objaverse-lvis | folder:PATH "
                   "(default: the scale's corpus)."),
    num_shapes: Optional[int] = typer.Option(None, "--num-shapes", "-n", min=1, help="How many shapes."),
    from_pack: bool = typer.Option(False, "--from-pack", help="Rebuild from the committed corpus pack "
                                                               "(same as --corpus sweethome3d)."),
    scale: str = ScaleOpt,
    seed: int = typer.Option(0, help="Corpus and sampling seed."),
    workers: int = typer.Option(1, min=1, help="Processes for meshing, SDF sampling and rendering."),
    dask: Optional[str] = typer.Option(None, "--dask", metavar="ADDRESS",
                                       help="Run every shape's work on the Dask cluster at ADDRESS (its scheduler, "
                                            "e.g. tcp://host:8786); the data folder must be shared with its workers."),
    renders: bool = typer.Option(True, "--renders/--no-renders",
                                 help="--no-renders: meshes and SDF samples only (enough for DeepSDF training)."),
):
    """Build (or resume) a dataset: canonical meshes, SDF samples, renders, manifest."""
    import time

    from ..data import Dataset, build_dataset

    if from_pack and corpus and not corpus.startswith(("pack:", "sweethome3d")):
        raise typer.BadParameter("--from-pack reads a pack; drop --corpus or give --corpus pack:PATH")
    cfg = _data_config(scale, corpus or ("sweethome3d" if from_pack else None), num_shapes, seed)
    t0 = time.perf_counter()
    try:
        with _executor(dask) as executor:
            root = build_dataset(cfg, workers=workers, executor=executor, renders=renders)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        typer.secho(f"error: {one_line(exc) or exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    ds = Dataset(root)
    typer.echo(f"{ds}\n  {len(ds)} shapes built, {len(ds.failed)} failed, {time.perf_counter() - t0:.1f} s")
    for f in ds.failed:
        typer.echo(f"  failed [{f['stage']}] {f['uid']}: {f['reason']}")


@contextmanager
def _executor(address: str | None):
    """None (the build's own processes), or a Dask cluster's executor."""
    if not address:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise RuntimeError("--dask needs dask and distributed (pip install 'dask[distributed]')") from exc
    with Client(address, timeout="30s") as client:
        typer.echo(f"on the Dask cluster at {address}: {len(client.scheduler_info()['workers'])} workers")
        yield client.get_executor()


@data_app.command("info")
def data_info(
    corpus: Optional[str] = typer.Option(None, help="Show one dataset (with --num-shapes/--scale)."),
    num_shapes: Optional[int] = typer.Option(None, "--num-shapes", "-n", help="With --corpus: the dataset's size."),
    scale: str = ScaleOpt,
    seed: int = typer.Option(0, help="With --corpus: the dataset's seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Summarise built datasets: shapes, categories, failures, size on disk."""
    from ..data import Dataset, dataset_root

    if corpus is None and num_shapes is None:
        roots = sorted(p.parent for p in paths.data_dir().glob("*/*/manifest.json"))
    else:
        roots = [dataset_root(_data_config(scale, corpus, num_shapes, seed))]
    summaries = []
    for root in roots:
        try:
            ds = Dataset(root)
        except (FileNotFoundError, ValueError) as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "_work" not in p.parts)
        cats = {c: len(v) for c, v in ds.manifest["categories"].items()}
        summaries.append({"root": str(root), "corpus": ds.manifest["corpus"], "num_shapes": len(ds),
                          "num_failed": len(ds.failed), "categories": cats, "bytes": size})
    packs = []
    if corpus is None and num_shapes is None:
        from ..data.pack import Pack

        packs = [Pack(p, verify=False).info() for p in sorted(paths.packs_dir().glob("*.zip"))]
    if as_json:
        typer.echo(json.dumps({"packs": packs, "datasets": summaries}, indent=2))
        return
    for p in packs:
        typer.echo(f"pack {p['path']}\n  corpus {p['corpus']} v{p['pack_version']}: {p['num_shapes']} shapes, "
                   f"{p['num_failed']} failed the gate, {p['bytes'] / 2**20:.1f} MiB\n  categories: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(p["categories"].items())))
    if not summaries:
        typer.echo(f"no datasets under {paths.data_dir()}; build one with `sdfnets data build`")
    for s in summaries:
        typer.echo(f"{s['root']}\n  corpus {s['corpus']}: {s['num_shapes']} shapes, {s['num_failed']} failed, "
                   f"{s['bytes'] / 2**20:.1f} MiB\n  categories: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(s["categories"].items())))


@data_app.command("pack")
def data_pack(
    source: str = typer.Option("", help="Folder of .sh3f files (default: fetch Debian's sweethome3d-furniture)."),
    out: Optional[str] = typer.Option(None, help="Pack file to write (default: data/packs/sweethome3d-v1.zip)."),
    num_shapes: Optional[int] = typer.Option(None, "--num-shapes", "-n", min=1, help="Only the first N models."),
    workers: int = typer.Option(1, min=1, help="Processes converting models."),
    timeout: float = typer.Option(300.0, help="Seconds one model may take."),
    memory_mb: float = typer.Option(8000.0, help="Memory one model may use."),
):
    """Convert the Sweet Home 3D libraries into the corpus pack (resumable)."""
    from pathlib import Path

    from ..data.make_pack import build_pack
    from ..data.pack import Pack

    try:
        path = build_pack(source, Path(out) if out else None, workers=workers, num_shapes=num_shapes,
                          timeout_s=timeout, memory_mb=memory_mb)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    info = Pack(path).info()
    typer.echo(f"{path}: {info['num_shapes']} shapes, {info['num_failed']} failed the gate, "
               f"{info['bytes'] / 2**20:.1f} MiB")


@data_app.command("verify")
def data_verify(corpus: Optional[str] = typer.Option(None, help="Corpus (default: the scale's)."),
                num_shapes: Optional[int] = typer.Option(None, "--num-shapes", "-n", help="Dataset size (default: the scale's)."),
                scale: str = ScaleOpt, seed: int = typer.Option(0, help="Dataset seed.")):
    """Check every artifact of a dataset against the hashes in its manifest."""
    from ..data import Dataset, dataset_root

    try:
        ds = Dataset(dataset_root(_data_config(scale, corpus, num_shapes, seed)))
    except (FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    bad = ds.verify()
    for b in bad:
        typer.echo(f"mismatch: {b}")
    typer.echo(f"{len(ds)} shapes checked, {len(bad)} mismatches")
    raise typer.Exit(1 if bad else 0)


@deepsdf_app.command("train")
def deepsdf_train(
    scale: str = ScaleOpt,
    seed: int = typer.Option(0, help="Training and data seed."),
    workers: int = typer.Option(1, min=1, help="Processes for building the dataset if it is missing."),
    copy_to: Optional[str] = typer.Option(None, help="Also copy the finished run folder here."),
):
    """Train (or load, or resume) the scale's DeepSDF run on the train split and summarise it."""
    import shutil
    from pathlib import Path

    from ..data import load_or_build
    from ..data.bank import SDFBank
    from ..data.splits import with_ood
    from ..deepsdf import evaluate as ev
    from ..deepsdf.train import train
    from ..metrics import pairwise_cosine
    from ..io import UnreadableCheckpoint
    from ..train.loop import RunMismatch

    cfg = config_mod.resolve(scale, seed=seed)
    ds = load_or_build(cfg.data, renders=False, workers=workers)  # training reads SDF samples only
    train_ids = with_ood(ds, cfg.image2latent.ood_category)[0]  # the run the notebooks load
    try:
        run = train(cfg, ds, train_ids)
    except (RunMismatch, UnreadableCheckpoint) as exc:  # a checkpoint of another run, or one that holds code
        typer.secho(f"error: {str(exc).splitlines()[0]}", fg="red", err=True)
        raise typer.Exit(2) from exc
    l1 = ev.per_shape_sdf_l1(run.decoder, run.latents, SDFBank.from_dataset(ds, train_ids), clamp=cfg.deepsdf.clamp)
    cos = pairwise_cosine(run.latents.cpu())
    summary = {"shapes": len(train_ids), "steps": run.steps, "seconds": round(run.seconds, 1),
               "points_per_second": run.points_per_second, "sdf_l1_mean": float(l1.mean()),
               "sdf_l1_max": float(l1.max()), "latent_cosine": float(cos.mean()), "run_dir": str(run.run_dir)}
    typer.echo(json.dumps(summary, indent=1))
    if copy_to:
        dest = Path(copy_to) / run.run_dir.relative_to(paths.runs_dir())
        shutil.copytree(run.run_dir, dest, dirs_exist_ok=True)
        typer.echo(f"copied to {dest}")


def _check_output(out, overwrite: bool) -> None:
    """Refuse an output path before any compute: a folder, an existing file without --overwrite, or
    a place that cannot be written."""
    import os

    from .image2mesh import InputError

    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name ending in .glb, .obj or .ply")
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise InputError(f"cannot write {out}: {probe} is not a writable folder")


@app.command("image2mesh")
def image2mesh(
    images: list[str] = typer.Argument(..., help="1 to 8 images of one object (PNG, JPEG, ...; RGBA: alpha = background)."),
    output: str = typer.Option(..., "-o", "--output", help="Mesh file: .glb, .obj or .ply."),
    pose: Optional[list[str]] = typer.Option(None, "--pose", help="AZIMUTH,ELEVATION in degrees, once per image "
                                                                   "(default: views turning around the object)."),
    resolution: int = typer.Option(128, "--resolution", "-r", help="Marching-cubes grid (16-512)."),
    method: str = typer.Option("pixel", "--method", "-m", help="pixel: the pixel-aligned SDF network, which reads "
                               "the geometry in the views (best on unseen shapes; from 4 views a second network "
                               "that reads the views alone); diffusion: phase 12's latent DiT "
                               "on global image features."),
    seed: int = typer.Option(0, help="Diffusion sampling seed (--method diffusion)."),
    checkpoint: Optional[str] = typer.Option(None, help="Release file of the method (default: the committed ones in "
                                             "checkpoints/; a file given here reads any number of views)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    refine: bool = typer.Option(False, "--refine/--no-refine", help="--method diffusion: move the predicted latent "
                                "until the shape's silhouettes match the images (at the given or default poses)."),
    cutout: bool = typer.Option(True, "--cutout/--no-cutout", help="Cut the object out of a photo's background "
                                "(no alpha, a border not mostly white) and frame it like the training renders."),
    save_inputs: Optional[str] = typer.Option(None, "--save-inputs", help="Folder to write the views as the model "
                                              "sees them (after any cut-out)."),
):
    """Image(s) -> mesh: the pixel-aligned SDF network (default) or phase 12's latent diffusion; marching cubes."""
    from pathlib import Path

    from tqdm import tqdm

    from ..image2latent.release import ReleaseMismatch
    from .image2mesh import REFINE_NEEDS_DIFFUSION, InputError, check_count, load_image, parse_pose, pipeline

    try:
        suffix = Path(output).suffix.lower()
        if suffix not in (".glb", ".obj", ".ply"):
            raise InputError(f"{output}: the output must end in .glb, .obj or .ply")
        _check_output(Path(output), overwrite)
        check_count(len(images))
        if refine and method != "diffusion":
            raise InputError(REFINE_NEEDS_DIFFUSION)
        poses = None
        if pose:
            if len(pose) != len(images):
                raise InputError(f"{len(pose)} --pose values for {len(images)} images")
            import numpy as np

            from ..data.cameras import camera_pose

            poses = np.stack([camera_pose(*parse_pose(p)) for p in pose])
        checked = [load_image(p, check=True, cutout=cutout) for p in images]
        loaded = [img for img, _ in checked]
        if save_inputs:
            from PIL import Image

            Path(save_inputs).mkdir(parents=True, exist_ok=True)
            for p, img in zip(images, loaded):
                Image.fromarray(img).save(Path(save_inputs) / f"{Path(p).stem}.png")
        pipe = pipeline(method, checkpoint, device)
        for _, warning in checked:  # after every refusal: a command that stops says only why
            if warning:
                typer.secho(f"warning: {warning}", fg="yellow", err=True)
        if method == "pixel" and poses is None:
            from ..data.cameras import default_angles

            angles = " ".join(f"{az:.0f},{el:.0f}" for az, el in default_angles(len(images)))
            typer.secho(f"note: no --pose given, so the views are taken to come from AZIMUTH,ELEVATION {angles}; "
                        "the pixel-aligned method reads each view where a point projects, so views from elsewhere "
                        "need their --pose (or --method diffusion)", fg="yellow", err=True)
        with tqdm(total=100, desc="image2mesh", unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:
            def progress(frac, text):
                bar.n = int(frac * 100)
                bar.set_postfix_str(text)
                bar.refresh()

            mesh = pipe(loaded, poses, resolution=resolution, seed=seed, progress=progress, refine=refine)
    except (InputError, ReleaseMismatch, FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    mesh.export(output)
    t = mesh.metadata.get("timings", {})
    typer.echo(f"{output}: {len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces "
               f"({', '.join(f'{k} {v:.2f}' for k, v in t.items())})")


@app.command("demo")
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 to expose it; localhost by default)."),
    port: int = typer.Option(7860, help="Port."),
    method: str = typer.Option("pixel", "--method", "-m", help="The method selected at first: pixel or diffusion."),
    checkpoint: Optional[str] = typer.Option(None, help="Release file of --method (default: the committed one)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Web demo (gradio): upload 1-8 images, get the mesh in a 3-D viewer and as a file."""
    from .demo import build
    from .image2mesh import MAX_FILE_MB

    # uploads larger than image2mesh accepts are refused by the server, before they are stored; quiet: no
    # hint to publish the demo through gradio's share servers (it is meant for this machine or its network)
    import signal

    from .image2mesh import InputError

    try:
        blocks = build(checkpoint, device, method)
    except (InputError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)

    def stop(*_):  # SIGTERM as Ctrl-C: gradio closes its server, and the demo's stored files are removed at exit
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    typer.echo(f"the demo: http://{host}:{port} (Ctrl-C stops it)")
    blocks.launch(server_name=host, server_port=port, show_error=True, quiet=True, max_file_size=f"{MAX_FILE_MB:.0f}mb")


@app.command("figures")
def figures(
    scale: str = ScaleOpt,
    only: Optional[str] = typer.Option(None, help="Notebook prefixes, e.g. 00 or 00,11."),
    force: bool = typer.Option(False, help="Rerun notebooks that are up to date."),
    engine: str = typer.Option("papermill", help="papermill (executed copies kept) or script (plain Python, "
                                                 "for machines without a Jupyter kernel)."),
):
    """Execute the notebooks headlessly (papermill) and regenerate their figures; each regenerated value is
    compared with the one it replaces (exit 3 when one leaves its tolerance, sdfnets.repro.drift)."""
    from ..repro.execute import run_all, timings_path

    try:
        results = run_all(scale, only, force, echo=typer.echo, engine=engine)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"times per notebook: {timings_path(scale)}")
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        typer.secho(f"notebook failed: {r.error}", fg="red", err=True)
    drifted = [r for r in results if r.drifted]
    for r in drifted:
        typer.secho(f"{r.notebook}: {r.drifted} recorded values left their tolerance (report above; the new values "
                    f"are written: commit them if the change is intended)", fg="yellow", err=True)
    raise typer.Exit(1 if failed else 3 if drifted else 0)


@app.command("report")
def report(scale: str = ScaleOpt):
    """Build the write-up as one HTML page from the notebooks, figures and recorded values (build/report/<scale>/)."""
    from ..repro.report import build

    page = build(scale)
    typer.echo(f"{page} (open it in a browser)")


@app.command("notebooks")
def notebooks(scale: str = ScaleOpt):
    """List the notebooks in thesis order and whether their figures are up to date (if not: the files changed
    since the commit their values record)."""
    from .. import paths
    from ..repro.execute import is_fresh, list_notebooks
    from ..repro.provenance import stale_reason

    for nb in list_notebooks():
        if not paths.values_path(nb.stem, scale).exists():
            typer.echo(f"absent {nb.stem}  (not run at this scale)")
        elif is_fresh(nb, scale):
            typer.echo(f"fresh  {nb.stem}")
        else:
            why = stale_reason(nb, scale)
            typer.echo(f"stale  {nb.stem}" + (f"  (changed since its values' commit: {why})" if why else ""))


def main() -> None:  # pragma: no cover
    app(prog_name="sdfnets")


if __name__ == "__main__":  # pragma: no cover  (python -m sdfnets.app.cli)
    main()
