#!/usr/bin/env bash
# On a machine WITH network: gather what a GPU node without network needs beyond its own image
# (PyTorch, numpy, scipy, scikit-image, matplotlib, tqdm, typer are assumed there):
#   .whl/  CPython 3.12 manylinux wheels of the packages the node lacks
#   .gl/   the GL vendor-neutral loaders (glvnd) for NVIDIA's EGL driver
# Both folders are git-ignored; carry them with the repository (about 22 MB together).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY_TARGET:-3.12}
mkdir -p .whl .gl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp "${plat[@]}" \
  -d .whl trimesh==5.2.0 point-cloud-utils==0.34.0 pyrender==0.1.45 pyglet==2.1.19 freetype-py==2.5.1 \
  DracoPy==2.2.0 javaproperties==0.8.2 rtree==1.4.1 mesh-to-sdf==0.0.15
# the notebooks' script engine (no Jupyter kernel on the node): jupytext and what it reads with
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp "${plat[@]}" \
  -d .whl jupytext==1.19.6 mdit-py-plugins==0.7.0 nbformat==5.11.1 fastjsonschema==2.22.3 jsonschema==4.26.0 \
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 jupyter_core==5.9.1 traitlets==5.16.1 \
  platformdirs==4.14.7 plotly==7.1.0 narwhals==2.29.0
python3 -m pip wheel -q --no-deps -w .whl PyOpenGL==3.1.0   # pure Python, published as a source archive only
# plotly without its JupyterLab extension and widget bundle, and with an empty stand-in for the bundled
# plotly.js (the project's HTML figures load plotly.js from its CDN; plotly still opens the file), so that
# the repository, the wheels and a carried run fit what travels to the node
python3 - <<'PY'
import glob, zipfile, os
src = glob.glob(".whl/plotly-*.whl")[0]
drop = ("labextension/", "widgetbundle.js", "/share/jupyter/")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(src + ".slim", "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if not any(d in item.filename for d in drop):
            data = zin.read(item.filename)
            zout.writestr(item, b"" if item.filename.endswith("package_data/plotly.min.js") else data)
os.replace(src + ".slim", src)
PY
rm -f .whl/mesh_to_sdf-*.whl   # benchmarks only
(cd .gl && apt-get download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .whl .gl
