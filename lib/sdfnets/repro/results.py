"""The numbers pages, generated: ``docs/results.md`` (every notebook's headline values at each committed scale,
beside the thesis' where it states one, and the findings stored with them), ``bench/README.md`` (every
benchmark's ratio and every recorded full run) and the phase table of ``README.md`` (between its
``<!-- phases -->`` markers), all from ``figures/values``, ``bench/results`` and :mod:`sdfnets.thesis`.

    python -m sdfnets.repro.results            write them
    python -m sdfnets.repro.results --check    exit 1 if a committed page is not what this writes (CI)

Nothing in these pages is typed by hand: a regenerated value shows up in the pages by rerunning this.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import config, paths, thesis

SCALES = ("full", "cpu")


@dataclass(frozen=True)
class Row:
    """One recorded value: its path under ``values`` (``a/b/c``), how it prints, the thesis' number."""

    key: str
    fmt: str = "{:.3g}"
    thesis: float | None = None
    scale: float = 1.0
    bound: str = ""  # where the write-up gives a bound: "≥", "≤", ">"

    @property
    def label(self) -> str:
        return self.key.replace("/", " · ").replace("_", " ").replace("|", "\\|")

    def show(self, values: dict) -> str:
        v = lookup(values, self.key)
        if v is None or isinstance(v, (dict, list)):
            return "—"
        return self.fmt.format(v * self.scale if self.scale != 1 else v)

    def show_thesis(self) -> str:
        if self.thesis is None:
            return ""
        return self.bound + self.fmt.format(self.thesis * self.scale if self.scale != 1 else self.thesis)


lookup = thesis.lookup  # values[a][b][c] for the key a/b/c


# an unconditional generator measured against held-out shapes, beside a copier of training shapes (06 and 14)
GENERATION = (
    Row("generation/mmd", "{:.3f}"),
    Row("generation/cov", "{:.2f}"),
    Row("generation/1nna", "{:.2f}"),
    Row("copier/mmd", "{:.3f}"),
    Row("copier/cov", "{:.2f}"),
    Row("copier/1nna", "{:.2f}"),
    Row("generation/sample_nearest_train_median", "{:.4f}"),
    Row("generation/reference_nearest_train_median", "{:.4f}"),
    Row("generation/nearest_train_ratio", "{:.2f}"),
    Row("generation/memorisation/memorised", "{:.1f} %", scale=100),
)

# each notebook's headline values: the first rows of its section in docs/results.md
DOSES = tuple(config.dose_name(f) for f in config.resolve("full").weightspace.shell_lr_factors)  # notebook 17's

