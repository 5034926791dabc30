#!/usr/bin/env bash
# On a machine WITH network: gather what a GPU node without network needs beyond its own image
# (PyTorch, numpy, scipy, scikit-image, matplotlib, tqdm, typer are assumed there):
#   .site.tar.xz  the CPython 3.12 manylinux wheels of the packages the node lacks, unpacked and
#                 xz-compressed (about 21 MB; the wheels themselves are 37 MB): the rendering and mesh
#                 stack, the notebooks' script engine, and the workflow engine (Snakemake)
#   .gl/          the GL vendor-neutral loaders (glvnd) for NVIDIA's EGL driver
# Both are git-ignored; carry them with the repository. `source scripts/gpu_env.sh` on the node unpacks them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY_TARGET:-3.12}
WHL=$(mktemp -d)
trap 'rm -rf "$WHL"' EXIT
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64
      --platform manylinux_2_5_x86_64)
get() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp "${plat[@]}" -d "$WHL" "$@"; }
get trimesh==5.2.0 point-cloud-utils==0.34.0 pyrender==0.1.45 pyglet==2.1.19 freetype-py==2.5.1 \
  DracoPy==2.2.0 javaproperties==0.8.2 rtree==1.4.1
# the notebooks' script engine (no Jupyter kernel on the node): jupytext and what it reads with
get jupytext==1.19.6 mdit-py-plugins==0.7.0 nbformat==5.11.1 fastjsonschema==2.22.3 jsonschema==4.26.0 \
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 jupyter_core==5.9.1 traitlets==5.16.1 \
  platformdirs==4.14.7 plotly==7.1.0 narwhals==2.29.0
# the workflow engine and what it imports (PuLP, its ILP solver, is left out: run it with --scheduler greedy)
get snakemake==9.27.1 immutables==0.21 configargparse==1.9.0 docutils==0.22.4 gitpython==3.2.1 gitdb==4.0.12 \
  smmap==5.0.3 humanfriendly==10.0 jinja2==3.1.6 markupsafe==3.0.4 attrs==26.1.0 psutil==7.2.2 pyyaml==6.0.4 \
  requests==2.34.2 charset-normalizer==3.5.3 idna==3.21 urllib3==2.8.0 certifi==2026.10.19.post1 tenacity==9.2.1 \
  smart-open==7.7.1 wrapt==2.5.2 snakemake-interface-executor-plugins==9.4.0 snakemake-interface-common==1.23.0 \
  argparse-dataclass==2.0.0 snakemake-interface-storage-plugins==4.4.1 snakemake-interface-report-plugins==1.3.0 \
  snakemake-interface-logger-plugins==2.1.0 snakemake-interface-scheduler-plugins==2.0.2 tabulate==0.10.0 \
  throttler==1.2.3 yte==1.9.4 dpath==2.2.0 conda-inject==1.3.2 sqlmodel==0.0.37 sqlalchemy==2.0.58 \
  lazy-importer==0.1.0 greenlet==3.5.6 pydantic==2.14.4 annotated-types==0.8.0 pydantic-core==2.50.5 \
  typing-inspection==0.4.5 typing-extensions==4.16.0 packaging==25.0
python3 -m pip wheel -q --no-deps -w "$WHL" PyOpenGL==3.1.0 connection-pool==0.0.3   # published as source archives only
# plotly without its JupyterLab extension and widget bundle, and with an empty stand-in for the bundled
# plotly.js (the project's HTML figures load plotly.js from its CDN; plotly still opens the file)
SITE="$WHL/site"
for w in "$WHL"/*.whl; do python3 -m zipfile -e "$w" "$SITE"; done
rm -rf "$SITE"/plotly/labextension "$SITE"/plotly/package_data/widgetbundle.js "$SITE"/*.data/data/share/jupyter
: > "$SITE"/plotly/package_data/plotly.min.js
tar -cJf .site.tar.xz -C "$WHL" site
mkdir -p .gl
(cd .gl && apt-get download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .site.tar.xz .gl
