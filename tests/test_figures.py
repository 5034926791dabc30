import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sdfnets import figures, paths


def _plot():
    fig, ax = plt.subplots()
    ax.plot(np.arange(10) ** 2)
    return fig


def test_saved_png_is_deterministic():
    p1 = figures.save_figure(_plot(), "curve", notebook="99_test", scale="smoke")
    b1 = p1.read_bytes()
    p2 = figures.save_figure(_plot(), "curve", notebook="99_test", scale="smoke")
    assert p1 == p2 == paths.figure_path("99_test", "curve", "smoke", "png")
    assert b1 == p2.read_bytes() and b1[:8] == b"\x89PNG\r\n\x1a\n"


def test_plotly_html_and_values_record():
    import plotly.graph_objects as go

    p = figures.save_plotly(go.Figure(go.Scatter(y=[1, 2])), "scatter", notebook="99_test", scale="smoke")
    assert p.suffix == ".html" and "plotly" in p.read_text()
    path = figures.record_values("99_test", {"x": np.float32(1.5), "n": np.int64(3)}, scale="smoke",
                                 corpus="procedural", num_shapes=3)
    rec = json.loads(path.read_text())
    assert rec["values"] == {"x": 1.5, "n": 3}
    assert {"scale", "corpus", "num_shapes", "device", "git_commit"} <= set(rec)


def test_committed_values_of_the_same_code_count_as_fresh(tmp_path, monkeypatch):
    import json

    from sdfnets import figures, paths

    from sdfnets.repro import execute as notebooks

    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("SDFNETS_BUILD_DIR", str(tmp_path / "build"))  # a fresh clone: no run stamps
    nb = notebooks.list_notebooks("04")[0]
    assert not notebooks.is_fresh(nb, "smoke")
    path = figures.record_values(nb.stem, {"x": 1}, scale="smoke", corpus="procedural", num_shapes=8)
    assert notebooks.is_fresh(nb, "smoke")  # recorded by this very code
    rec = json.loads(path.read_text())
    rec["source_hash"] = "0" * 64  # recorded by other code
    path.write_text(json.dumps(rec))
    assert not notebooks.is_fresh(nb, "smoke") and paths.values_path(nb.stem, "smoke").exists()


def test_plotly_mesh_keeps_the_faces_in_the_narrowest_index_type():
    import trimesh

    from sdfnets import plots

    small = trimesh.creation.icosphere(2)  # 162 vertices: uint16 indices
    mesh = plots.plotly_mesh(small.vertices, small.faces, points=small.vertices[:5], values=np.arange(5.0)).data[0]
    assert mesh.i.dtype == np.uint16
    np.testing.assert_array_equal(np.stack([mesh.i, mesh.j, mesh.k], 1), small.faces)
    np.testing.assert_allclose(np.stack([mesh.x, mesh.z, mesh.y], 1), small.vertices, atol=1e-6)
    grid = np.stack(np.meshgrid(*[np.arange(41.0)] * 3), -1).reshape(-1, 3)  # 68,921 vertices: int32
    faces = np.array([[0, 1, len(grid) - 1]])
    big = plots.plotly_mesh(grid, faces).data[0]
    assert big.i.dtype == np.int32 and big.k[0] == len(grid) - 1


def test_a_notebooks_values_depend_on_the_library_files_it_imports(tmp_path):
    from sdfnets.repro.provenance import config_fingerprint, imported_files, library_hash, source_hash

    lib = paths.LIB_DIR
    rel = lambda files: {p.relative_to(lib).as_posix() for p in files}  # noqa: E731
    nb = tmp_path / "99_probe.py"
    nb.write_text("import numpy as np\nfrom sdfnets import paths\n\ndef later():\n    from sdfnets.data import splits\n")
    # packages on the way, imports inside functions, and what those modules import in turn
    assert {"__init__.py", "paths.py", "data/__init__.py", "data/splits.py"} <= rel(imported_files(nb))
    assert "deepsdf/train.py" not in rel(imported_files(nb))
    # relative imports of the library resolve: deepsdf/train.py's `from . import fused`, `from ..train import loop`
    assert {"deepsdf/fused.py", "train/loop.py", "field.py"} <= rel(imported_files(lib / "deepsdf" / "train.py"))
    assert "deepsdf/train.py" in rel(imported_files(paths.NOTEBOOKS_DIR / "11_deepsdf.py"))
    assert "multiview/pixelsdf.py" not in rel(imported_files(paths.NOTEBOOKS_DIR / "04_relu_weight_dataset.py"))
    # the hash: scale, source and exactly the imported files
    import hashlib

    files = imported_files(nb)
    config = [f for f in files if f.parent.name == "config"]  # counted by what they resolve to
    assert config
    want = hashlib.sha256(b"smoke\n" + nb.read_bytes() + library_hash([f for f in files if f not in config]).encode()
                          + config_fingerprint("smoke", config).encode()).hexdigest()
    assert source_hash(nb, "smoke") == want != source_hash(nb, "cpu")
    nb.write_text("this is not python (\n")  # a notebook mid-edit: hashed against the whole library
    assert source_hash(nb, "smoke") == hashlib.sha256(b"smoke\n" + nb.read_bytes() + library_hash().encode()).hexdigest()