HEADLINES: dict[str, tuple[Row, ...]] = {
    "02_anchor_decoders": (
        Row("parameters/relu_pe", "{:,}", thesis.RELU_PE_PARAMETERS),
    ),
    "03_siren_warm_start": (
        Row("perturbation/collapse_sigma/ReLU+PE", "{:.2f}", thesis.RELU_PE_COLLAPSE_SIGMA_MIN, bound="≥ "),
        Row("perturbation/collapse_sigma/SIREN", "{:.2f}", thesis.SIREN_COLLAPSE_SIGMA_MAX, bound="≤ "),
        Row("interpolation/SIREN, anchor start/deviation_mid", "{:.3f}"),
        Row("interpolation/SIREN, random starts/deviation_mid", "{:.3f}"),
        Row("interpolation/SIREN, random + weight matching/deviation_mid", "{:.3f}"),
    ),
    "04_relu_weight_dataset": (
        Row("sdf_l1_median", "{:.5f}", thesis.PER_SHAPE_LOSS_MEDIAN),
        Row("sdf_l1_p95", "{:.5f}", thesis.PER_SHAPE_LOSS_P95),
        Row("sdf_l1_max", "{:.4f}"),
        Row("train_seconds", "{:.0f} s"),
        Row("steps", "{:,} steps"),
    ),
    "05_cosine_shell": (
        Row("anchor start/pairwise_cosine", "{:.2f}", thesis.PAIRWISE_COSINE),
        Row("anchor start/low_std_dims", "{}", thesis.LOW_STD_DIMS),
        Row("anchor start/share_along_start", "{:.2f}", thesis.ANCHOR_SHARE),
        Row("anchor start/pca_dims_for_90pct", "{}"),
    ),
    "06_weight_dit_unconditional": (
        *GENERATION,
        Row("token_entries", "{:,}"),
    ),
    "07_weight_dit_single_view": (
        Row("phase6/vectors/cos_true_mean", "{:.3f}"),
        Row("phase6/residual/cos_true_mean", "{:.3f}"),
        Row("phase6/vectors/top1_cos_mean", "{:.3f}"),
        Row("phase6/residual/top1_cos_mean", "{:.3f}"),
        Row("phase6/residual/rows_for_half", "{}"),
        Row("phase6/residual/distinct_top1", "{}"),
        Row("phase5/vectors/cos_true_mean", "{:.3f}"),
        Row("phase5/residual/cos_true_mean", "{:.3f}"),
        Row("phase5/vectors/truth_pairwise_cosine", "{:.3f}"),
        Row("phase6/mesh/prediction/fscore", "{:.3f}"),
        Row("phase6/mesh/prediction_vs_top_attractor/fscore", "{:.3f}"),
    ),
    "08_weight_dit_multiview": (
        Row("parameters", "{:.1f} M", thesis.WEIGHT_DIT_PARAMETERS, scale=1e-06),
        Row("held-out/vectors/cos_true_mean", "{:.3f}", thesis.HELD_OUT_COS_PRED_TRUE),
        Row("held-out/residual/cos_true_mean", "{:.3f}"),
        Row("held-out/residual/rows_for_half", "{}"),
        Row("by_views/1/residual_cos_true_mean", "{:.3f}"),
        Row("by_views/8/residual_cos_true_mean", "{:.3f}"),
        Row("loss_ema", "{:.3f}", thesis.LOSS_EMA_PLATEAU),
        Row("training/mesh/prediction/fscore", "{:.2f}"),
        Row("held-out/mesh/prediction/fscore", "{:.3f}"),
        Row("held-out/mesh/retrieval/fscore", "{:.3f}"),
        Row("held-out/mesh/prediction_vs_top_attractor/fscore", "{:.3f}"),
    ),
    "09_weight_dit_ablations": (
        Row("phase8/mesh/prediction/fscore", "{:.3f}"),
        Row("phase9/mesh/prediction/fscore", "{:.3f}"),
    ),
    "10_weight_autoencoder": (
        Row("trap/weight MSE, 128 dims | held-out/fscore", "{:.3f}"),
        Row("trap/function (SDF), 128 dims | held-out/fscore", "{:.3f}"),
        Row("at_thesis_cosine/random direction/fscore", "{:.3f}"),
    ),
    "11_deepsdf": (
        Row("pilot/large/sdf_l1_mean", "{:.5f}", thesis.PILOT_SDF_L1_MEAN),
        Row("pilot/large/sdf_l1_max", "{:.5f}", thesis.PILOT_SDF_L1_MAX),
        Row("full/sdf_l1_mean", "{:.5f}", thesis.FULL_SDF_L1_MEAN),
        Row("full/sdf_l1_max", "{:.5f}", thesis.FULL_SDF_L1_MAX),
        Row("pilot/small/sdf_l1_mean", "{:.5f}", thesis.PILOT_SMALL_SDF_L1_MEAN),
        Row("pilot/large/latent_cosine", "{:+.2f}", thesis.PILOT_LATENT_COSINE),
        Row("full/latent_cosine", "{:+.3f}", thesis.FULL_LATENT_COSINE),
        Row("pilot/large/fscore", "{:.3f}"),
        Row("pilot/large/iou", "{:.3f}"),
        Row("pilot/large/normal_consistency", "{:.3f}"),
        Row("full/fscore", "{:.3f}"),
        Row("full/iou", "{:.3f}"),
        Row("full/normal_consistency", "{:.3f}"),
        Row("test_reconstruction/sdf/fscore", "{:.3f}"),
        Row("test_reconstruction/sdf/iou", "{:.3f}"),
        Row("test_reconstruction/shapes", "{}"),
        Row("full/shapes", "{} shapes"),
        Row("full/train_seconds", "{:.0f} s"),
        Row("full/points_per_second", "{:.1f} M/s", scale=1e-06),
    ),
    "12_image_to_latent": (
        Row("loss_ema/full", "{:.2e}", thesis.FULL_LOSS_EMA),
        Row("loss_ema/pilot", "{:.2e}", thesis.PILOT_LOSS_EMA),
        Row("recall/full/cos_mean", "{:.3f}"),
        Row("recall/full/cos_min", "{:.2f} min"),
        Row("recall/full/top1", "{:.1f} %", scale=100),
        Row("recall/full/margin_median", "{:.2f}"),
        Row("recall/pilot/margin_median", "{:.2f}"),
        Row("recall/pilot/margin_min", "{:.2f}", thesis.PILOT_RECALL_MARGIN_MIN, bound="> "),
        Row("test/diffusion/fscore", "{:.3f}"),
        Row("test/diffusion/chamfer_l1", "{:.3f}"),
        Row("test/diffusion/iou", "{:.3f}"),
        Row("test/retrieval/fscore", "{:.3f}"),
        Row("test/retrieval/iou", "{:.3f}"),
        Row("release_mib", "{:.1f} MiB"),
        Row("release_cosine_mean", "{:.5f}"),
        Row("ood/full/shapes", "{}"),
    ),
    "14_hypernetwork_vae": (
        Row("reconstruction/hypernetwork/sdf_l1_median", "{:.5f}"),
        Row("reconstruction/per-shape decoders (phase 1)/sdf_l1_median", "{:.5f}"),
        Row("reconstruction/hypernetwork/fscore", "{:.3f}"),
        Row("reconstruction/hypernetwork/iou", "{:.3f}"),
        Row("reconstruction/per-shape decoders (phase 1)/fscore", "{:.3f}"),
        Row("reconstruction/per-shape decoders (phase 1)/iou", "{:.3f}"),
        Row("mesh_shapes", "{}"),
        Row("hypernet_parameters", "{:,}"),
        Row("code_entries", "{:,}"),
        Row("phase1_weights", "{:,}"),
        Row("train_seconds/hypernetwork", "{:.0f} s"),
        Row("shell/hypernetwork/pairwise_cosine", "{:.3f}"),
        Row("shell/per-shape decoders (phase 1)/pairwise_cosine", "{:.3f}"),
        Row("shell/hypernetwork/residual_cosine", "{:.3f}"),
        Row("shell/per-shape decoders (phase 1)/residual_cosine", "{:.3f}"),
        *GENERATION,
        Row("test_shapes", "{}"),
    ),
    "15_deepsdf_scaling": (
        Row("by_n/20/dit_loss_ema", "{:.4f}"),
        Row("by_n/586/dit_loss_ema", "{:.4f}"),
        Row("by_n/20/sdf_l1_mean", "{:.4f}"),
        Row("by_n/586/sdf_l1_mean", "{:.4f}"),
        Row("by_n/20/test/diffusion/fscore", "{:.3f}"),
        Row("by_n/586/test/diffusion/fscore", "{:.3f}"),
        Row("by_n/586/test/retrieval/fscore", "{:.3f}"),
        Row("by_n/400/test/retrieval/fscore", "{:.3f}"),
        Row("by_n/20/ood_nearest_cosine", "{:.3f}"),
        Row("by_n/586/ood_nearest_cosine", "{:.3f}"),
        Row("by_n/20/ood/holds_together", "{:.2f}"),
        Row("by_n/400/ood/holds_together", "{:.2f}"),
        Row("by_n/586/ood/holds_together", "{:.2f}"),
        Row("by_n/586/ood/fscore_truth", "{:.3f}"),
        Row("by_n/586/ood/components_mean", "{:.1f}"),
        Row("by_n/586/ood/one_part", "{:.0%}"),
        Row("ood_manifold/retrieval/ood_holds_together", "{:.2f}"),
        Row("ood_manifold/retrieval/ood_fscore_truth", "{:.3f}"),
        Row("ood_manifold/blend 0.5/ood_holds_together", "{:.2f}"),
        Row("ood_manifold/blend 1/ood_holds_together", "{:.2f}"),
        Row("ood_manifold/blend 1/test_fscore", "{:.3f}"),
        Row("ood_manifold/blend 0.5/ood_fscore_truth", "{:.3f}"),
        Row("epochs_per_shape", "{}"),
        Row("dit_steps", "{:,}"),
    ),
    "17_weight_collapse_dose": (
        *(Row(f"doses/{d}/pairwise_cosine", "{:.3f}", thesis.PAIRWISE_COSINE) for d in DOSES),
        *(Row(f"doses/{d}/{key}", fmt, ref) for d in DOSES for key, fmt, ref in (
            ("sdf_l1_median", "{:.5f}", None), ("vectors/rows_for_half", "{}", thesis.ATTRACTOR_SHAPES),
            ("draws/4/common_mean", "{:.2f}", thesis.ATTRACTOR_COMMON_TOP5),
            ("nudge/toward_mean", "{:.3f}", thesis.CONDITIONING_NUDGE), ("loss_t0", "{:.3f}", thesis.LOSS_AT_T0),
            ("fscore", "{:.3f}", None))),
        Row("dit_steps", "{:,}"),
    ),
    "16_image_to_mesh_generalisation": (
        Row("methods/refined, 4 views, default poses/fscore", "{:.3f}"),
        Row("methods/diffusion, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/visual hull, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/visual hull, 8 views, known poses/fscore", "{:.3f}"),
        Row("methods/pixel-aligned, 1 view, known poses/fscore", "{:.3f}"),
        Row("methods/pixel-aligned, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/pixel-aligned, 8 views, known poses/fscore", "{:.3f}"),
        Row("methods/DiT inside the hull, 4 views, known poses/fscore", "{:.3f}"),
        Row("ood/visual hull/fscore", "{:.3f}"),
        Row("ood/pixel-aligned/fscore", "{:.3f}"),
        Row("methods/diffusion, 4 views, default poses/fscore", "{:.3f}"),
        Row("methods/diffusion, 1 view, known poses/fscore", "{:.3f}"),
        Row("methods/diffusion, 1 view, default poses/fscore", "{:.3f}"),
        Row("methods/diffusion, 8 views, known poses/fscore", "{:.3f}"),
        Row("methods/oracle retrieval/fscore", "{:.3f}"),
        Row("methods/fitted to SDF samples/fscore", "{:.3f}"),
        Row("methods/refined, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/refined, 1 view, known poses/fscore", "{:.3f}"),
        Row("methods/pose search + refined, 4 views, default poses/fscore", "{:.3f}"),
        Row("methods/best of 8, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/retrieval, 4 views, known poses/fscore", "{:.3f}"),
        Row("methods/refined, 4 views, known poses/chamfer_l1", "{:.4f}"),
        Row("methods/diffusion, 4 views, known poses/chamfer_l1", "{:.4f}"),
        Row("methods/refined, 4 views, known poses/one_part", "{:.2f}"),
        Row("methods/diffusion, 4 views, known poses/one_part", "{:.2f}"),
        Row("methods/fitted to SDF samples/iou", "{:.3f}"),
        Row("ood/diffusion/fscore", "{:.3f}"),
        Row("ood/refined/fscore", "{:.3f}"),
        Row("ood/retrieval/fscore", "{:.3f}"),
        Row("ood/oracle retrieval/fscore", "{:.3f}"),
        Row("ood/diffusion/holds_together", "{:.0%}"),
        Row("ood/refined/holds_together", "{:.0%}"),
        Row("pose_search_median_degrees", "{:.0f}"),
        Row("default_poses_median_degrees", "{:.0f}"),
        Row("held_out_shapes", "{} shapes"),
    ),
}

