"""The README's result tables quote the committed values files and benchmark results, not memory.

Each entry names a README section (the text from its ``## `` heading to the next), a recorded value
(``figures/values/<notebook>.<scale>.json`` under ``values``, or ``bench/results/<name>.json``) and
how the README prints it; the test asserts that the printed form is in that section. A regenerated
value that moves, or a README edit that drifts, fails here with the section, the key and both forms.
"""

from __future__ import annotations

import json
import re

import pytest

from sdfnets import paths

P11 = "## Phase 11 at full scale"
P01 = "## Phases 0–1.5 at full scale"
P27 = "## Phases 2 and 5–7 at full scale"
P810 = "## Phases 8–10 at full scale"
P12 = "## Phase 12 at full scale"
P34 = "## Phases 3 and 4 at full scale"
BENCH = "## Benchmarks"
GPUS = "## Several GPUs"
N15, N16 = "15_deepsdf_scaling.full", "16_image_to_mesh_generalisation.full"  # values files
P15 = "## The DeepSDF scaling diagnostic at full scale"
SEQ = "## Every notebook at full"
FULL_GPU = "bench:figures_full-gpu"  # the whole sequence at f091519 (4 H200)
H100_GPU = "bench:figures_full_h100-gpu"  # the whole sequence at d865395 (4 H100)
X2_GPU = "bench:figures_full_2xh200-gpu"  # the whole sequence at cf16660, four jobs per GPU (2 H200)
X4_GPU = "bench:figures_full_4xh200_c5d6bda-gpu"  # the whole sequence at c5d6bda, two jobs per GPU (4 H200)
X4B_GPU = "bench:figures_full_4xh200_c4917eb-gpu"  # at c4917eb: faster weight DiT, three jobs per GPU in wave 2
X4C_GPU = "bench:figures_full_4xh200_9fc1497-gpu"  # at 9fc1497: the same sequence, each notebook's slowest cells
X4D_GPU = "bench:figures_full_4xh200_da1f4e5-gpu"  # at da1f4e5: frozen-latent work through the fused kernels
WDIT = "bench:weight_dit_step-gpu"  # the weight DiT's step: fused AdamW, compiled blocks (one H100)
LDIT = "bench:latent_dit_step-gpu"  # the same variants for phase 12's latent DiT
OLD_GPU = "bench:figures_full_7b7d265-gpu"  # one job per GPU at 7b7d265 (4 H100)
PAIRED = "bench:figures_full_paired-gpu"  # the run with two jobs per GPU (incomplete)
WAVE1 = "bench:figures_full_wave1-gpu"  # wave 1 alone at c40acd7 (the node was lost after it)
QS, CPU_RUN = "## Quick start", "bench:figures_cpu"  # the cpu-scale run, measured from a fresh clone

