#!/usr/bin/env bash
# onnx-lrp audit with GNU parallel: N shards as N jobs (here on this machine; with parallel's --sshlogin on
# several, over shared storage), then the merge. The one-liner, for N = 4:
#   parallel -j 4 npx onnx-lrp audit MODEL FOLDER --out OUT --shard {}/4 --quiet ::: 0 1 2 3 && npx onnx-lrp merge OUT
# On one machine, `onnx-lrp audit … --workers 4` does the same without parallel. As a script:
#   bash parallel.sh MODEL FOLDER OUT [N]
set -euo pipefail
MODEL=${1:?usage: parallel.sh MODEL FOLDER OUT [N]}
FOLDER=${2:?usage: parallel.sh MODEL FOLDER OUT [N]}
OUT=${3:?usage: parallel.sh MODEL FOLDER OUT [N]}
N=${4:-4}
CLI=${ONNX_LRP:-npx onnx-lrp}
parallel --halt now,fail=1 -j "$N" $CLI audit "$MODEL" "$FOLDER" --out "$OUT" --shard "{}/$N" --quiet ::: $(seq 0 $((N - 1))) && $CLI merge "$OUT"
