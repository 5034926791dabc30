#!/usr/bin/env bash
# Run a full-scale job on a GPU node without network access, from the repository root:
#   bash scripts/gpu_job.sh [COMMAND ...]
# sets up the environment (scripts/gpu_env.sh), rebuilds the full-scale dataset from the
# committed corpus pack with every core, then runs COMMAND if given, e.g.
#   bash scripts/gpu_job.sh python3 -m sdfnets.cli figures --scale full --only 11
# BUILD_ARGS=--no-renders skips the renders (phase 11 training needs the SDF samples only).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
python3 -m sdfnets.cli data build --from-pack --scale full --workers "${WORKERS:-$(nproc)}" ${BUILD_ARGS:-}
if [ $# -gt 0 ]; then "$@"; fi