def test_the_config_counts_by_what_it_resolves_to_at_the_notebooks_scale(tmp_path, monkeypatch):
    import shutil

    from sdfnets.config import presets
    from sdfnets.repro.provenance import _config_code, _resolved, config_fingerprint

    # the resolved config holds what is run and measured, not how a step is computed
    pixel = _resolved("full")["pixel"]
    assert "cuda_graph" not in pixel and {"steps", "mesh_resolution", "augment"} <= set(pixel)
    # another scale's preset changes only that scale's fingerprint
    cpu, full = config_fingerprint("cpu"), config_fingerprint("full")
    monkeypatch.setitem(presets._PRESETS["full"]["pixel"], "pose_jitter", 6.0)
    assert config_fingerprint("cpu") == cpu and config_fingerprint("full") != full
    # the code: defaults, presets, docstrings and comments are left to the resolved config; functions count
    files = [Path(shutil.copy(p, tmp_path)) for p in sorted((paths.LIB_DIR / "config").glob("*.py"))]
    sections, presets_py = tmp_path / "sections.py", tmp_path / "presets.py"
    code = _config_code(files)
    for path, old, new in ((sections, "    steps: int = 20000\n", "    steps: int = 60000  # longer\n"),
                           (sections, '"""One small dataclass', '"""One dataclass'),
                           (presets_py, "pose_jitter=5.0", "pose_jitter=6.0")):
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        assert _config_code(files) == code, new
    presets_py.write_text(presets_py.read_text().replace('f"lr × {factor:g}"', 'f"lr x {factor:g}"'))
    assert _config_code(files) != code


def test_the_config_code_reads_the_same_on_every_python_version():
    """Records made on a GPU node's Python must be fresh on another's: the syntax tree's text leaves out the
    fields that one version writes empty and another not at all (``ast.dump`` gives ``bases=[]`` on 3.11,
    ``type_params=[]`` too on 3.12, neither on 3.13)."""
    import ast

    from sdfnets.repro.provenance import _ast_text

    assert _ast_text(ast.parse("class A:\n    x: int = 1")) == (
        "Module(body=[ClassDef(name='A', body=[AnnAssign(target=Name(id='x', ctx=Store()), "
        "annotation=Name(id='int', ctx=Load()), value=Constant(value=1), simple=1)])])")


@pytest.mark.skipif(not (paths.REPO_ROOT / ".git").exists(), reason="needs the repository's history")
def test_stale_values_name_the_files_changed_since_their_commit(tmp_path, monkeypatch):
    import subprocess

    from sdfnets.repro.provenance import changed_since, imported_files, stale_reason

    nb = paths.NOTEBOOKS_DIR / "04_relu_weight_dataset.py"
    record = tmp_path / "values.json"
    monkeypatch.setattr(paths, "values_path", lambda name, scale: record)
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                           text=True).stdout.split()[0]
    record.write_text(json.dumps({"git_commit": first[:12]}))
    changed = changed_since(nb, "full")
    if changed is None:
        pytest.skip("a shallow clone: the first commit is not here")
    assert "notebooks/04_relu_weight_dataset.py" in changed and "lib/sdfnets/multiview/pixelsdf.py" not in changed
    assert stale_reason(nb, "full").startswith(changed[0].removeprefix("lib/sdfnets/"))
    assert set(changed) <= {"notebooks/04_relu_weight_dataset.py"} | {
        f.relative_to(paths.REPO_ROOT.resolve()).as_posix() for f in imported_files(nb)}
    for unknown in ({"git_commit": "unknown"}, {}, {"git_commit": "0" * 12}):
        record.write_text(json.dumps(unknown))
        assert changed_since(nb, "full") is None, unknown