# the README's phase table: phase, notebook, its headline value (the key under ``values`` at full scale)
PHASES = (
    ("data", "00_data_foundation", None),
    ("data", "01_real_corpus", None),
    ("0", "02_anchor_decoders", Row("parameters/relu_pe", "{:,}", thesis.RELU_PE_PARAMETERS)),
    ("1, 1.5", "03_siren_warm_start", Row("perturbation/collapse_sigma/ReLU+PE", "{:.2f}",
                                          thesis.RELU_PE_COLLAPSE_SIGMA_MIN, bound="≥ ")),
    ("1", "04_relu_weight_dataset", Row("sdf_l1_median", "{:.5f}", thesis.PER_SHAPE_LOSS_MEDIAN)),
    ("diagnostic", "05_cosine_shell", Row("anchor start/pairwise_cosine", "{:.2f}", thesis.PAIRWISE_COSINE)),
    ("2", "06_weight_dit_unconditional", Row("generation/1nna", "{:.2f}")),
    ("5, 6", "07_weight_dit_single_view", Row("phase6/residual/distinct_top1", "{}", thesis.ATTRACTOR_SHAPES)),
    ("7", "08_weight_dit_multiview", Row("loss_ema", "{:.3f}", thesis.LOSS_EMA_PLATEAU)),
    ("8, 9", "09_weight_dit_ablations", Row("phase9/mesh/prediction/fscore", "{:.3f}")),
    ("10", "10_weight_autoencoder", Row("trap/weight MSE, 128 dims | held-out/fscore", "{:.3f}")),
    ("11", "11_deepsdf", Row("full/sdf_l1_mean", "{:.5f}", thesis.FULL_SDF_L1_MEAN)),
    ("12", "12_image_to_latent", Row("test/diffusion/fscore", "{:.3f}")),
    ("summary", "13_weight_vs_latent", None),
    ("3, 4", "14_hypernetwork_vae", Row("reconstruction/hypernetwork/fscore", "{:.3f}")),
    ("11, 12 vs N", "15_deepsdf_scaling", Row("by_n/586/test/diffusion/fscore", "{:.3f}")),
    ("12, unseen", "16_image_to_mesh_generalisation", Row("methods/diffusion, 4 views, known poses/fscore", "{:.3f}")),
    ("6 vs shell", "17_weight_collapse_dose", Row("doses/lr ÷ 16/vectors/rows_for_half", "{}", thesis.ATTRACTOR_SHAPES)),
)


