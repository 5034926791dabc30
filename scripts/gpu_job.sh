#!/usr/bin/env bash
# Every figure at full scale on a GPU node without network access, from the repository root:
#   [ONLY=11] bash scripts/gpu_job.sh [SNAKEMAKE ARGS ...]     e.g.  ONLY=11 bash scripts/gpu_job.sh -n
# sets up the environment (scripts/gpu_env.sh) and runs the figure workflow (workflow/Snakefile) on every
# GPU and core of the node, with the script engine (no Jupyter kernel there) and Snakemake's greedy
# scheduler (its ILP solver does not travel). Run it again after a stop: it continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
python3 -m snakemake -s workflow/Snakefile --cores all --scheduler greedy --resources gpu="${GPUS:-0}" \
  --rerun-incomplete --keep-incomplete --rerun-triggers mtime \
  --config scale=full gpus="${GPUS:-0}" engine=script ${ONLY:+only=$ONLY} "$@"
python3 -m sdfnets.repro.workflow drift --scale full || true
