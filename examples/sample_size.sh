#!/usr/bin/env bash
# The sample-size study: R (train and test) and test accuracy against the training sample size n,
# from the sweep spec examples/sample_size.toml (a reduced digits grid), then the chart.
#
#   examples/sample_size.sh [DATASET] [actcode sweep options...]
#
# The study's full grids: examples/paper/{mnist,cifar10}_sample_size.toml.
set -euo pipefail
DATASET=${1:-digits}; shift || true
OUT=${OUT:-out/sample_size-$DATASET}
ACTCODE=${ACTCODE:-actcode}
mkdir -p "$OUT"

$ACTCODE sweep "$(dirname "$0")/sample_size.toml" --set "train.dataset=$DATASET" --out "$OUT" \
  --jobs "${JOBS:-2}" "$@" > "$OUT/codes.txt"
$ACTCODE chart curves --x sample_size --hue width \
  --y 'redundancy_train+redundancy_test,kmeans_test+knn_test+logreg_test+accuracy_test' \
  -o "$OUT/sample_size.png" < "$OUT/codes.txt"