def _record(stem: str, scale: str) -> dict | None:
    path = paths.REPO_ROOT / "figures" / "values" / f"{stem}.{scale}.json"  # the committed ones, whatever the env
    return json.loads(path.read_text()) if path.exists() else None


def _title_and_question(stem: str) -> tuple[str, str]:
    """The notebook's heading and its first paragraph (its question), from the py:percent source."""
    lines = (paths.NOTEBOOKS_DIR / f"{stem}.py").read_text().splitlines()
    md = [ln[2:] if ln.startswith("# ") else "" for ln in lines[lines.index("# %% [markdown]") + 1:]]
    title = md[0].lstrip("# ").strip()
    para = []
    for ln in md[2:]:
        if not ln.strip():
            break
        para.append(ln.strip())
    return title, " ".join(para)


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).strip().replace(" ", "-")


def fidelity_table() -> str:
    """Each headline finding of the write-up (:data:`sdfnets.thesis.CLAIMS`) beside ours at full scale, with the
    verdict its rule gives: markdown, for the results page and the report."""
    rows = ["| finding of the write-up | thesis | here (full) | verdict | phenomenon when | recorded in |",
            "|---|---:|---:|---|---|---|"]
    for c in thesis.CLAIMS:
        rec = _record(c.notebook, "full")
        ours = lookup(rec["values"], c.key) if rec else None
        ours = ours if isinstance(ours, (int, float)) else None
        shown = "—" if ours is None else thesis._fmt(ours)
        key = c.key.replace("|", "\\|")
        rows.append(f"| {c.finding} | {c.bound}{thesis._fmt(c.thesis)} | {shown} | {c.verdict(ours)} | {c.phenomenon} | "
                    f"{c.notebook[:2]}: `{key}` |")
    return "\n".join(rows) + "\n"


