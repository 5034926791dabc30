"""The one place figures and recorded numbers are written.

Static figures are PNGs with a fixed style and no timestamps; interactive ones are plotly
HTML beside them. Names are deterministic: ``figures/<scale>/<notebook>/<name>.{png,html}``.
Key numbers go to ``figures/values/<notebook>.<scale>.json``, which tests and the write-up read.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import paths, thesis  # noqa: E402
from .io import atomic_target, atomic_write_text  # noqa: E402
from .repro.provenance import device_name, git_commit, source_hash  # noqa: E402

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "image.cmap": "viridis",
    "svg.hashsalt": "sdfnets",
}
plt.rcParams.update(STYLE)


def compact_png(src, dest: Path) -> None:
    """Write the image ``src`` (a path or file object) to ``dest`` as a 256-colour palette PNG:
    about half the bytes of matplotlib's RGBA output for our figures and galleries, which keeps the
    committed figures within the repository's size budget (median-cut palette, no dithering, so the
    file is the same for the same figure)."""
    from PIL import Image

    with Image.open(src) as im:
        q = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic_target(dest) as tmp:
        q.save(tmp, format="PNG", optimize=True)


def save_figure(fig, name: str, *, notebook: str, scale: str) -> Path:
    """Save a matplotlib figure as a palette PNG (no software/date metadata, so reruns are byte-stable)."""
    path = paths.figure_path(notebook, name, scale, "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    buf.seek(0)
    compact_png(buf, path)
    return path


def save_plotly(fig, name: str, *, notebook: str, scale: str) -> Path:
    """Save an interactive plotly figure as standalone HTML (plotly.js from its CDN)."""
    path = paths.figure_path(notebook, name, scale, "html")
    path.parent.mkdir(parents=True, exist_ok=True)
    html = fig.to_html(include_plotlyjs="cdn", full_html=True, div_id=f"{notebook}-{name}")
    atomic_write_text(path, html)
    return path


def record_values(notebook: str, values: dict, *, scale: str, corpus: str, num_shapes: int) -> Path:
    """Write a notebook's key numbers with the context needed to trust them, and the findings
    (ours beside the thesis') its cells printed; the verdicts of the write-up's headline findings these
    values hold are decided where they are shown (:func:`sdfnets.thesis.findings`), and printed here."""
    plain = json.loads(json.dumps(values, default=_jsonable))  # string keys, plain numbers: what the file will hold
    for line in thesis.verdicts(notebook, plain, scale):
        print(line)
    record = {
        "findings": list(thesis.FINDINGS),  # the verdicts are added where shown (thesis.findings)
        "notebook": notebook,
        "scale": scale,
        "corpus": corpus,
        "num_shapes": int(num_shapes),
        "device": device_name(),
        "git_commit": git_commit(),
        "source_hash": _source_hash(notebook, scale),
        "values": values,
    }
    path = paths.values_path(notebook, scale)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=_jsonable) + "\n")
    thesis.FINDINGS.clear()
    return path


def _source_hash(notebook: str, scale: str) -> str | None:
    """The hash of the notebook's source and the library that made these values (what
    :func:`sdfnets.repro.provenance.is_fresh` compares), or None for a name that is no notebook."""
    src = paths.NOTEBOOKS_DIR / f"{notebook}.py"
    return source_hash(src, scale) if src.exists() else None


def load_values(notebook: str, scale: str) -> dict:
    return json.loads(paths.values_path(notebook, scale).read_text())


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
