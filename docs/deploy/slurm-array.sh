#!/usr/bin/env bash
# onnx-lrp audit as a Slurm job array: task I runs shard I of N (--shard auto/N reads SLURM_ARRAY_TASK_ID).
# Submit it with slurm-submit.sh, which also queues the merge after every task succeeded, or alone:
#   sbatch --array=0-3 slurm-array.sh MODEL FOLDER OUT
# The array must be numbered 0..N-1. MODEL, FOLDER and OUT on storage every node sees. A task that is requeued
# or rerun resumes its shard. ONNX_LRP: how to run the CLI (default: npx onnx-lrp, from a checkout or an
# install of onnx-lrp; or e.g. "apptainer exec onnx-lrp.sif onnx-lrp" for the Docker image).
#SBATCH --job-name=onnx-lrp-audit
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=04:00:00
#SBATCH --output=onnx-lrp-audit-%A_%a.log
set -euo pipefail
MODEL=${1:?usage: slurm-array.sh MODEL FOLDER OUT}
FOLDER=${2:?usage: slurm-array.sh MODEL FOLDER OUT}
OUT=${3:?usage: slurm-array.sh MODEL FOLDER OUT}
N=${SLURM_ARRAY_TASK_COUNT:?run as a Slurm array: sbatch --array=0-3 slurm-array.sh MODEL FOLDER OUT}
# --threads: the task's CPUs (Slurm sets SLURM_CPUS_PER_TASK from --cpus-per-task), not every core of the node
${ONNX_LRP:-npx onnx-lrp} audit "$MODEL" "$FOLDER" --out "$OUT" --shard "auto/$N" ${SLURM_CPUS_PER_TASK:+--threads "$SLURM_CPUS_PER_TASK"} --quiet