FIDELITY_INTRO = ("Each headline finding of the write-up beside the value our notebook records at full scale. The "
                  "verdict follows a rule written beside the finding in `lib/sdfnets/thesis.py` (`CLAIMS`): "
                  "*contradicted* when ours does not show the phenomenon (the column \"phenomenon when\"), "
                  "*reproduced* when it does and the number lies within the rule's tolerance of the write-up's, "
                  "*reproduced with a measured difference* otherwise (the notebook's section says which run measured "
                  "the difference).")


def ood_table() -> str:
    """The out-of-distribution numbers of notebooks 12, 15 and 16 side by side at full scale: which model, which
    shapes and views, and what each measured (markdown)."""
    from ..config import resolve

    full = resolve("full")
    r12, r15, r16 = (_record(s, "full") for s in ("12_image_to_latent", "15_deepsdf_scaling",
                                                   "16_image_to_mesh_generalisation"))

    def num(rec, key):
        v = lookup(rec["values"], key) if rec else None
        return "—" if not isinstance(v, (int, float)) else f"{v:.3f}"

    v15 = r15["values"] if r15 else {}
    n15 = max(v15.get("sizes", [0]))
    rows = ["| notebook | model | OOD shapes | views | DiT F@0.02 | retrieval F@0.02 | DiT − retrieval |",
            "|---|---|---:|---|---:|---:|---:|"]
    spec = [
        ("12", r12, f"phase 11 ({full.deepsdf.epochs:,} epochs per shape) + phase 12 ({full.image2latent.steps:,} "
                    "DiT steps): the release", "ood/full/shapes", None, None),
        ("15", r15, f"the scaling recipe at N = {n15}: DeepSDF {v15.get('epochs_per_shape', '?')} epochs per shape "
                    f"+ DiT {v15.get('dit_steps', '?'):,} steps, trained in the notebook",
         "ood_shapes", f"by_n/{n15}/ood/fscore_truth", "ood_manifold/retrieval/ood_fscore_truth"),
        ("16", r16, f"{lookup(r16['values'], 'pipeline') if r16 else '?'} (as 12)", "ood_shapes", "ood/diffusion/fscore",
         "ood/retrieval/fscore"),
    ]
    for nb, rec, model, shapes, dit, ret in spec:
        n = lookup(rec["values"], shapes) if rec else None
        d, r = (num(rec, k) if k else "not measured" for k in (dit, ret))
        gap = f"{float(d) - float(r):+.3f}" if d[0].isdigit() and r[0].isdigit() else "—"
        rows.append(f"| {nb} | {model} | {n if n is not None else '—'} | {full.image2latent.eval_views} random known-pose "
                    f"views per shape (`random_views`, seed 0) | {d} | {r} | {gap} |")
    return "\n".join(rows) + "\n"


