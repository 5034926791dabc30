"""The write-up's numbers, by phase: what notebooks, figures and the README put ours beside.

Source: "From Weight-Space Diffusion to Latent-Space DeepSDF" (976 Objaverse-LVIS shapes). Keep
values as the write-up states them; where it gives a bound ("≥ 0.34") the key says so.
:func:`finding` renders the sentence a notebook closes a section with; :data:`CLAIMS` lists the headline
findings with where ours is recorded and how a verdict is reached (the fidelity table of ``docs/results.md``
and the report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .config import dose_name

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
    if abs(x) < 1:
        short = f"{x:.3g}"
        return f"{x:.5f}" if float(short) in (1.0, -1.0) else short  # 0.99993 is not 1
    return f"{x:.4g}"


FINDINGS: list[str] = []  # this notebook's findings so far; figures.record_values stores and clears them


def finding(what: str, ours, thesis, note: str = "") -> str:
    """"<what>: here <ours> · thesis <thesis>[ (<note>)]", numbers formatted alike (and kept for the
    notebook's values file, where the report reads them)."""
    line = f"{what}: here {_fmt(ours)} · thesis {_fmt(thesis)}" + (f" ({note})" if note else "")
    FINDINGS.append(line)
    return line


# ---------------------------------------------------------------------------------------------
# The fidelity table: each headline finding of the write-up against the value a notebook records at full scale


def lookup(values: dict, key: str):
    """``values[a][b][c]`` for the key ``a/b/c`` (a number indexes a list); None where there is none."""
    v = values
    for part in key.split("/"):
        if isinstance(v, list) and part.isdigit() and int(part) < len(v):
            v = v[int(part)]
        elif isinstance(v, dict) and part in v:
            v = v[part]
        else:
            return None
    return v


@dataclass(frozen=True)
class Claim:
    """One headline finding: the write-up's number, where ours is recorded (notebook, ``a/b/c`` key under
    ``values`` at full scale), whether ours shows the same phenomenon (``holds``) and how near the number must
    be to count as the same (``tolerance``, relative)."""

    finding: str
    thesis: float | str  # a word where the write-up gives no number ("destroyed")
    notebook: str
    key: str
    holds: Callable[[float], bool]
    tolerance: float = 0.25
    phenomenon: str = ""  # what ``holds`` asks, in words
    bound: str = ""  # "≥", "≤" or ">": the write-up states a bound, and meeting it is the same number

    def verdict(self, ours: float | None) -> str:
        """``reproduced`` (the phenomenon, and the number within the tolerance or the bound met), ``reproduced
        with a measured difference`` (the phenomenon, another number), ``contradicted`` (not the phenomenon) or
        ``not recorded``."""
        if ours is None or ours != ours:
            return "not recorded"
        if not self.holds(ours):
            return "contradicted"
        if isinstance(self.thesis, str):
            return "reproduced"
        close = {"≥": ours >= self.thesis, "≤": ours <= self.thesis, ">": ours > self.thesis}.get(
            self.bound, abs(ours - self.thesis) <= self.tolerance * abs(self.thesis))
        return "reproduced" if close else "reproduced with a measured difference"


def findings(record: dict) -> list[str]:
    """A values file's findings as shown: the lines its notebook's cells printed, then the verdicts of the
    write-up's headline findings that its values hold, decided now by :data:`CLAIMS` (verdict lines stored with
    older values are replaced, so every page applies the same rules to every record)."""
    printed = [f for f in record.get("findings") or [] if not f.startswith("verdict: ")]
    return printed + verdicts(record.get("notebook", ""), record.get("values", {}), record.get("scale", ""))


def verdicts(notebook: str, values: dict, scale: str) -> list[str]:
    """One line per claim of ``notebook`` found in its ``values`` (JSON-like: string keys): the finding, ours
    beside the write-up's and the verdict, which the rules decide for full-scale values (other scales: marked)."""
    out = []
    for c in CLAIMS:
        v = lookup(values, c.key) if c.notebook == notebook else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            at = "" if scale == "full" else f"; at {scale} scale, the rule is for full"
            out.append(f"verdict: {c.finding}: here {_fmt(v)} · thesis {c.bound}{_fmt(c.thesis)} → {c.verdict(v)} "
                       f"(phenomenon when {c.phenomenon}{at})")
    return out


_SHELL_DOSE = dose_name(1 / 16)  # notebook 17's dose whose shell is the write-up's (pairwise cosine 0.96)

CLAIMS: tuple[Claim, ...] = (
    Claim("per-shape decoders fit their shapes: SDF L1 median", PER_SHAPE_LOSS_MEDIAN, "04_relu_weight_dataset",
          "sdf_l1_median", lambda v: v < 0.01, phenomenon="< 0.01"),
    Claim("warm-started weights sit in a thin shell: mean pairwise cosine", PAIRWISE_COSINE, "05_cosine_shell",
          "anchor start/pairwise_cosine", lambda v: v > 0.5, tolerance=0.02, phenomenon="> 0.5 (random starts: ~0)"),
    Claim("weight dimensions with std < 1e-4", LOW_STD_DIMS, "05_cosine_shell", "anchor start/low_std_dims",
          lambda v: v > 0, phenomenon="> 0"),
    Claim("ReLU+PE tolerates a relative weight perturbation of at least", RELU_PE_COLLAPSE_SIGMA_MIN, "03_siren_warm_start",
          "perturbation/collapse_sigma/ReLU+PE", lambda v: v > SIREN_COLLAPSE_SIGMA_MAX, bound="≥",
          phenomenon=f"> {SIREN_COLLAPSE_SIGMA_MAX}, where SIREN has collapsed"),
    Claim("SIREN collapses by a relative perturbation of at most", SIREN_COLLAPSE_SIGMA_MAX, "03_siren_warm_start",
          "perturbation/collapse_sigma/SIREN", lambda v: v < RELU_PE_COLLAPSE_SIGMA_MIN, bound="≤",
          phenomenon=f"< {RELU_PE_COLLAPSE_SIGMA_MIN}, where ReLU+PE holds"),
    Claim("phase 6 collapses: training shapes nearest for half the held-out inputs", ATTRACTOR_SHAPES,
          "07_weight_dit_single_view", "phase6/vectors/rows_for_half", lambda v: v <= 2 * ATTRACTOR_SHAPES,
          tolerance=0.0, phenomenon=f"≤ {2 * ATTRACTOR_SHAPES} of 32"),
    Claim("phase 6: the same shapes top every input's 5 nearest (draws of 4 inputs)", ATTRACTOR_COMMON_TOP5,
          "07_weight_dit_single_view", "phase6/draws/4/common_mean", lambda v: v >= ATTRACTOR_COMMON_TOP5 - 1,
          tolerance=0.0, phenomenon=f"≥ {ATTRACTOR_COMMON_TOP5 - 1} shapes in common"),
    Claim("phase 6: predictions nearer a training vector than their own target (share)", 1.0,
          "07_weight_dit_single_view", "phase6/vectors/closer_share", lambda v: v >= 0.5, tolerance=0.1,
          phenomenon="≥ half"),
    Claim("phase 6: cos(prediction, nearest training vector)", ATTRACTOR_COSINE, "07_weight_dit_single_view",
          "phase6/vectors/top1_cos_mean", lambda v: v > 0.5, tolerance=0.01, phenomenon="> 0.5"),
    Claim("phase 6: the image moves a prediction this share of the way to its target", CONDITIONING_NUDGE,
          "07_weight_dit_single_view", "phase6/nudge/toward_mean", lambda v: v <= 0.1, tolerance=1.0,
          phenomenon="≤ 0.1"),
    Claim("fitted with a 16× smaller step, the weights sit in the write-up's shell: mean pairwise cosine",
          PAIRWISE_COSINE, "17_weight_collapse_dose", f"doses/{_SHELL_DOSE}/pairwise_cosine", lambda v: v >= 0.9,
          tolerance=0.01, phenomenon="≥ 0.9"),
    Claim("... and fit their shapes as the write-up's did: SDF L1 median", PER_SHAPE_LOSS_MEDIAN,
          "17_weight_collapse_dose", f"doses/{_SHELL_DOSE}/sdf_l1_median", lambda v: v < 0.01, phenomenon="< 0.01"),
    Claim("phase 6 on that shell collapses: training shapes nearest for half the held-out inputs", ATTRACTOR_SHAPES,
          "17_weight_collapse_dose", f"doses/{_SHELL_DOSE}/vectors/rows_for_half", lambda v: v <= 2 * ATTRACTOR_SHAPES,
          tolerance=0.0, phenomenon=f"≤ {2 * ATTRACTOR_SHAPES} of 32"),
    Claim("phase 6 on that shell: the image moves a prediction this share of the way to its target",
          CONDITIONING_NUDGE, "17_weight_collapse_dose", f"doses/{_SHELL_DOSE}/nudge/toward_mean", lambda v: v <= 0.1,
          tolerance=1.0, phenomenon="≤ 0.1"),
    Claim("phase 7: training-loss EMA plateau (standardised MSE)", LOSS_EMA_PLATEAU, "08_weight_dit_multiview",
          "loss_ema", lambda v: v > 0.1, phenomenon="> 0.1 (far above a latent DiT's)"),
    Claim("phase 7: loss at t = 0, a flat profile", LOSS_AT_T0, "08_weight_dit_multiview",
          "loss_profile/weight DiT (phase 7)/0", lambda v: v > 0.1, phenomenon="> 0.1"),
    Claim("phase 10: the weight autoencoder reconstructs weights to cosine", AE_COS, "10_weight_autoencoder",
          "trap/weight MSE, 128 dims | training/cos", lambda v: v >= 0.99, tolerance=0.005, phenomenon="≥ 0.99"),
    Claim("phase 10: ... and its meshes are destroyed (held-out F-score; true decoders ≈ 0.99)", "destroyed",
          "10_weight_autoencoder", "trap/weight MSE, 128 dims | held-out/fscore", lambda v: v < 0.5, tolerance=0.0,
          phenomenon="< 0.5"),
    Claim("phase 11: DeepSDF SDF L1 mean over all shapes", FULL_SDF_L1_MEAN, "11_deepsdf", "full/sdf_l1_mean",
          lambda v: v < 0.01, phenomenon="< 0.01"),
    Claim("phase 11: latent pairwise cosine (near-orthogonal codes)", FULL_LATENT_COSINE, "11_deepsdf",
          "full/latent_cosine", lambda v: v < 0.3, phenomenon="< 0.3"),
    Claim("phase 12: latent DiT training-loss EMA", FULL_LOSS_EMA, "12_image_to_latent", "loss_ema/full",
          lambda v: v < 0.05, phenomenon="< 0.05"),
    Claim("phase 12 pilot: smallest recall margin (cosine)", PILOT_RECALL_MARGIN_MIN, "12_image_to_latent",
          "recall/pilot/margin_min", lambda v: v > 0, bound=">", phenomenon="> 0 (every shape recalled)"),
)
