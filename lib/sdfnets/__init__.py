"""sdfnets: from weight-space diffusion to latent-space DeepSDF, runnable.

Each public function names the notebook that introduces it in its module docstring.
"""

__version__ = "0.1.0"