OOD_INTRO = ("Notebooks 12, 15 and 16 measure the same out-of-distribution figures (a category no model saw) from the "
             "same views (the same seeded draw, at the same 128³ grid); retrieval is the same rule in both (the "
             "training shape whose views' mean image feature is nearest), decoded by each notebook's own decoder. What "
             "differs is the model: 15 trains its own DeepSDF and DiT with the scaling recipe (fewer epochs and "
             "steps, so every N fits), 12 and 16 use the release. 12 names the nearest training categories only.")


# where each weight DiT's statistics sit in its notebook's values: phase -> (notebook, prefix of its keys)
WEIGHT_DITS = {"phase5": ("07_weight_dit_single_view", "phase5/"), "phase6": ("07_weight_dit_single_view", "phase6/"),
               "phase7": ("08_weight_dit_multiview", "held-out/"), "phase8": ("09_weight_dit_ablations", "phase8/"),
               "phase9": ("09_weight_dit_ablations", "phase9/")}
BUDGET_COLUMNS = (("loss EMA", "loss_ema", "{:.3f}"), ("nearest for half", "vectors/rows_for_half", "{}"),
                  ("distinct nearest", "vectors/distinct_top1", "{}"), ("closer than target", "vectors/closer_share",
                                                                         "{:.2f}"),
                  ("held-out F", "mesh/prediction/fscore", "{:.3f}"))


def budget_table() -> str:
    """The weight DiTs of phases 5-9 at the 8,000 steps they first trained (``bench/notes/weight_dits_8k-gpu.json``)
    beside their notebooks' current full-scale values (markdown)."""
    path = paths.BENCH_DIR / "notes" / "weight_dits_8k-gpu.json"
    if not path.exists():
        return "*No 8,000-step record.*\n"
    first = json.loads(path.read_text())["runs"]

    def row(phase, steps, get, where):
        cells = [fmt.format(v) if isinstance(v := get(key), (int, float)) else "—" for _, key, fmt in BUDGET_COLUMNS]
        return f"| {phase} | {steps if steps is not None else '—'} | " + " | ".join(cells) + f" | {where} |"

    rows = ["| phase | steps | " + " | ".join(c for c, _, _ in BUDGET_COLUMNS) + " | recorded at |",
            "|---|---:|" + "---:|" * len(BUDGET_COLUMNS) + "---|"]
    for phase, (stem, prefix) in WEIGHT_DITS.items():
        old = first.get(phase, {})
        rows.append(row(phase, old.get("steps"), old.get, f"`{old.get('git_commit', '?')}`"))
        rec = _record(stem, "full")
        if rec:
            def here(key, v=rec["values"], prefix=prefix):  # the phase's own key, else the notebook's
                return lookup(v, prefix + key) if lookup(v, prefix + key) is not None else lookup(v, key)

            rows.append(row(phase, here("steps"), here, f"`{rec.get('git_commit', '?')}` (now)"))
    return "\n".join(rows) + "\n"