# (README section, source, key path, format)
CHECKS = [
    (P11, "11_deepsdf.full", "pilot/large/sdf_l1_mean", "{:.5f}"),
    (P11, "11_deepsdf.full", "pilot/large/sdf_l1_max", "{:.5f}"),
    (P11, "11_deepsdf.full", "full/sdf_l1_mean", "{:.5f}"),
    (P11, "11_deepsdf.full", "full/sdf_l1_max", "{:.5f}"),
    (P11, "11_deepsdf.full", "pilot/small/sdf_l1_mean", "{:.5f}"),
    (P11, "11_deepsdf.full", "pilot/large/latent_cosine", "−{:.2f}", -1),
    (P11, "11_deepsdf.full", "full/latent_cosine", "{:+.3f}"),
    (P11, "11_deepsdf.full", "pilot/large/fscore", "{:.3f}"),
    (P11, "11_deepsdf.full", "pilot/large/iou", "{:.3f}"),
    (P11, "11_deepsdf.full", "pilot/large/normal_consistency", "{:.3f}"),
    (P11, "11_deepsdf.full", "full/fscore", "{:.3f}"),
    (P11, "11_deepsdf.full", "full/iou", "{:.3f}"),
    (P11, "11_deepsdf.full", "full/normal_consistency", "{:.3f}"),
    (P11, "11_deepsdf.full", "test_reconstruction/sdf/fscore", "F-score {:.3f}"),
    (P11, "11_deepsdf.full", "test_reconstruction/sdf/iou", "IoU {:.3f}"),
    (P11, "11_deepsdf.full", "test_reconstruction/shapes", "({} shapes)"),
    (P11, "11_deepsdf.full", "full/shapes", "{} shapes"),
    (P11, "11_deepsdf.full", "full/train_seconds", "{:.0f} s"),
    (P11, "11_deepsdf.full", "full/points_per_second", "{:.1f} M point-samples/s", 1e-6),
    (P01, "02_anchor_decoders.full", "parameters/relu_pe", "{:,}"),
    (P01, "04_relu_weight_dataset.full", "sdf_l1_median", "{:.5f}"),
    (P01, "04_relu_weight_dataset.full", "sdf_l1_p95", "{:.5f}"),
    (P01, "04_relu_weight_dataset.full", "sdf_l1_max", "max {:.4f}"),
    (P01, "04_relu_weight_dataset.full", "train_seconds", "{:.0f} s"),
    (P01, "04_relu_weight_dataset.full", "steps", "{:,} steps"),
    (P01, "03_siren_warm_start.full", "perturbation/collapse_sigma/ReLU+PE", "ReLU+PE {:.2f}"),
    (P01, "03_siren_warm_start.full", "perturbation/collapse_sigma/SIREN", "SIREN {:.2f}"),
    (P01, "05_cosine_shell.full", "anchor start/pairwise_cosine", "{:.2f}"),
    (P01, "05_cosine_shell.full", "anchor start/low_std_dims", "| {} "),
    (P01, "05_cosine_shell.full", "anchor start/share_along_start", "{:.2f}"),
    (P01, "05_cosine_shell.full", "anchor start/pca_dims_for_90pct", "{} of 774"),
    (P01, "03_siren_warm_start.full", "interpolation/SIREN, anchor start/deviation_mid", "{:.3f}"),
    (P01, "03_siren_warm_start.full", "interpolation/SIREN, random starts/deviation_mid", "{:.3f}"),
    (P01, "03_siren_warm_start.full", "interpolation/SIREN, random + weight matching/deviation_mid", "{:.3f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/mmd", "{:.3f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/cov", "{:.2f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/1nna", "{:.2f}"),
    (P27, "06_weight_dit_unconditional.full", "copier/mmd", "{:.3f}"),
    (P27, "06_weight_dit_unconditional.full", "copier/cov", "{:.2f}"),
    (P27, "06_weight_dit_unconditional.full", "copier/1nna", "{:.2f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/sample_nearest_train_median", "{:.4f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/reference_nearest_train_median", "{:.4f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/nearest_train_ratio", "ratio {:.2f}"),
    (P27, "06_weight_dit_unconditional.full", "generation/memorisation/memorised", "{:.1f} %", 100),
    (P27, "06_weight_dit_unconditional.full", "token_entries", "{:,}"),
    (P27, "08_weight_dit_multiview.full", "parameters", "{:.1f} M", 1e-6),
    (P27, "07_weight_dit_single_view.full", "phase6/vectors/cos_true_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/residual/cos_true_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/vectors/top1_cos_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/residual/top1_cos_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/residual/rows_for_half", "| {} ("),
    (P27, "07_weight_dit_single_view.full", "phase6/residual/distinct_top1", "{} distinct"),
    (P27, "07_weight_dit_single_view.full", "phase5/vectors/cos_true_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase5/residual/cos_true_mean", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase5/vectors/truth_pairwise_cosine", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/vectors/cos_true_mean", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/residual/cos_true_mean", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/residual/rows_for_half", "{} shapes for half"),
    (P27, "08_weight_dit_multiview.full", "by_views/1/residual_cos_true_mean", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "by_views/8/residual_cos_true_mean", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "loss_ema", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "training/mesh/prediction/fscore", "F {:.2f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/mesh/prediction/fscore", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/mesh/prediction/fscore", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/mesh/retrieval/fscore", "{:.3f}"),
    (P27, "07_weight_dit_single_view.full", "phase6/mesh/prediction_vs_top_attractor/fscore", "{:.3f}"),
    (P27, "08_weight_dit_multiview.full", "held-out/mesh/prediction_vs_top_attractor/fscore", "{:.3f}"),
    (P810, "09_weight_dit_ablations.full", "phase8/mesh/prediction/fscore", "F {:.3f}"),
    (P810, "09_weight_dit_ablations.full", "phase9/mesh/prediction/fscore", "F {:.3f}"),
    (P810, "10_weight_autoencoder.full", "trap/weight MSE, 128 dims | held-out/fscore", "{:.3f}"),
    (P810, "10_weight_autoencoder.full", "trap/function (SDF), 128 dims | held-out/fscore", "{:.3f}"),
    (P810, "10_weight_autoencoder.full", "at_thesis_cosine/random direction/fscore", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/hypernetwork/sdf_l1_median", "{:.5f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/per-shape decoders (phase 1)/sdf_l1_median", "{:.5f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/hypernetwork/fscore", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/hypernetwork/iou", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/per-shape decoders (phase 1)/fscore", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "reconstruction/per-shape decoders (phase 1)/iou", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "mesh_shapes", "meshes of {} training"),
    (P34, "14_hypernetwork_vae.full", "hypernet_parameters", "{:,}"),
    (P34, "14_hypernetwork_vae.full", "code_entries", "{:,} code entries"),
    (P34, "14_hypernetwork_vae.full", "phase1_weights", "{:,} weights"),
    (P34, "14_hypernetwork_vae.full", "train_seconds/hypernetwork", "trained in {:.0f} s"),
    (P34, "14_hypernetwork_vae.full", "shell/hypernetwork/pairwise_cosine", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "shell/per-shape decoders (phase 1)/pairwise_cosine", "({:.3f})"),
    (P34, "14_hypernetwork_vae.full", "shell/hypernetwork/residual_cosine", "residual cosine {:.3f}"),
    (P34, "14_hypernetwork_vae.full", "shell/per-shape decoders (phase 1)/residual_cosine", "({:.3f})"),
    (P34, "14_hypernetwork_vae.full", "generation/mmd", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "generation/cov", "{:.2f}"),
    (P34, "14_hypernetwork_vae.full", "generation/1nna", "{:.2f}"),
    (P34, "14_hypernetwork_vae.full", "copier/mmd", "{:.3f}"),
    (P34, "14_hypernetwork_vae.full", "copier/cov", "{:.2f}"),
    (P34, "14_hypernetwork_vae.full", "copier/1nna", "{:.2f}"),
    (P34, "14_hypernetwork_vae.full", "generation/sample_nearest_train_median", "{:.4f}"),
    (P34, "14_hypernetwork_vae.full", "generation/reference_nearest_train_median", "{:.4f}"),
    (P34, "14_hypernetwork_vae.full", "generation/nearest_train_ratio", "ratio {:.2f}"),
    (P34, "14_hypernetwork_vae.full", "generation/memorisation/memorised", "{:.1f} %", 100),
    (P34, "14_hypernetwork_vae.full", "test_shapes", "({} held-out"),
    (P12, "12_image_to_latent.full", "loss_ema/full", "{:.1f} × 10⁻³", 1e3),
    (P12, "12_image_to_latent.full", "loss_ema/pilot", "{:.1f} × 10⁻⁵", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/0/loss_ema_last", "end at {:.1f} × 10⁻⁴ (seed 0", 1e4),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/1/loss_ema_last", "run), {:.1f} × 10⁻⁵ and", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/2/loss_ema_last", "and {:.1f} × 10⁻⁵, and seed 2's", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/2/loss_ema_last10_min", "span\n{:.1f} × 10⁻⁵ to", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/2/loss_ema_last10_max", "to {:.1f} × 10⁻⁴;", 1e4),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/2/profile_mean_by_views/8", "is {:.1f}-2.2 × 10⁻⁵", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/0/profile_mean_by_views/8", "-{:.1f} × 10⁻⁵ for every seed", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/0/profile_mean_by_views/1", "it is {:.1f} × 10⁻⁵ for seed 0", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/1/profile_mean_by_views/1", "against {:.1f} × 10⁻⁵ and", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/2/profile_mean_by_views/1", "and {:.1f} × 10⁻⁵, and measured", 1e5),
    (P12, "bench:pilot_dit_spread-gpu", "seeds/0/worst_shape_by_views/1/share", "{:.0f} % of seed 0's", 100),
    (P12, X4_GPU, "drift_against_committed/12/outside/0/now", "sequences gave {:.1f} × 10⁻⁴ to", 1e4),
    (P12, X2_GPU, "drift_against_committed/12/outside/0/now", "to {:.1f} × 10⁻³. The loss", 1e3),
    (P12, "12_image_to_latent.full", "recall/full/cos_mean", "{:.3f} mean"),
    (P12, "12_image_to_latent.full", "recall/full/cos_min", "{:.2f} min"),
    (P12, "12_image_to_latent.full", "recall/full/top1", "{:.1f} %", 100),
    (P12, "12_image_to_latent.full", "recall/full/margin_median", "median {:.2f}"),
    (P12, "12_image_to_latent.full", "recall/pilot/margin_median", "median {:.2f}"),
    (P12, "12_image_to_latent.full", "recall/pilot/margin_min", "min {:.2f}"),
    (P12, "12_image_to_latent.full", "test/diffusion/fscore", "diffusion {:.3f}"),
    (P12, "12_image_to_latent.full", "test/diffusion/chamfer_l1", "{:.3f}"),
    (P12, "12_image_to_latent.full", "test/diffusion/iou", "{:.3f}"),
    (P12, "12_image_to_latent.full", "test/retrieval/fscore", "retrieval {:.3f}"),
    (P12, "12_image_to_latent.full", "test/retrieval/iou", "{:.3f}"),
    (P12, "12_image_to_latent.full", "release_mib", "{:.1f} MiB"),
    (P12, "12_image_to_latent.full", "release_cosine_mean", "cosine {:.5f}"),
    (P12, "12_image_to_latent.full", "ood/full/shapes", "{} out-of-distribution"),
    (BENCH, "bench:deepsdf_train-gpu", "project/value", "{:.1f} M point-samples/s", 1e-6),
    (BENCH, "bench:weight_dit_train-gpu", "project/value", "{:.1f} steps/s"),
    (BENCH, "bench:weight_dit_train-gpu", "baseline/value", "{:.1f} steps/s"),
    (BENCH, "bench:ddp_scaling-gpu", "project/value", "{:.1f} M/s on 2 ranks", 1e-6),
    (BENCH, "bench:ddp_scaling-gpu", "baseline/value", "{:.1f} M/s on 1 rank", 1e-6),
    (BENCH, "bench:ddp_scaling-gpu", "ratio", "{:.2f}×"),
    (BENCH, "bench:ddp_scaling-gpu", "scaling_efficiency", "{:.0%} efficiency", 1),
    (GPUS, "bench:ddp_scaling-gpu", "project/value", "two ranks {:.1f} M/s", 1e-6),
    (GPUS, "bench:ddp_scaling-gpu", "baseline/value", "one rank {:.1f} M", 1e-6),
    (GPUS, "bench:ddp_scaling-gpu", "scaling_efficiency", "efficiency of {:.0%}", 1),
    (QS, CPU_RUN, "minutes", "**{:.1f} minutes**"),
    (QS, CPU_RUN, "commit", "fresh clone of\n{:.7}"),
    (QS, CPU_RUN, "peak_memory_gb", "peak memory {:.2f} GB"),
    (QS, CPU_RUN, "notebooks/00_data_foundation/seconds", "00 {} "),
    (QS, CPU_RUN, "notebooks/01_real_corpus/seconds", "01 {} "),
    (QS, CPU_RUN, "notebooks/02_anchor_decoders/seconds", "02 {} "),
    (QS, CPU_RUN, "notebooks/03_siren_warm_start/seconds", "03 {} "),
    (QS, CPU_RUN, "notebooks/04_relu_weight_dataset/seconds", "04 {} "),
    (QS, CPU_RUN, "notebooks/05_cosine_shell/seconds", "05 {} "),
    (QS, CPU_RUN, "notebooks/06_weight_dit_unconditional/seconds", "06 {} "),
    (QS, CPU_RUN, "notebooks/07_weight_dit_single_view/seconds", "07 {} "),
    (QS, CPU_RUN, "notebooks/08_weight_dit_multiview/seconds", "08 {} "),
    (QS, CPU_RUN, "notebooks/09_weight_dit_ablations/seconds", "09 {} "),
    (QS, CPU_RUN, "notebooks/10_weight_autoencoder/seconds", "10 {} "),
    (QS, CPU_RUN, "notebooks/11_deepsdf/seconds", "11 {} "),
    (QS, CPU_RUN, "notebooks/12_image_to_latent/seconds", "12 {} "),
    (QS, CPU_RUN, "notebooks/13_weight_vs_latent/seconds", "13 {} "),
    (QS, CPU_RUN, "notebooks/14_hypernetwork_vae/seconds", "14 {} "),
    (QS, CPU_RUN, "notebooks/15_deepsdf_scaling/seconds", "15 {} "),
    (QS, CPU_RUN, "notebooks/16_image_to_mesh_generalisation/seconds", "16 {} "),
    (SEQ, FULL_GPU, "commit", "(commit {:.7}, one node with 4 NVIDIA H200"),
    (SEQ, FULL_GPU, "jobs/0/seconds", "rebuild from the pack, {} s with 64 workers"),
    (SEQ, FULL_GPU, "jobs/1/seconds", "16 until the limit ({})"),
    (SEQ, FULL_GPU, "jobs/2/seconds", "beside 00 ({})"),
    (SEQ, FULL_GPU, "jobs/3/notebooks/04/seconds", "04 {} ·"),
    (SEQ, FULL_GPU, "jobs/4/seconds", "beside 15 until the limit ({})"),
    (SEQ, FULL_GPU, "jobs/5/seconds", "11 on 16 cores ({})"),
    (SEQ, FULL_GPU, "jobs/6/seconds", "until the limit ({}, "),
    (SEQ, FULL_GPU, "jobs/10/seconds", "| 16 ({}) beside 08"),
    (SEQ, FULL_GPU, "jobs/11/seconds", "beside 08 ({})"),
    (SEQ, FULL_GPU, "jobs/12/seconds", "| 07 ({}) beside 14"),
    (SEQ, FULL_GPU, "jobs/14/seconds", "| 09 ({}) beside 06"),
    (SEQ, FULL_GPU, "jobs/18/seconds", "then 15 ({})"),
    (SEQ, FULL_GPU, "jobs/17/seconds", "beside 12 ({})"),
    (SEQ, FULL_GPU, "gpu_minutes", "In all **{:.1f} GPU-minutes**"),
    (SEQ, FULL_GPU, "gpu_seconds", "({:,.0f} s, the rebuild included: "),
    (SEQ, FULL_GPU, "gpu_occupied_seconds/0", "included: {:,.0f} + "),
    (SEQ, FULL_GPU, "gpu_occupied_seconds/3", " + {:,.0f} s on the four GPUs"),
    (SEQ, FULL_GPU, "job_seconds", "the jobs\nthemselves {:,.0f} s"),
    (SEQ, FULL_GPU, "by_notebook/00/seconds", "00 {} s, 06"),
    (SEQ, FULL_GPU, "by_notebook/09/seconds", "09 {} s,"),
    (SEQ, FULL_GPU, "by_notebook/16/seconds", "16 {} s (in wave 1"),
    (SEQ, FULL_GPU, "drift_against_committed/11/outside_tolerance", "11 with {} of 44"),
    (SEQ, FULL_GPU, "drift_against_committed/12/outside_tolerance", "12 with {} of 48"),
    (SEQ, FULL_GPU, "drift_against_committed/07/outside_tolerance", "07 ({} of 147)"),
    (SEQ, FULL_GPU, "drift_against_committed/09/values", "46 of {})"),
    (SEQ, FULL_GPU, "drift_against_committed/15/outside_tolerance", "15 ({} of 214)"),
    (SEQ, "bench:cards-gpu", "weight_dit_train/h100_time_over_h200", "step and the silhouette refinement take {:.2f}×"),
    (SEQ, "bench:cards-gpu", "refine/h100_time_over_h200", " and {:.2f}× as long on an H100"),
    (SEQ, H100_GPU, "commit", "**On H100s (commit {:.7}, one node with 4 NVIDIA H100"),
    (SEQ, H100_GPU, "gpu_minutes", "and 64 cores): {:.1f} GPU-minutes, over the"),
    (SEQ, H100_GPU, "gpu_minutes", "measured there, below, it took {:.1f}."),
    (SEQ, H100_GPU, "jobs/0/seconds", "(after the rebuild, {} s)"),
    (SEQ, H100_GPU, "jobs/1/seconds", "| 16 until the limit ({}) beside 00"),
    (SEQ, H100_GPU, "jobs/2/seconds", "beside 00 ({}), then 09"),
    (SEQ, H100_GPU, "jobs/3/notebooks/04/seconds", "04 {} ·"),
    (SEQ, H100_GPU, "jobs/4/seconds", "beside 15 until the limit ({})"),
    (SEQ, H100_GPU, "jobs/5/seconds", "11 on 16 cores ({})"),
    (SEQ, H100_GPU, "jobs/8/seconds", "10 ahead beside it ({})"),
    (SEQ, H100_GPU, "jobs/10/seconds", "| 16 until the limit ({}) beside 08"),
    (SEQ, H100_GPU, "jobs/12/seconds", "| 07 ({}) beside 14"),
    (SEQ, H100_GPU, "jobs/18/seconds", "then 15 ({})"),
    (SEQ, H100_GPU, "jobs/19/seconds", "| 16 ({}) |"),
    (SEQ, H100_GPU, "gpu_seconds", "In all {:,.0f} s: "),
    (SEQ, H100_GPU, "gpu_occupied_seconds/0", "s: {:,.0f} + "),
    (SEQ, H100_GPU, "gpu_occupied_seconds/3", " + {:,.0f} s on the four GPUs plus"),
    (SEQ, H100_GPU, "drift_against_committed/06/outside_tolerance", "06 with {} of 47"),
    (SEQ, H100_GPU, "drift_against_committed/11/outside_tolerance", "11 with {} of 44 (points-only"),
    (SEQ, H100_GPU, "drift_against_committed/09/outside_tolerance", "09 ({} of 259)"),
    (SEQ, H100_GPU, "drift_against_committed/15/outside_tolerance", "15 ({} of 214) on"),
    (SEQ, X2_GPU, "commit", "(commit {:.7}, one node with 2 NVIDIA H200"),
    (SEQ, X2_GPU, "gpu_minutes", "and 32 cores): {:.1f} GPU-minutes, every notebook"),
    (SEQ, X2_GPU, "commands/0/wall_seconds", "(commands of {}, "),
    (SEQ, X2_GPU, "commands/1/wall_seconds", ", {} and "),
    (SEQ, X2_GPU, "commands/2/wall_seconds", " and {} s;"),
    (SEQ, X2_GPU, "jobs/0/seconds", "(after the rebuild, {} s with 32 workers)"),
    (SEQ, X2_GPU, "jobs/1/notebooks/05/seconds", "05 {}, 06"),
    (SEQ, X2_GPU, "jobs/2/seconds", "beside 15 until the limit ({}); 07"),
    (SEQ, X2_GPU, "jobs/6/seconds", "until the limit ({}, "),
    (SEQ, X2_GPU, "jobs/8/seconds", ", {}) | 11"),
    (SEQ, X2_GPU, "jobs/4/seconds", "beside 16 until the limit ({}) and 00"),
    (SEQ, X2_GPU, "jobs/5/seconds", "and 00 ({}); 09"),
    (SEQ, X2_GPU, "jobs/7/seconds", "until the limit ({}, 293"),
    (SEQ, X2_GPU, "jobs/9/seconds", ", {}) | 943"),
    (SEQ, X2_GPU, "jobs/10/seconds", "| 07 until the limit ({}), 06"),
    (SEQ, X2_GPU, "jobs/11/seconds", "06 ({}), 14"),
    (SEQ, X2_GPU, "jobs/12/seconds", "14 ({}), 08"),
    (SEQ, X2_GPU, "jobs/13/seconds", "08 ({}), then 15"),
    (SEQ, X2_GPU, "jobs/18/seconds", "then 15 until the limit ({}) |"),
    (SEQ, X2_GPU, "jobs/14/seconds", "| 10 ({}), 09"),
    (SEQ, X2_GPU, "jobs/15/seconds", "09 until the limit ({}), 12"),
    (SEQ, X2_GPU, "jobs/16/seconds", "12 ({}), 11"),
    (SEQ, X2_GPU, "jobs/17/seconds", "11 ({}), then 16"),
    (SEQ, X2_GPU, "jobs/19/seconds", "then 16 until the limit ({}) |"),
    (SEQ, X2_GPU, "jobs/20/seconds", "| 15 ({}), 07"),
    (SEQ, X2_GPU, "jobs/21/seconds", "07 ({}), 09"),
    (SEQ, X2_GPU, "jobs/22/seconds", "09 ({}), 16"),
    (SEQ, X2_GPU, "jobs/23/seconds", "16 ({}) |"),
    (SEQ, X2_GPU, "gpu_seconds", "In all {:,.0f} s: 1,457"),
    (SEQ, X2_GPU, "gpu_occupied_seconds/0", "s: {:,.1f} + "),
    (SEQ, X2_GPU, "gpu_occupied_seconds/1", " + {:,.1f} s on the two GPUs"),
    (SEQ, X2_GPU, "job_seconds", "themselves {:,.0f} s, so four"),
    (SEQ, X2_GPU, "by_notebook/06/seconds", "(06 {} s against"),
    (SEQ, H100_GPU, "by_notebook/06/seconds", "against {} on 4 H100"),
    (SEQ, X2_GPU, "by_notebook/10/seconds", "10 {}\nagainst"),
    (SEQ, H100_GPU, "by_notebook/10/seconds", "against {}), but"),
    (SEQ, X2_GPU, "drift_against_committed/16/outside_tolerance", "16 had {} of 141 outside"),
    (SEQ, X2_GPU, "drift_against_committed/11/outside_tolerance", "11 ({} of 44), 12"),
    (SEQ, X2_GPU, "drift_against_committed/12/outside_tolerance", "12 ({} of 48),"),
    (SEQ, X2_GPU, "drift_against_committed/07/outside_tolerance", "07 ({} of 147), 08 (28"),
    (SEQ, X2_GPU, "drift_against_committed/08/outside_tolerance", "08 ({} of 217), 09 (51"),
    (SEQ, X2_GPU, "drift_against_committed/09/outside_tolerance", "09 ({} of 259), 10 (26"),
    (SEQ, X2_GPU, "drift_against_committed/10/outside_tolerance", "10 ({} of 280) and 15 (31"),
    (SEQ, X2_GPU, "drift_against_committed/15/outside_tolerance", "15 ({} of 214) on the kinds"),
    (SEQ, N16, "methods/refined, 4 views, default poses/fscore", "refined: F {:.3f}, as committed"),
    (SEQ, X4_GPU, "commit", "(commit {:.7}, one node with 4 NVIDIA H200"),
    (SEQ, X4B_GPU, "gpu_minutes", "| c4917eb | 4 H200 | 2, then 3 | {:.1f} | yes |"),
    (SEQ, X4C_GPU, "gpu_minutes", "| 9fc1497 | 4 H200 | 2, then 3 | {:.1f} | yes |"),
    (SEQ, X4C_GPU, "commit", "slowest cells (commit {:.7}, one node with 4"),
    (SEQ, X4C_GPU, "gpu_minutes", "\n64 cores): {:.1f} GPU-minutes, every notebook finished.** Asked for as 4 H100"),
    (SEQ, X4C_GPU, "commands/0/wall_seconds", "the first ({} s) rebuilt the data and ran wave 1"),
    (SEQ, X4C_GPU, "commands/1/wall_seconds", "the second ({} s)\nran wave 2"),
    (SEQ, X4C_GPU, "jobs/0/seconds", "The rebuild took {} s with 64 workers"),
    (SEQ, X4C_GPU, "jobs/1/seconds", "so wave 1 ran {} s."),
    (SEQ, X4C_GPU, "jobs/4/seconds", "came from wave 1's {} s) |"),
    (SEQ, X4C_GPU, "gpu_occupied_seconds/0", "GPU occupied\n{:.1f} + 625"),
    (SEQ, X4C_GPU, "gpu_occupied_seconds/1", "774.9 + {:.1f} + 795"),
    (SEQ, X4C_GPU, "gpu_occupied_seconds/2", "625.6 + {:.1f} + 595"),
    (SEQ, X4C_GPU, "gpu_occupied_seconds/3", "795.8 + {:.1f} s on the four GPUs plus the rebuild; the jobs"),
    (SEQ, X4C_GPU, "job_seconds", "the jobs themselves {:,.0f} s. Where each"),
    (SEQ, X4C_GPU, "by_notebook/16/seconds", "| 16 | {} | "),
    (SEQ, X4C_GPU, "jobs/16/notebooks/16/slowest_cells/0/seconds", "| 16 | 443.1 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/15/seconds", "| 15 | {} | "),
    (SEQ, X4C_GPU, "jobs/19/notebooks/15/slowest_cells/0/seconds", "| 15 | 425.5 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/07/seconds", "| 07 | {} | "),
    (SEQ, X4C_GPU, "jobs/10/notebooks/07/slowest_cells/0/seconds", "| 07 | 421.8 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/10/seconds", "| 10 | {} | "),
    (SEQ, X4C_GPU, "jobs/14/notebooks/10/slowest_cells/0/seconds", "| 10 | 339.5 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/09/seconds", "| 09 | {} | "),
    (SEQ, X4C_GPU, "jobs/12/notebooks/09/slowest_cells/0/seconds", "| 09 | 273.7 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/12/seconds", "| 12 | {} | "),
    (SEQ, X4C_GPU, "jobs/18/notebooks/12/slowest_cells/0/seconds", "| 12 | 248.7 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/08/seconds", "| 08 | {} | "),
    (SEQ, X4C_GPU, "jobs/11/notebooks/08/slowest_cells/0/seconds", "| 08 | 248.3 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/06/seconds", "| 06 | {} | "),
    (SEQ, X4C_GPU, "jobs/17/notebooks/06/slowest_cells/0/seconds", "| 06 | 236.8 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/11/seconds", "| 11 | {} | "),
    (SEQ, X4C_GPU, "jobs/15/notebooks/11/slowest_cells/0/seconds", "| 11 | 204.6 | {}: "),
    (SEQ, X4C_GPU, "by_notebook/14/seconds", "| 14 | {} | "),
    (SEQ, X4C_GPU, "jobs/13/notebooks/14/slowest_cells/0/seconds", "| 14 | 193.6 | {}: "),
    (SEQ, X4D_GPU, "gpu_minutes", "| da1f4e5 | 4 H200 | 2, then 3 | {:.1f} | yes |"),
    (SEQ, X4D_GPU, "commit", "fused kernels (commit {:.7}, one node with 4 NVIDIA H200"),
    (SEQ, X4D_GPU, "gpu_minutes", "cores): {:.1f} GPU-minutes, every notebook finished.** Asked for as 4 H100 a sixth"),
    (SEQ, X4D_GPU, "commands/0/wall_seconds", "the first ({} s) rebuilt the data (87.9"),
    (SEQ, X4D_GPU, "jobs/0/seconds", "rebuilt the data ({} s with 64\nworkers)"),
    (SEQ, X4D_GPU, "commands/1/wall_seconds", "the second ({} s) ran wave 2 with `--per-gpu 3`. GPU occupied\n711"),
    (SEQ, X4D_GPU, "gpu_occupied_seconds/0", "GPU occupied\n{:.1f} + 799"),
    (SEQ, X4D_GPU, "gpu_occupied_seconds/1", "711.4 + {:.1f} + 779"),
    (SEQ, X4D_GPU, "gpu_occupied_seconds/2", "799.5 + {:.1f} + 308"),
    (SEQ, X4D_GPU, "gpu_occupied_seconds/3", "779.4 + {:.1f} s on the four GPUs plus the rebuild; the jobs themselves 4,872"),
    (SEQ, X4D_GPU, "job_seconds", "the jobs themselves {:,.0f} s. Against 9fc1497's"),
    (SEQ, X4D_GPU, "by_notebook/11/seconds", "| 11 | {} | 230.8"),
    (SEQ, X4D_GPU, "jobs/3/notebooks/11/slowest_cells/0/seconds", "| 11 | 354.0 | {}: DeepSDF's training"),
    (SEQ, X4D_GPU, "jobs/3/notebooks/11/slowest_cells/1/seconds", "wave 1); {} the test-time reconstruction"),
    (SEQ, X4D_GPU, "by_notebook/10/seconds", "| 10 | {} | 130.1"),
    (SEQ, X4D_GPU, "jobs/16/notebooks/10/slowest_cells/0/seconds", "| 10 | 281.5 | {}: two latent DiTs"),
    (SEQ, X4D_GPU, "jobs/16/notebooks/10/slowest_cells/1/seconds", "held-out meshes; {} in the trap's meshes |"),
    (SEQ, X4D_GPU, "by_notebook/15/seconds", "| 15 | {} | 204.1"),
    (SEQ, X4D_GPU, "jobs/18/notebooks/15/slowest_cells/0/seconds", "| 15 | 251.9 | {}: DeepSDF, latent DiT"),
    (SEQ, X4D_GPU, "jobs/2/stopped_in/cell/seconds", "(wave 1 was stopped {} s into this cell, with its finished sizes kept)"),
    (SEQ, X4D_GPU, "by_notebook/16/seconds", "| 16 | {} | 122.6"),
    (SEQ, X4D_GPU, "jobs/17/notebooks/16/slowest_cells/0/seconds", "| 16 | 248.8 | {}: refinement at three"),
    (SEQ, X4D_GPU, "jobs/4/stopped_in/cell/seconds", "(wave 1 was stopped {} s into this cell); 86.2"),
    (SEQ, X4D_GPU, "jobs/17/notebooks/16/slowest_cells/1/seconds", "into this cell); {} the shapes of unseen"),
    (SEQ, X4D_GPU, "by_notebook/07/seconds", "| 07 | {} | 137.7"),
    (SEQ, X4D_GPU, "jobs/10/notebooks/07/slowest_cells/0/seconds", "| 07 | 213.6 | {}: the weight DiTs of phases 5 and 6 |"),
    (SEQ, X4D_GPU, "by_notebook/09/seconds", "| 09 | {} | 152.8"),
    (SEQ, X4D_GPU, "jobs/15/notebooks/09/slowest_cells/0/seconds", "| 09 | 198.8 | {}: the held-out predictions"),
    (SEQ, X4D_GPU, "jobs/15/notebooks/09/slowest_cells/1/seconds", "phases 7-9; {} the weight DiTs"),
    (SEQ, X4D_GPU, "by_notebook/14/seconds", "| 14 | {} | 58.6"),
    (SEQ, X4D_GPU, "jobs/11/notebooks/14/slowest_cells/0/seconds", "| 14 | 167.6 | {}: the VAE;"),
    (SEQ, X4D_GPU, "jobs/11/notebooks/14/slowest_cells/1/seconds", "the VAE; {} the hypernetwork |"),
    (SEQ, X4D_GPU, "by_notebook/12/seconds", "| 12 | {} | 86.2"),
    (SEQ, X4D_GPU, "jobs/12/notebooks/12/slowest_cells/0/seconds", "| 12 | 161.2 | {}: the latent DiTs |"),
    (SEQ, X4D_GPU, "by_notebook/08/seconds", "| 08 | {} | 93.2"),
    (SEQ, X4D_GPU, "jobs/14/notebooks/08/slowest_cells/0/seconds", "| 08 | 123.7 | {}: the held-out and training"),
    (SEQ, X4D_GPU, "jobs/14/notebooks/08/slowest_cells/1/seconds", "their meshes; {} the test-time DeepSDF latents"),
    (SEQ, X4D_GPU, "by_notebook/06/seconds", "| 06 | {} | 32.2"),
    (SEQ, X4D_GPU, "jobs/13/notebooks/06/slowest_cells/0/seconds", "| 06 | 43.3 | {}: the samples' meshes"),
    (SEQ, X4D_GPU, "jobs/1/stopped_in/slowest_cells/0/seconds", "its DiT had trained in wave 1, {} s) |"),
    (SEQ, "bench:cards-gpu", "refine_fused/h100_time_over_h200", "the fused refinement takes {:.2f}× as long on an H100"),
    (SEQ, "bench:cards-gpu", "reconstruct/h100_time_over_h200", "the fused\nreconstruction {:.2f}×"),
    (SEQ, "bench:cards-gpu", "deepsdf_train/h100_time_over_h200", "DeepSDF's fused training step {:.2f}× (two versions"),
    (BENCH, WDIT, "variants/graph + compiled blocks + fused AdamW/steps_per_s", "| H100 | {:.1f} steps/s (fused AdamW"),
    (BENCH, WDIT, "variants/graph + compiled blocks + fused AdamW/first_10_steps_s", "compilation, {:.1f} s on a fresh"),
    (BENCH, WDIT, "variants/graph + compiled model + fused AdamW/steps_per_s", "eight; {:.1f} with the whole model compiled"),
    (BENCH, WDIT, "variants/graph + compiled model + fused AdamW/first_10_steps_s", "model compiled, {:.1f} s) |"),
    (BENCH, WDIT, "variants/graph/steps_per_s", "| {:.1f} steps/s (the graph above, foreach"),
    (BENCH, WDIT, "variants/graph + fused AdamW/steps_per_s", "fused AdamW alone {:.1f}) |"),
    (BENCH, WDIT, "variants/graph + compiled blocks + fused AdamW/over_graph", "| {:.2f}× (loss EMA after 310"),
    (BENCH, LDIT, "variants/graph + fused AdamW/steps_per_s", "| H100 | {:.1f} steps/s (fused AdamW; with"),
    (BENCH, LDIT, "variants/graph + compiled blocks + fused AdamW/steps_per_s", "compiled blocks {:.1f}, not used"),
    (BENCH, LDIT, "variants/graph + compiled blocks + fused AdamW/first_10_steps_s", "not used: {:.1f} s of compilation"),
    (BENCH, LDIT, "variants/graph/steps_per_s", "| {:.1f} steps/s (foreach AdamW) |"),
    (BENCH, LDIT, "variants/graph + fused AdamW/over_graph", "(foreach AdamW) | {:.2f}× |"),
    (SEQ, X4B_GPU, "commit", "wave 2 (commit {:.7}, one node with 4"),
    (SEQ, X4B_GPU, "gpu_minutes", "\n{:.1f} GPU-minutes, every notebook finished.** Asked for as 4 H100 again"),
    (SEQ, WDIT, "variants/graph/steps_per_s", "on one H100, {:.1f} → 85"),
    (SEQ, WDIT, "variants/graph + compiled blocks + fused AdamW/steps_per_s", " → {:.1f} steps/s after 11"),
    (SEQ, WDIT, "variants/graph + compiled blocks + fused AdamW/first_10_steps_s", "after {:.1f} s of compilation; the"),
    (SEQ, X4B_GPU, "commands/0/wall_seconds", "the first command ({} s) rebuilt"),
    (SEQ, X4B_GPU, "jobs/0/seconds", "rebuilt the data ({} s) and\nran wave 1 with two"),
    (SEQ, X4B_GPU, "commands/1/wall_seconds", "the second ({} s) ran wave 2"),
    (SEQ, X4B_GPU, "gpu_occupied_seconds/0", "GPU occupied {:.1f} + 686"),
    (SEQ, X4B_GPU, "gpu_occupied_seconds/1", "706.7 + {:.1f} + 889"),
    (SEQ, X4B_GPU, "gpu_occupied_seconds/2", " + {:.1f} + 593"),
    (SEQ, X4B_GPU, "gpu_occupied_seconds/3", "+ {:.1f} s on the four GPUs plus the\nrebuild; the jobs themselves 5,395"),
    (SEQ, X4B_GPU, "job_seconds", "the jobs themselves {:,.0f} s. Per"),
    (SEQ, X4B_GPU, "by_notebook/06/seconds", "its finishing run: 06 {} s, 07"),
    (SEQ, X4B_GPU, "by_notebook/07/seconds", ", 07 {} s, 08 178"),
    (SEQ, X4B_GPU, "by_notebook/08/seconds", ", 08 {} s,\n09 262"),
    (SEQ, X4B_GPU, "by_notebook/09/seconds", "\n09 {} s, 10 394"),
    (SEQ, X4B_GPU, "by_notebook/10/seconds", ", 10 {} s, 11 201"),
    (SEQ, X4B_GPU, "by_notebook/11/seconds", ", 11 {} s, 12 219"),
    (SEQ, X4B_GPU, "by_notebook/12/seconds", ", 12 {} s, 14 182"),
    (SEQ, X4B_GPU, "by_notebook/14/seconds", ", 14 {} s, 15 360"),
    (SEQ, X4B_GPU, "by_notebook/15/seconds", ", 15 {} s, 16 466"),
    (SEQ, X4B_GPU, "by_notebook/16/seconds", ", 16 {} s (06, 10, 11, 12, 15 and 16\nstarted"),
    (SEQ, X4_GPU, "gpu_minutes", "On the same cards c5d6bda took {:.1f} GPU-minutes"),
    (SEQ, X4B_GPU, "drift_against_committed/06/outside_tolerance", "06 with {} of 47 outside (the"),
    (SEQ, X4B_GPU, "drift_against_committed/06/values", "06 with 5 of {} outside (the"),
    (SEQ, X4B_GPU, "drift_against_committed/06/outside/2/committed", "held-out shapes,\n{:.2f} → 0.48"),
    (SEQ, X4B_GPU, "drift_against_committed/06/outside/2/now", " → {:.2f}; 0.68 on"),
    (SEQ, H100_GPU, "drift_against_committed/06/outside/3/now", "0.48; {:.2f} on the H100s"),
    (SEQ, X4B_GPU, "drift_against_committed/11/outside_tolerance", "d865395), 11 ({} of 44), 12 (12"),
    (SEQ, X4B_GPU, "drift_against_committed/12/outside_tolerance", "12 ({} of 48), 07 (47"),
    (SEQ, X4B_GPU, "drift_against_committed/07/outside_tolerance", "07 ({} of 147), 08 (41"),
    (SEQ, X4B_GPU, "drift_against_committed/08/outside_tolerance", "08 ({} of 217),\n09 (67"),
    (SEQ, X4B_GPU, "drift_against_committed/09/outside_tolerance", "\n09 ({} of 259), 10 (29"),
    (SEQ, X4B_GPU, "drift_against_committed/10/outside_tolerance", "10 ({} of 280) and 15 (28"),
    (SEQ, X4B_GPU, "drift_against_committed/15/outside_tolerance", " 15 ({} of 214), the same kinds"),
    (SEQ, X4_GPU, "gpu_minutes", "| c5d6bda | 4 H200 | 2 | {:.1f} | yes |"),
    (SEQ, X2_GPU, "gpu_minutes", "| cf16660 | 2 H200 | 4 | {:.1f} | yes |"),
    (SEQ, H100_GPU, "gpu_minutes", "| d865395 | 4 H100 | 2 | {:.1f} | yes |"),
    (SEQ, FULL_GPU, "gpu_minutes", "| f091519 | 4 H200 | 2 | {:.1f} | yes |"),
    (SEQ, PAIRED, "gpu_minutes", "| 1a75226 | 4 H200 | 2 | {:.1f} for waves 1-2 | no"),
    (SEQ, OLD_GPU, "gpu_minutes", "| 7b7d265 | 4 H100 | 1 | {:.1f} | all but"),
    (SEQ, WAVE1, "gpu_minutes", "| c40acd7 | 4 H100 | 2 | {:.1f} for wave 1 | no"),
    (SEQ, X4_GPU, "gpu_minutes", "and 64 cores): {:.1f} GPU-minutes, every"),
    (SEQ, X4_GPU, "jobs/0/seconds", "rebuilt the data ({} s)"),
    (SEQ, X4_GPU, "commands/0/wall_seconds", "at the command's limit ({} s)"),
    (SEQ, X4_GPU, "commands/1/wall_seconds", "ran\nthe rest ({} s)"),
    (SEQ, X4_GPU, "jobs/9/seconds", "next command ({} s in all)"),
    (SEQ, X4_GPU, "jobs/12/notebooks/08/seconds", "beside it ({} s)"),
    (SEQ, X4_GPU, "gpu_occupied_seconds/0", "GPU occupied {:.1f} + "),
    (SEQ, X4_GPU, "gpu_occupied_seconds/1", " + {:.1f} + 885"),
    (SEQ, X4_GPU, "gpu_occupied_seconds/2", " + {:.1f} + 589"),
    (SEQ, X4_GPU, "gpu_occupied_seconds/3", " + {:.1f} s on the four GPUs"),
    (SEQ, FULL_GPU, "gpu_minutes", "same cards took {:.1f} GPU-minutes at f091519"),
    (SEQ, X2_GPU, "gpu_minutes", "and {:.1f} at cf16660 with four"),
    (SEQ, X4_GPU, "drift_against_committed/16/outside_tolerance", "16 too ({} of its 141 values"),
    (SEQ, X4_GPU, "drift_against_committed/16/values", "of its {} values outside"),
    (SEQ, X4_GPU, "drift_against_committed/11/outside_tolerance", "11 ({} of 44), 12 (11 of 48), 07 (43"),
    (SEQ, X4_GPU, "drift_against_committed/12/outside_tolerance", "12 ({} of 48), 07 (43"),
    (SEQ, X4_GPU, "drift_against_committed/07/outside_tolerance", "07 ({} of 147),\n08 (23"),
    (SEQ, X4_GPU, "drift_against_committed/08/outside_tolerance", "08 ({} of 217), 09 (39"),
    (SEQ, X4_GPU, "drift_against_committed/09/outside_tolerance", "09 ({} of 259), 10 (27"),
    (SEQ, X4_GPU, "drift_against_committed/10/outside_tolerance", "10 ({} of 280) and 15 (27"),
    (SEQ, X4_GPU, "drift_against_committed/15/outside_tolerance", "15 ({} of 214). Since"),
    (SEQ, "bench:oracle_retrieval-gpu", "baseline/value", "takes {:.0f} s on the CPU"),
    (SEQ, "bench:oracle_retrieval-gpu", "project/value", "and {:.2f} s on the GPU"),
    (SEQ, "bench:oracle_retrieval-gpu", "sizes/train_shapes", "against the {} training shapes"),
    (SEQ, "bench:mesh_metrics-gpu", "baseline/value", "{:.1f} s one by one"),
    (SEQ, "bench:mesh_metrics-gpu", "project/value", "{:.1f} s over 8 workers started in the call"),
    (SEQ, "bench:mesh_metrics-gpu", "warm_pool_s", "{:.1f} s once they run"),
    (SEQ, "bench:mesh_metrics-gpu", "sizes/meshes", "{} meshes at 10's sizes"),
    (SEQ, "bench:mesh_metrics-cpu", "baseline/value", "normalised, {:.1f} s against"),
    (SEQ, "bench:mesh_metrics-cpu", "project/value", "against {:.1f} s over 2)"),
    (SEQ, "bench:mesh_metrics-cpu", "sizes/workers", "over {})"),
    (SEQ, PAIRED, "gpu_minutes", "waves 1\nand 2 in {:.1f} GPU-minutes"),
    (SEQ, PAIRED, "commit", "at {:.7} (`bench"),
    (SEQ, WAVE1, "commit", "commit {:.7} (4 H100"),
    (SEQ, WAVE1, "jobs/0/seconds", "rebuild {} s with 64 workers"),
    (SEQ, WAVE1, "by_notebook/00/seconds", "00 {} s"),
    (SEQ, WAVE1, "by_notebook/04/seconds", " + {} + "),
    (SEQ, WAVE1, "by_notebook/11/seconds", "11 {} s"),
    (SEQ, OLD_GPU, "gpu_minutes", "**{:.1f} GPU-minutes**"),
    (SEQ, OLD_GPU, "gpu_seconds", "({:,.0f} s): "),
    (SEQ, OLD_GPU, "commit", "One job per GPU at {:.7} "),
    (SEQ, OLD_GPU, "by_notebook/16/seconds", "16 alone took {} s"),
    (SEQ, OLD_GPU, "by_notebook/07/seconds", "07 {} s"),
    (SEQ, OLD_GPU, "by_notebook/06/seconds", "06 {} s"),
    (P15, N15, "by_n/20/dit_loss_ema", "{:.4f}"),
    (P15, N15, "by_n/586/dit_loss_ema", "{:.4f}"),
    (P15, N15, "by_n/20/sdf_l1_mean", "{:.4f}"),
    (P15, N15, "by_n/586/sdf_l1_mean", "{:.4f}"),
    (P15, N15, "by_n/20/test/diffusion/fscore", "{:.3f}"),
    (P15, N15, "by_n/586/test/diffusion/fscore", "{:.3f}"),
    (P15, N15, "by_n/586/test/retrieval/fscore", "{:.3f}"),
    (P15, N15, "by_n/400/test/retrieval/fscore", "{:.3f}"),
    (P15, N15, "by_n/20/ood_nearest_cosine", "{:.3f}"),
    (P15, N15, "by_n/586/ood_nearest_cosine", "{:.3f}"),
    (P15, N15, "by_n/20/ood/holds_together", "{:.2f}"),
    (P15, N15, "by_n/400/ood/holds_together", "{:.2f}"),
    (P15, N15, "by_n/586/ood/holds_together", "{:.2f}"),
    (P15, N15, "by_n/586/ood/fscore_truth", "{:.3f}"),
    (P15, N15, "by_n/586/ood/components_mean", "{:.1f} parts"),
    (P15, N15, "by_n/586/ood/one_part", "{:.0%}", 1),
    (P15, N15, "ood_manifold/retrieval/ood_holds_together", "{:.2f}"),
    (P15, N15, "ood_manifold/retrieval/ood_fscore_truth", "{:.3f}"),
    (P15, N15, "ood_manifold/blend 0.5/ood_holds_together", "{:.2f}"),
    (P15, N15, "ood_manifold/blend 1/ood_holds_together", "{:.2f}"),
    (P15, N15, "ood_manifold/blend 1/test_fscore", "{:.3f}"),
    (P15, N15, "ood_manifold/blend 0.5/ood_fscore_truth", "{:.3f}"),
    (P15, N15, "epochs_per_shape", "{} epochs per shape"),
    (P15, N15, "dit_steps", "{:,} DiT steps"),
    (P12, N16, "methods/diffusion, 4 views, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/diffusion, 4 views, default poses/fscore", "{:.3f}"),
    (P12, N16, "methods/diffusion, 1 view, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/diffusion, 1 view, default poses/fscore", "{:.3f}"),
    (P12, N16, "methods/diffusion, 8 views, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/oracle retrieval/fscore", "{:.3f}"),
    (P12, N16, "methods/fitted to SDF samples/fscore", "{:.3f}"),
    (P12, N16, "methods/refined, 4 views, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/refined, 1 view, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/refined, 4 views, default poses/fscore", "{:.3f}"),
    (P12, N16, "methods/pose search + refined, 4 views, default poses/fscore", "{:.3f}"),
    (P12, N16, "methods/best of 8, 4 views, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/retrieval, 4 views, known poses/fscore", "{:.3f}"),
    (P12, N16, "methods/refined, 4 views, known poses/chamfer_l1", "{:.4f}"),
    (P12, N16, "methods/diffusion, 4 views, known poses/chamfer_l1", "{:.4f}"),
    (P12, N16, "methods/refined, 4 views, known poses/one_part", "{:.2f}"),
    (P12, N16, "methods/diffusion, 4 views, known poses/one_part", "{:.2f}"),
    (P12, N16, "methods/fitted to SDF samples/iou", "{:.3f}"),
    (P12, N16, "ood/diffusion/fscore", "{:.3f}"),
    (P12, N16, "ood/refined/fscore", "{:.3f}"),
    (P12, N16, "ood/retrieval/fscore", "{:.3f}"),
    (P12, N16, "ood/oracle retrieval/fscore", "{:.3f}"),
    (P12, N16, "ood/diffusion/holds_together", "{:.0%}", 1),
    (P12, N16, "ood/refined/holds_together", "{:.0%}", 1),
    (P12, N16, "pose_search_median_degrees", "{:.0f}°"),
    (P12, N16, "default_poses_median_degrees", "{:.0f}°"),
    (P12, N16, "held_out_shapes", "all {} shapes"),
    (BENCH, "bench:image2mesh_latency-gpu", "project/value", "{:.2f} s, median of 5"),
    (BENCH, "bench:image2mesh_latency-gpu", "baseline/value", "{:.2f} s (decoder on every grid point"),
    (BENCH, "bench:image2mesh_latency-gpu", "plain_128_s", "{:.3f} s / "),
    (BENCH, "bench:image2mesh_latency-gpu", "refined_128_s", " / {:.2f} s (refinement"),
    (BENCH, "bench:image2mesh_latency-gpu", "refined_stages_s/refine_s", "refinement {:.2f} s"),
    (BENCH, "bench:refine-gpu", "project/value", "| {:.1f} s (rays that meet"),
    (BENCH, "bench:refine-gpu", "baseline/value", "| {:.1f} s (every ray)"),
    (BENCH, "bench:refine-gpu", "ratio", "| {:.2f}× (latents"),
    (BENCH, "bench:refine-gpu", "sizes/rays_kept_per_view", "{:,} of 2,304"),
    (BENCH, "bench:refine_fused-gpu", "project/value", "| H100 | {:.2f} s |"),
    (BENCH, "bench:refine_fused-gpu", "baseline/value", "| {:.2f} s (the decoder as a module"),
    (BENCH, "bench:refine_fused-gpu", "ratio", "| {:.2f}× (refined latents"),
    (BENCH, "bench:refine_fused-gpu", "max_abs_latent_difference", "within {:.4f} of each other"),
    (BENCH, "bench:refine_fused-gpu", "max_abs_latent_move", "moved up to {:.3f} by"),
    (BENCH, "bench:reconstruct-gpu", "project/value", "| H100 | {:.2f} s (the fused DeepSDF kernels, bf16"),
    (BENCH, "bench:reconstruct-gpu", "baseline/value", "| {:.2f} s (the decoder as a module, float32)"),
    (BENCH, "bench:reconstruct-gpu", "ratio", "| {:.2f}× (clamped SDF L1"),
    (BENCH, "bench:reconstruct-gpu", "sdf_l1_fused", "L1 of the fits {:.1e} against"),
    (BENCH, "bench:reconstruct-gpu", "sdf_l1_module", "against {:.1e}, from"),
    (BENCH, "bench:reconstruct-gpu", "sdf_l1_start", "from {:.1e} at the start"),
    (SEQ, "bench:reconstruct-gpu", "ratio", "16 ({:.2f}×, in bf16"),
    (BENCH, "bench:grid_chunk-cpu", "project/value", "{:.2f} s (4,096-point chunks"),
    (BENCH, "bench:grid_chunk-cpu", "baseline/value", "{:.2f} s (2^18-point chunks"),
    (BENCH, "bench:grid_chunk-cpu", "ratio", "| {:.2f}× (thesis'"),
    (BENCH, "bench:grid_chunk-cpu", "thesis_decoder_512x8/ratio", "512 × 8 decoder {:.2f}×"),
    (BENCH, "bench:grid_chunk-cpu", "weight_space_batch/ratio", "weight-space networks {:.2f}×"),
    (QS, "bench:grid_chunk-cpu", "ratio", "({:.2f}× faster for"),
    (BENCH, "bench:image2mesh_latency-cpu", "stages_s/latent_s", "(latent {:.1f} s, decoder"),
    (BENCH, "bench:image2mesh_latency-cpu", "stages_s/grid_s", "decoder {:.1f} s;"),
    (BENCH, "bench:image2mesh_latency-cpu", "ratio", "| {:.2f}× |"),
    (BENCH, "bench:image2mesh_latency-cpu", "project/value", "{:.1f} s (latent"),
    (BENCH, "bench:image2mesh_latency-cpu", "baseline/value", "| {:.1f} s |"),
    (BENCH, "bench:image2mesh_latency-cpu", "plain_128_s", "{:.1f} s for the same call timed again"),
    (BENCH, "bench:image2mesh_latency-cpu", "refined_128_s", "{:.1f} s (refinement"),
    (BENCH, "bench:image2mesh_latency-cpu", "refined_stages_s/refine_s", "refinement {:.1f} s"),
]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start:nxt if nxt >= 0 else len(text)]


def _value(source: str, key: str):
    if source.startswith("bench:"):
        path = paths.BENCH_DIR / "results" / f"{source[6:]}.json"
        v = json.loads(path.read_text())
    else:
        path = paths.REPO_ROOT / "figures" / "values" / f"{source}.json"
        v = json.loads(path.read_text())["values"]
    for part in key.split("/"):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def printed(check) -> str:
    _, source, key, fmt, *scale = check
    v = _value(source, key)
    return fmt.format(v * scale[0] if scale else v)


# the README and what it points to: the results (docs/results.md) and the record of past full runs
README = "\n".join((paths.REPO_ROOT / f).read_text() for f in ("README.md", "docs/results.md", "bench/notes/full_runs.md"))


@pytest.mark.parametrize("check", CHECKS, ids=[f"{c[1]}:{c[2]}" for c in CHECKS])
def test_readme_quotes_the_recorded_value(check):
    section = _section(README, check[0])
    assert printed(check) in section, (f"README section {check[0]!r} should quote {check[1]} {check[2]} as "
                                       f"{printed(check)!r}")


def _drift_counts(run: str) -> tuple[set[str], dict[str, tuple[int, int]]]:
    """What a full run's paragraph says of its drift: the notebooks "within every tolerance" and, for
    the others, "NN (outside of values)", read from its "Against the committed values: ..." sentence."""
    text = _section(README, SEQ)
    said = text[text.index(f"`bench/results/{run[6:]}.json`"):]
    said = re.search(r"Against\s+the committed values:(.*?)within every tolerance;(.*?)the same kinds", said, re.S)
    within = set()
    for a, b in re.findall(r"\b(\d\d)(?:-(\d\d))?\b", said.group(1)):
        within |= {f"{n:02d}" for n in range(int(a), int(b or a) + 1)}
    return within, {nb: (int(o), int(v)) for nb, o, v in re.findall(r"\b(\d\d) \((\d+) of (\d+)\)", said.group(2))}


@pytest.mark.parametrize("run", [X4C_GPU, X4D_GPU])
def test_a_runs_drift_sentence_quotes_every_notebook_as_recorded(run):
    within, counts = _drift_counts(run)
    drift = _value(run, "drift_against_committed")
    assert within.isdisjoint(counts) and within | set(counts) == set(drift)
    assert all(drift[nb]["outside_tolerance"] == 0 for nb in within), within
    assert counts == {nb: (drift[nb]["outside_tolerance"], drift[nb]["values"]) for nb in counts}


def test_the_check_fails_when_a_quoted_number_drifts():
    check = (P11, "11_deepsdf.full", "full/fscore", "{:.3f}")
    quoted = printed(check)
    drifted = README.replace(quoted, f"{float(quoted) + 0.001:.3f}")
    assert quoted in _section(README, P11) and quoted not in _section(drifted, P11)


def test_every_section_named_exists():
    for heading in {c[0] for c in CHECKS}:
        assert re.search("^" + re.escape(heading), README, re.M), heading


def _occupied(spans) -> float:
    """Seconds covered by the union of (start, end) spans: a GPU's occupied time."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return total


@pytest.mark.parametrize("source", [FULL_GPU, H100_GPU, X2_GPU, X4_GPU, X4B_GPU, X4C_GPU])
def test_the_committed_full_sequence_ran_every_gpu_notebook(source):
    """The runs the record calls complete: every GPU notebook finished in some job, and the GPU time is each
    GPU's occupied time (the union of its jobs' spans) plus the rebuild."""
    from sdfnets.repro import workflow

    run = _value(source, "jobs")
    finished = {nb for j in run for nb, r in j.get("notebooks", {}).items() if r["status"] == "ran"}
    assert finished == set(workflow.notebooks()) - {"01", "13"}  # the wave scheduler's jobs: all but 01 and 13
    assert _value(source, "complete") is True
    for g, seconds in _value(source, "gpu_occupied_seconds").items():
        spans = [(j["start_s"], j["end_s"]) for j in run if str(j.get("gpu")) == g]
        assert abs(_occupied(spans) - seconds) < 0.5
    occupied = sum(_value(source, "gpu_occupied_seconds").values())
    assert abs(occupied + run[0]["seconds"] - _value(source, "gpu_seconds")) < 0.5
    assert _value(source, "gpu_minutes") == round(_value(source, "gpu_seconds") / 60, 1)


def test_the_table_of_full_runs_names_each_results_files_commit_and_cards():
    """Each row of the overview of full runs: the commit, the cards and the finished flag its results file records."""
    rows = [r for r in _section(README, SEQ).splitlines() if re.match(r"^\| [0-9a-f]{7} \| \d (H100|H200) \|", r)]
    assert len(rows) == 10
    for row in rows:
        commit, node, _, _, finished, results = [c.strip() for c in row.strip("|").split("|")]
        run = json.loads((paths.BENCH_DIR / "results" / results.strip("`")).read_text())
        assert run["commit"].startswith(commit) and node.split()[1] in run["device"], row
        assert (finished == "yes") == bool(run.get("complete")), row
