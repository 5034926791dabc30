"""The web demo (``sdfnets demo``): upload 1-8 images of one object, get its mesh in a 3-D viewer
and as a file, like the thesis' Hugging Face Space. gradio; binds to localhost unless told."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr

from .image2mesh import DEFAULT_METHOD, MAX_IMAGES, METHODS, InputError, check_count, load_image, pipeline

KEEP_RESULTS = 16  # meshes kept (older ones are deleted); everything the demo stored goes when it stops
UPLOAD_MAX_AGE_S = 600  # users' uploaded images are deleted this long after they arrived

INTRO = f"""# sdfnets · image → mesh
Upload 1 to {MAX_IMAGES} images of **one** object (views from around it work best; an RGBA image
with a transparent background is composited on white like the training renders). **pixel** (the
default) reads each point's signed distance from the views where it projects, with the views' poses
(default: turning around the object; from 4 views on it reads the views alone, with fewer stray pieces); **diffusion** is phase 12: the project's image encoder, a latent
diffusion transformer and the DeepSDF decoder. Both were trained on renders of furniture only."""


def build(checkpoint=None, device=None, method: str = DEFAULT_METHOD) -> gr.Blocks:
    """The demo's app, ``method`` selected at first (``checkpoint`` is its release; the other method's committed
    release loads when first chosen). Everything it stores — users' uploads (gradio's cache) and the meshes it serves — lives
    in one temporary folder, removed when the process exits; results are served from where they are written,
    so gradio keeps no copies beyond the last ``KEEP_RESULTS``."""
    import atexit
    import shutil

    pipes = {method: pipeline(method, checkpoint, device)}
    root = Path(tempfile.mkdtemp(prefix="sdfnets-demo-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ["GRADIO_TEMP_DIR"] = str(root)  # gradio's cache for this process: uploads land here
    out_dir = root / "results"
    out_dir.mkdir()
    counter = iter(range(10**9))

    def run(files, chosen, resolution, seed, refine=False, progress=gr.Progress()):
        files = [f if isinstance(f, str) else f.name for f in files or []]
        try:
            check_count(len(files))
            checked = [load_image(f, name=Path(f).name, check=True) for f in files]
            images = [img for img, _ in checked]
            if chosen not in pipes:
                pipes[chosen] = pipeline(chosen, None, device)
            mesh = pipes[chosen](images, resolution=int(resolution), seed=int(seed), refine=bool(refine),
                        progress=lambda f, text: progress(f, desc=text))
        except (InputError, RuntimeError, FileNotFoundError) as exc:
            raise gr.Error(str(exc), print_exception=False)  # the user sees it; the log needs no traceback
        path = out_dir / f"mesh-{next(counter):06d}.glb"
        mesh.export(path)
        for old in sorted(out_dir.glob("mesh-*.glb"))[:-KEEP_RESULTS]:
            old.unlink(missing_ok=True)
        t = mesh.metadata.get("timings", {})
        info = (f"{len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces; "
                + ", ".join(f"{k.replace('_s', '')} {v:.2f} s" for k, v in t.items()))
        warnings = [w for _, w in checked if w]
        if chosen == "pixel":
            from ..data.cameras import default_angles

            angles = ", ".join(f"{az:.0f}°/{el:.0f}°" for az, el in default_angles(len(images)))
            warnings.append(f"the views are taken to come from azimuth/elevation {angles}, in upload order; "
                            "views from elsewhere suit the diffusion method better")
        info += "".join(f"\n\n**Warning:** {w}" for w in warnings)
        return str(path), str(path), info

    with gr.Blocks(title="sdfnets image → mesh", delete_cache=(60, UPLOAD_MAX_AGE_S)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                files = gr.File(label=f"images (1-{MAX_IMAGES})", file_count="multiple", file_types=["image"],
                                type="filepath", elem_id="images")
                chosen = gr.Radio(list(METHODS), value=method, label="method", elem_id="method")
                resolution = gr.Slider(32, 256, value=128, step=16, label="marching-cubes resolution",
                                       elem_id="resolution")
                seed = gr.Number(0, label="seed (diffusion)", precision=0)
                refine = gr.Checkbox(False, label="refine against the silhouettes (diffusion)", elem_id="refine")
                go = gr.Button("Make the mesh", variant="primary", elem_id="run")
            with gr.Column():
                viewer = gr.Model3D(label="mesh", elem_id="viewer", clear_color=(1, 1, 1, 1))
                download = gr.File(label="download", elem_id="download")
                info = gr.Markdown(elem_id="info")
        go.click(run, [files, chosen, resolution, seed, refine], [viewer, download, info])
    return demo