BUDGET_INTRO = ("The weight DiTs first trained 8,000 steps at full scale; the write-up trained 15,000 (its phase-7 "
                "loss plateaued near step 15,000). Each phase's first row is the 8,000-step run, kept in "
                "`bench/notes/weight_dits_8k-gpu.json`; the second is what its notebook records now (the same "
                "until the notebook reruns at the current preset).")


def results_page() -> str:
    out = ["# Results by notebook", "",
           "Generated by `python -m sdfnets.repro.results` from the committed values files (`figures/values/`) and "
           "the thesis' numbers (`lib/sdfnets/thesis.py`); do not edit by hand. Each notebook's section gives its "
           "question, where its values were recorded, its headline values at every committed scale beside the "
           "thesis' where the write-up states one, and the findings stored with the values. The report "
           "(`make report`) shows the same numbers under the notebooks' prose and figures.", "",
           "## The write-up's findings, here", "", FIDELITY_INTRO, "", fidelity_table(),
           "## Out-of-distribution numbers across notebooks", "", OOD_INTRO, "", ood_table(),
           "## Weight DiTs at 8,000 and 15,000 steps", "", BUDGET_INTRO, "", budget_table()]
    for stem in sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py")):
        title, question = _title_and_question(stem)
        recs = {s: r for s in SCALES if (r := _record(stem, s))}
        out += [f"## {title}", "", question, ""]
        if not recs:
            out += ["*No committed values.*", ""]
            continue
        for s, r in recs.items():
            out.append(f"- **{s}**: {r.get('corpus', '?')} ({r.get('num_shapes', '?')} shapes), "
                       f"{r.get('device', '?')}, commit `{r.get('git_commit', '?')}`")
        out.append("")
        rows = HEADLINES.get(stem, ())
        if rows:
            out += ["| value | " + " | ".join(recs) + " | thesis |", "|---|" + "---:|" * len(recs) + "---:|"]
            for row in rows:
                cells = [row.show(r["values"]) for r in recs.values()]
                out.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.show_thesis()} |")
            out.append("")
        for s, r in recs.items():
            found = thesis.findings(r)
            if found:
                out += [f"Findings at {s} (here · thesis):", ""] + [f"- {f}" for f in found] + [""]
    return "\n".join(out).rstrip() + "\n"


def phase_table() -> str:
    rows = ["| Phase | Notebook | Headline at full scale | Thesis |", "|---|---|---:|---:|"]
    for phase, stem, row in PHASES:
        title, _ = _title_and_question(stem)
        rec = _record(stem, "full")
        value = f"{row.label}: {row.show(rec['values'])}" if row and rec else "—"
        link = f"[{stem}](docs/results.md#{_anchor(title)})"
        rows.append(f"| {phase} | {link} | {value} | {row.show_thesis() if row else ''} |")
    return "\n".join(rows) + "\n"


