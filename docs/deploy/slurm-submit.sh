#!/usr/bin/env bash
# Queues the audit array (slurm-array.sh, N tasks) and the merge, which starts when every task succeeded:
#   bash slurm-submit.sh MODEL FOLDER OUT [N]
set -euo pipefail
MODEL=${1:?usage: slurm-submit.sh MODEL FOLDER OUT [N]}
FOLDER=${2:?usage: slurm-submit.sh MODEL FOLDER OUT [N]}
OUT=${3:?usage: slurm-submit.sh MODEL FOLDER OUT [N]}
N=${4:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
jobid=$(sbatch --parsable --array="0-$((N - 1))" "$HERE/slurm-array.sh" "$MODEL" "$FOLDER" "$OUT")
sbatch --parsable --dependency="afterok:${jobid%%;*}" --job-name=onnx-lrp-merge --output=onnx-lrp-merge-%j.log \
  --wrap="${ONNX_LRP:-npx onnx-lrp} merge '$OUT'"
