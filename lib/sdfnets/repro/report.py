"""The write-up as one HTML page (``make report``): every notebook's text, its figures, its findings
(ours beside the thesis') and every number it recorded, for one scale.

Built from what the notebooks leave behind, not from executed copies: the ``py:percent`` sources
(their markdown cells), ``figures/<scale>/<notebook>/*.png`` and ``figures/values/<notebook>.<scale>.json``
(the numbers and the findings). So the report of the committed full-scale run builds on any
machine, and a notebook not yet run at that scale says so.

Rendered with nbconvert: the report is assembled as one in-memory notebook of markdown cells and
exported with nbconvert's HTML exporter (the ``lab`` template). nbconvert is maintained by the
Jupyter project, already installed with the papermill stack, and renders the notebooks' markdown
and math as JupyterLab does; jupyter-book or quarto would add a Sphinx or Pandoc toolchain for a
single page. Figures are copied next to the page and linked relatively (``report/<scale>/``).
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from urllib.parse import quote

from .. import paths
from .execute import is_fresh, list_notebooks


def _flat(v, prefix=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _flat(x, f"{prefix}/{k}" if prefix else str(k))
    elif isinstance(v, list) and len(v) <= 12 and all(not isinstance(x, (dict, list)) for x in v):
        yield prefix, ", ".join(_fmt(x) for x in v)
    elif isinstance(v, list):
        yield prefix, f"[{len(v)} entries]"
    else:
        yield prefix, _fmt(v)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _values_table(values: dict, limit: int = 400) -> str:
    rows = list(_flat(values))
    body = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>" for k, v in rows[:limit])
    more = f"<p>... and {len(rows) - limit} more in the values file.</p>" if len(rows) > limit else ""
    return f"<details><summary>every recorded number ({len(rows)})</summary><table>{body}</table>{more}</details>"


def _section(src: Path, scale: str, out_dir: Path) -> list[str]:
    """Markdown cells of one notebook's part of the report."""
    import jupytext

    nb = jupytext.read(src)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown"]
    cells[0] = cells[0].replace("# ", f'# <a id="{src.stem}"></a>', 1)
    vpath = paths.values_path(src.stem, scale)
    if not vpath.exists():
        return cells + [f"*Not run at scale `{scale}`: `make figures SCALE={scale} ONLY={src.stem[:2]}`.*"]
    rec = json.loads(vpath.read_text())
    fresh = "up to date with this source" if is_fresh(src, scale) else "recorded by an earlier version of this source"
    field = {k: html.escape(str(rec.get(k, "?"))) for k in ("corpus", "num_shapes", "device", "git_commit")}
    meta = (f"**Run:** scale `{scale}`, {field['corpus']} ({field['num_shapes']} shapes), "
            f"{field['device']}, commit {field['git_commit']}; {fresh}.")
    found = rec.get("findings") or []
    findings = ("**Findings (here · thesis):**\n\n" + "\n".join(f"- {html.escape(f)}" for f in found)) if found else \
        "*No findings stored with these values (recorded before findings were kept; rerun to add them).*"
    figs = []
    fig_dir = paths.figures_dir() / scale / src.stem
    for png in sorted(fig_dir.glob("*.png")):
        dest = out_dir / "figures" / src.stem / png.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, dest)
        name = html.escape(png.stem)
        figs.append(f"![{name}](figures/{src.stem}/{quote(png.name)})\n\n*{name.replace('_', ' ')}*")
    for page in sorted(fig_dir.glob("*.html")):  # interactive plotly figures: linked, copied alongside
        dest = out_dir / "figures" / src.stem / page.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, dest)
        figs.append(f"[{html.escape(page.stem).replace('_', ' ')} (interactive)](figures/{src.stem}/{quote(page.name)})")
    return cells + [meta, findings, *figs, _values_table(rec.get("values", {}))]


def build(scale: str = "cpu", out: Path | None = None) -> Path:
    """Write ``build/report/<scale>/index.html`` (and its figures) and return its path."""
    import nbformat
    from nbconvert import HTMLExporter

    out_dir = Path(out) if out else paths.build_dir() / "report" / scale
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    sources = list_notebooks()
    toc = "\n".join(f"- [{s.stem}](#{s.stem})" + ("" if paths.values_path(s.stem, scale).exists() else " (not run)")
                    for s in sources)
    cells = [f"# From weight-space diffusion to latent-space DeepSDF: the notebooks at scale `{scale}`\n\n"
             "Every notebook's text, figures, findings (ours beside the thesis') and recorded numbers, built by "
             f"`make report SCALE={scale}` from `figures/` and `notebooks/`.\n\n{toc}"]
    for src in sources:
        cells += _section(src, scale, out_dir)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) for c in cells])
    nb.metadata["title"] = f"sdfnets report ({scale})"
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    page = out_dir / "index.html"
    page.write_text(body)
    return page
