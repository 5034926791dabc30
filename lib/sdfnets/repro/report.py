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

import ast
import fnmatch
import html
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from .. import paths, thesis
from .execute import is_fresh, list_notebooks
from .provenance import stale_reason
from . import results


INERT = {c: f"&#{ord(c)};" for c in "&<>\"'[]()*_`$\\!#|~"}  # HTML's and markdown's special characters


def _text(value) -> str:
    """Text from a file as inert HTML: escaped, on one line (a blank line would end the HTML block and hand
    the rest to the markdown renderer) and with markdown's link, emphasis and math characters as entities."""
    return "".join(INERT.get(c, c) for c in " ".join(str(value).split()))


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
    body = "".join(f"<tr><td><code>{_text(k)}</code></td><td>{_text(v)}</td></tr>" for k, v in rows[:limit])
    more = f"<p>... and {len(rows) - limit} more in the values file.</p>" if len(rows) > limit else ""
    return f"<details><summary>every recorded number ({len(rows)})</summary><table>{body}</table>{more}</details>"


CAPTION = re.compile(r"^\s*# caption: (.+)$")


def _figures_of(code: str) -> list[tuple[str, str]]:
    """(file-name pattern, caption) of each figure a code cell saves: the name given to ``save_figure`` /
    ``save_plotly`` (an f-string's fields as wildcards) and the ``# caption:`` comment on the line above the call."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # IPython syntax: no figures found in this cell
        return []
    lines = code.splitlines()
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("save_figure", "save_plotly")
                and len(node.args) >= 2):
            continue
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            pattern = name.value
        elif isinstance(name, ast.JoinedStr):
            pattern = "".join(v.value if isinstance(v, ast.Constant) else "*" for v in name.values)
        else:
            continue
        above = CAPTION.match(lines[node.lineno - 2]) if node.lineno >= 2 else None
        out.append((node.lineno, pattern, above.group(1).strip() if above else ""))
    return [(pattern, caption) for _, pattern, caption in sorted(out)]


def _figure_md(path: Path, notebook: str, caption: str, out_dir: Path) -> str:
    dest = out_dir / "figures" / notebook / path.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    url = f"figures/{notebook}/{quote(path.name)}"
    text = _text(caption or path.stem.replace("_", " "))
    if path.suffix == ".html":  # an interactive plotly figure: linked
        return f'<p><a href="{url}">{text} (interactive, opens in the browser)</a></p>'
    return f'<figure><img src="{url}" alt="{text}" style="max-width:100%"/><figcaption>{text}</figcaption></figure>'


def _section(src: Path, scale: str, out_dir: Path) -> list[str]:
    """One notebook's part of the report, in the notebook's order: its prose, each figure under the cell that
    made it (with the caption written above the call that saves it), then where the values come from, the
    findings (ours beside the thesis') and every recorded number. Text from values files goes in as escaped
    HTML, never as markdown: a link or markup in a corpus name is shown, not followed or run."""
    import jupytext

    nb = jupytext.read(src)
    vpath = paths.values_path(src.stem, scale)
    rec = json.loads(vpath.read_text()) if vpath.exists() else None
    fig_dir = paths.figures_dir() / scale / src.stem
    pending = sorted(fig_dir.glob("*.png")) + sorted(fig_dir.glob("*.html")) if rec else []
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cells.append(cell.source if cells else cell.source.replace("# ", f'# <a id="{src.stem}"></a>', 1))
            continue
        for pattern, caption in _figures_of(cell.source):
            for path in [p for p in pending if fnmatch.fnmatch(p.stem, pattern)]:
                pending.remove(path)
                cells.append(_figure_md(path, src.stem, caption, out_dir))
    if rec is None:
        return cells + [f"*Not run at scale `{scale}`: `make figures SCALE={scale} ONLY={src.stem[:2]}`.*"]
    cells += [_figure_md(p, src.stem, "", out_dir) for p in pending]  # saved by a name no cell spells out
    if is_fresh(src, scale):
        fresh = "up to date with this source"
    else:
        why = stale_reason(src, scale)
        fresh = "recorded by an earlier version of this source" + (
            f" (changed since: {html.escape(why)})" if why else "")
    field = {k: _text(rec.get(k, "?")) for k in ("corpus", "num_shapes", "device", "git_commit")}
    cells.append(f"<p><b>Run:</b> scale <code>{html.escape(scale)}</code>, {field['corpus']} ({field['num_shapes']} "
                 f"shapes), {field['device']}, commit <code>{field['git_commit']}</code>; {fresh}.</p>")
    found = thesis.findings(rec)
    cells.append("<p><b>Findings (here · thesis):</b></p><ul>" + "".join(f"<li>{_text(f)}</li>" for f in found)
                 + "</ul>" if found else
                 "<p><i>No findings stored with these values (recorded before findings were kept; the notebook's "
                 "finding cells print them when it runs).</i></p>")
    return cells + [_values_table(rec.get("values", {}))]


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
             f"`make report SCALE={scale}` from `figures/` and `notebooks/`.\n\n{toc}",
             "## The write-up's findings, here\n\n" + results.FIDELITY_INTRO + "\n\n" + results.fidelity_table()]
    for src in sources:
        cells += _section(src, scale, out_dir)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) for c in cells])
    nb.metadata["title"] = f"sdfnets report ({scale})"
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    page = out_dir / "index.html"
    page.write_text(body)
    return page
