"""Configs and scale presets, in one place.

Three scales run the same code:

- ``smoke``: CI, seconds on a CPU. Tiny corpus, few points, few small views.
- ``cpu``: a laptop, minutes, still shows the phenomenon.
- ``full``: one GPU at thesis scale (200,000 SDF points, 64 views of 224 x 224).

A notebook's ``parameters`` cell holds only literals (``SCALE = "smoke"``); the next cell
calls :func:`resolve` so that everything derived stays where papermill can reach it.
"""

from .presets import PILOT, SCALES, WEIGHT_PHASES, dose_name, pilot_configs, resolve, scaling_config, shell_dose, weight_phase
from .sections import *  # noqa: F403  (every section's dataclass, and run_settings)
from .sections import __all__ as _sections

__all__ = ["PILOT", "SCALES", "WEIGHT_PHASES", "dose_name", "pilot_configs", "resolve", "scaling_config", "shell_dose", "weight_phase",
           *_sections]
