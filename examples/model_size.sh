#!/usr/bin/env bash
# The model-size study: R and categorization accuracy against hidden width, from the sweep spec
# examples/model_size.toml (a reduced digits grid), then the chart.
#
#   examples/model_size.sh [DATASET] [actcode sweep options...]
#   examples/model_size.sh mnist --jobs 4                 # MNIST from $ACTCODE_DATA
#   examples/model_size.sh digits --grid width=4,16,64    # any option of actcode sweep
#
# The study's full grids are specs too: actcode sweep examples/paper/mnist_model_size.toml --executor slurm
# The plain-bash way (no sweep), one `actcode train` per run, JOBS at a time:
#   for s in 0 1; do for w in 1 2 4 8 16 32 64; do echo --width $w --seed $s --epochs 30 -o runs; done; done \
#     | xargs -P 2 -L 1 actcode -q train | actcode -q extract | actcode -q measure | actcode -q probe > codes.txt
set -euo pipefail
DATASET=${1:-digits}; shift || true
OUT=${OUT:-out/model_size-$DATASET}
ACTCODE=${ACTCODE:-actcode}
mkdir -p "$OUT"

$ACTCODE sweep "$(dirname "$0")/model_size.toml" --set "train.dataset=$DATASET" --out "$OUT" \
  --jobs "${JOBS:-2}" "$@" > "$OUT/codes.txt"
$ACTCODE chart curves --x width \
  --y 'redundancy_train+redundancy_test,kmeans_test+knn_test+logreg_test+accuracy_test' \
  -o "$OUT/model_size.png" < "$OUT/codes.txt"
