"""The write-up's numbers, by phase: what notebooks, figures and the README put ours beside.

Source: "From Weight-Space Diffusion to Latent-Space DeepSDF" (976 Objaverse-LVIS shapes). Keep
values as the write-up states them; where it gives a bound ("≥ 0.34") the key says so.
:func:`finding` renders the sentence a notebook closes a section with.
"""

from __future__ import annotations

SHAPES = 976  # the working set after watertight conversion and SDF sampling
PILOT_SHAPES = 20

# Phases 0-1.5: per-shape decoders (54,785-parameter ReLU+PE, warm-started from one anchor)
RELU_PE_PARAMETERS = 54_785
PER_SHAPE_LOSS_MEDIAN = 0.00185
PER_SHAPE_LOSS_P95 = 0.00409
RELU_PE_COLLAPSE_SIGMA_MIN = 0.34  # relative perturbation ReLU+PE tolerates (at least)
SIREN_COLLAPSE_SIGMA_MAX = 0.17  # SIREN collapses by (at most)

# The cosine shell (diagnostic of phase 1)
PAIRWISE_COSINE = 0.96
LOW_STD_DIMS = 124  # of 54,785 dims with std < 1e-4
ANCHOR_SHARE = 0.96  # "96 % shared anchor"

# Phases 6-10: the weight-space line
WEIGHT_DIT_PARAMETERS = 132e6  # "~132 M"
WEIGHT_TOKENS = 8
ATTRACTOR_SHAPES = 4  # obj_0054, 0055, 0172, 0000
ATTRACTOR_COSINE = 0.987
ATTRACTOR_INPUTS = 4  # the held-out inputs the attractor claim rests on
ATTRACTOR_COMMON_TOP5 = 4  # shapes in every one of those inputs' 5 nearest ("the same four regardless of input")
CONDITIONING_NUDGE = 0.03  # "image conditioning supplying only a ~3 % directional nudge"
HELD_OUT_COS_PRED_TRUE = 0.9698  # obj_0119
LOSS_EMA_PLATEAU = 0.198  # standardised MSE, around step 15 K (phase 7)
LOSS_AT_T0 = 0.189
AE_MSE = 2.28e-5
AE_COS = 0.9965
AE_LATENT_PAIRWISE_COSINE = 0.07

# Phase 11: DeepSDF
DECODER_PARAMETERS = 1.95e6  # "~1.95 M"
PILOT_SMALL_SDF_L1_MEAN = 0.00613
PILOT_SMALL_LATENT_COSINE = -0.04
PILOT_SDF_L1_MEAN = 0.00051
PILOT_SDF_L1_MAX = 0.00090
FULL_SDF_L1_MEAN = 0.00212
FULL_SDF_L1_MAX = 0.00593
PILOT_LATENT_COSINE = -0.04
FULL_LATENT_COSINE = 0.12
FULL_TRAIN_MINUTES = 140

# Phase 12: image -> latent
LATENT_DIT_PARAMETERS = 10e6  # "~10 M"
PILOT_LOSS_EMA = 8e-6
FULL_LOSS_EMA = 5.1e-3
PILOT_RECALL_COS = 1.0000
PILOT_RECALL_MARGIN_MIN = 0.4  # "> 0.4 cosine margin"


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    if abs(x) and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.4g}"


FINDINGS: list[str] = []  # this notebook's findings so far; figures.record_values stores and clears them


def finding(what: str, ours, thesis, note: str = "") -> str:
    """"<what>: here <ours> · thesis <thesis>[ (<note>)]", numbers formatted alike (and kept for the
    notebook's values file, where the report reads them)."""
    line = f"{what}: here {_fmt(ours)} · thesis {_fmt(thesis)}" + (f" ({note})" if note else "")
    FINDINGS.append(line)
    return line