def bench_page() -> str:
    out = ["# Benchmarks and recorded runs", "",
           "Generated by `python -m sdfnets.repro.results` from `bench/results/*.json`; do not edit by hand. "
           "`make bench [BENCH=name]` runs a benchmark (`bench/run.py`): each measures the project's code beside a "
           "baseline in one process and records the ratio. Dated notes on the GPU runs are in `bench/notes/`.", "",
           "## Benchmarks", "", "| benchmark | ratio | what the ratio means | device | commit |",
           "|---|---:|---|---|---|"]
    runs, shapes, variants = [], [], []
    for path in sorted((paths.BENCH_DIR / "results").glob("*.json")):
        if path.name.endswith("-quick.json"):  # harness checks (git-ignored), not results
            continue
        rec = json.loads(path.read_text())
        if "ratio" in rec and isinstance(rec["ratio"], (int, float)):
            out.append(f"| [{path.stem}](results/{path.name}) | {rec['ratio']:.3g} | "
                       f"{str(rec.get('ratio_meaning', '')).replace('|', '/')} | {rec.get('device', '?')} | "
                       f"`{str(rec.get('git_commit', '?'))[:7]}` |")
        elif "gpu_minutes" in rec:
            runs.append((path, rec))
        elif isinstance(rec.get("rows"), dict) and all("fscore" in r for r in rec["rows"].values()):
            shapes.append((path, rec))
        elif isinstance(rec.get("variants"), dict) and rec["variants"]:
            variants.append((path, rec))
    out += ["", "## Full-scale runs of the figures", "", "| results | commit | device | GPU-minutes | complete |",
            "|---|---|---|---:|---|"]
    for path, rec in runs:
        out.append(f"| [{path.stem}](results/{path.name}) | `{str(rec.get('commit', '?'))[:7]}` | "
                   f"{rec.get('device', '?')} | {rec['gpu_minutes']:.1f} | {'yes' if rec.get('complete') else 'no'} |")
    for path, rec in shapes:
        out += ["", f"## Shapes measured: [{path.stem}](results/{path.name})", "", str(rec.get("what", "")), "",
                "| row | F@0.02 | CD-L1 | IoU | one part | run | commit |", "|---|---:|---:|---:|---:|---|---|"]
        for name, r in rec["rows"].items():
            run = r.get("run") or next((k for k in rec.get("runs", {}) if name.startswith(k + ",")), "")
            commit = r.get("commit") or rec.get("runs", {}).get(run, {}).get("commit", rec.get("commit", "?"))
            cells = " | ".join(_number(r.get(k), f) for k, f in (("fscore", "{:.3f}"), ("chamfer_l1", "{:.3f}"),
                                                                  ("iou", "{:.3f}"), ("one_part", "{:.2f}")))
            out.append(f"| {name} | {cells} | {run} | `{str(commit)[:7]}` |")
        for run, info in rec.get("runs", {}).items():
            out.append(f"\n- **{run}** (`{info.get('commit', '?')}`): {info.get('note', '')}")
    for path, rec in variants:
        out += ["", f"## Variants compared: [{path.stem}](results/{path.name})", "",
                str(rec.get("what") or rec.get("note") or ""), "",
                f"{rec.get('device', '?')}, commit `{str(rec.get('commit') or rec.get('git_commit', '?'))[:7]}`"
                + (f", {rec['shapes']} shapes{' (every shape of the corpus)' if rec.get('all_shapes') else ''}"
                   if "shapes" in rec else "") + ".", ""]
        out += _variants_table(rec["variants"])
        out += _trajectory_tables(rec.get("trajectories", {}))
    return "\n".join(out) + "\n"


def _trajectory_tables(trajectories: dict) -> list[str]:
    """Per variant measured along its training (step count -> values), one table with a row per step count."""
    out = []
    for name, along in trajectories.items():
        if not along:
            continue
        rows = {f"{int(k):,}": v for k, v in sorted(along.items(), key=lambda kv: int(kv[0]))}
        out += ["", f"Along the training of {name}:", ""] + _variants_table(rows, "steps")
    return out


def _number(value, fmt: str) -> str:
    """A measured number for a table; "—" where there is none (an empty mesh has no Chamfer distance)."""
    return "—" if value is None or value != value else fmt.format(value)


def _variants_table(variants: dict, first: str = "variant") -> list[str]:
    """One row per variant, one column per value any of them recorded (numbers to 3 significant digits)."""
    keys = list(dict.fromkeys(k for v in variants.values() for k in v))

    def show(x) -> str:
        return f"{x:.3g}" if isinstance(x, float) else str(x)

    return ([f"| {first} | " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|---|" + "---:|" * len(keys)]
            + [f"| {name} | " + " | ".join(show(v.get(k, "")) for k in keys) + " |" for name, v in variants.items()])


BEGIN, END = "<!-- phases: generated by python -m sdfnets.repro.results -->", "<!-- /phases -->"


def readme_with_table(readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    return head + BEGIN + "\n" + phase_table() + rest[rest.index(END):]


def pages() -> dict[Path, str]:
    root = paths.REPO_ROOT
    return {root / "docs" / "results.md": results_page(), root / "bench" / "README.md": bench_page(),
            root / "README.md": readme_with_table((root / "README.md").read_text())}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stale = []
    for path, text in pages().items():
        if path.exists() and path.read_text() == text:
            continue
        if "--check" in argv:
            stale.append(path.relative_to(paths.REPO_ROOT))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(paths.REPO_ROOT)}")
    if stale:
        print("not a regeneration of the values (run python -m sdfnets.repro.results): "
              + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
