"""Which package each optional-in-practice module comes from, and what the project needs it for: the line a
missing module deserves (every one is pinned in ``pyproject.toml``; a partial install can still lack one)."""

from __future__ import annotations

# module -> (what to install, what it is needed for, another way round where there is one)
MODULES = {
    "pyrender": ("pyrender==0.1.45 PyOpenGL==3.1.0", "rendering views", "`data build --no-renders` skips them"),
    "OpenGL": ("PyOpenGL==3.1.0", "rendering views", "`data build --no-renders` skips them"),
    "gradio": ("gradio==6.31.0", "the web demo", "`sdfnets image2mesh` needs no web server"),
    "papermill": ("papermill==2.7.0", "running notebooks in a Jupyter kernel",
                  "`--engine script` runs them without one"),
    "skimage": ("scikit-image==0.26.0", "marching cubes (every mesh)", None),
    "point_cloud_utils": ("point-cloud-utils==0.34.0", "mesh metrics and watertight meshes", None),
    "transformers": ("transformers==5.23.0", "the pretrained image encoders", None),
    "snakemake": ("snakemake==9.27.1", "the figure workflow", None),
}


def missing_module(name: str) -> str:
    """``name`` is not installed: what to install and why (the package named after the module when unknown)."""
    package, purpose, instead = MODULES.get(name.split(".")[0], (name.split(".")[0], None, None))
    return (f"the Python module {name!r} is not installed" + (f"; it is needed for {purpose}" if purpose else "")
            + f": pip install {package}" + (f" ({instead})" if instead else ""))
